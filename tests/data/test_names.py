"""Dataset names: what the importer accepts, and the internal folders of the data directory it keeps clear of."""

import pytest

from engine.data.names import check_dataset_name
from engine.data.types import DatasetError


@pytest.mark.parametrize(
    "name",
    [".workers", ".exports", ".hidden", ".import-x", ".upload-1", "..", "-rf", "_x", "", "a/b", "has space"]
    + ["x" * 65, "mnist", "MNIST", "mnist-noisy:3", "naïve"],
)
def test_bad_names_are_refused_naming_the_rule(name):
    with pytest.raises(DatasetError, match=r"dataset name .*(start with a letter or digit|built-in)"):
        check_dataset_name(name)


@pytest.mark.parametrize("name", ["bottle-line-3", "a", "A.b_c-1", "3", "x" * 64, "cable.v2"])
def test_good_names_pass(name):
    assert check_dataset_name(name) == name
