import pytest

from romanum import OutOfRange, add, is_valid, sort_numerals, subtract


def test_add():
    assert add("XIV", "XXVI") == "XL"
    assert add("M", "CM", "XC", "IX") == "MCMXCIX"


def test_subtract():
    assert subtract("MMXXIV", "MCMXCIV") == "XXX"
    with pytest.raises(OutOfRange):
        subtract("X", "X")


def test_sort():
    assert sort_numerals(["X", "IX", "XI", "IV"]) == ["IV", "IX", "X", "XI"]


def test_is_valid():
    assert is_valid("MMXXIV")
    assert not is_valid("MMXXIIII")
    assert not is_valid(12)
