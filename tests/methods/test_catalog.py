import pytest

from engine.methods import METHODS
from engine.methods.catalog import DESCRIPTIONS, ENSEMBLE, describe, fits_without_loss


def test_every_method_has_one_line_and_no_other_keys():
    assert list(DESCRIPTIONS) == list(METHODS)  # same keys, in the picker's order
    for key, text in DESCRIPTIONS.items():
        assert text.strip() and "\n" not in text and len(text) < 130, key


def test_describe_names_the_valid_keys():
    assert "Defard" in describe("padim")
    with pytest.raises(ValueError, match="padim"):
        describe("nope")


def test_without_loss_is_what_each_class_declares():
    """Read from the source without importing, it agrees with the imported class of every method."""
    assert [key for key in METHODS if fits_without_loss(key)] == ["padim", "patchcore"]
    for key in METHODS:
        assert fits_without_loss(key) is METHODS[key].without_loss, key
    assert not fits_without_loss(ENSEMBLE) and not fits_without_loss("nope")
