import pytest

from engine.methods import METHODS
from engine.methods.catalog import DESCRIPTIONS, describe


def test_every_method_has_one_line_and_no_other_keys():
    assert list(DESCRIPTIONS) == list(METHODS)  # same keys, in the picker's order
    for key, text in DESCRIPTIONS.items():
        assert text.strip() and "\n" not in text and len(text) < 130, key


def test_describe_names_the_valid_keys():
    assert "Defard" in describe("padim")
    with pytest.raises(ValueError, match="padim"):
        describe("nope")
