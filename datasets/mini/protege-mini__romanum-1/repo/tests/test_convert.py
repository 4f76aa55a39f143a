import pytest

from romanum import InvalidNumeral, OutOfRange, from_roman, to_roman


@pytest.mark.parametrize(
    "number,numeral",
    [(1, "I"), (4, "IV"), (9, "IX"), (14, "XIV"), (40, "XL"), (90, "XC"), (400, "CD"),
     (1994, "MCMXCIV"), (2024, "MMXXIV"), (3888, "MMMDCCCLXXXVIII")],
)
def test_known_values(number, numeral):
    assert to_roman(number) == numeral
    assert from_roman(numeral) == number


def test_roundtrip_range():
    for n in range(1, 3000, 7):
        assert from_roman(to_roman(n)) == n


def test_lower_case_input():
    assert from_roman(" mcmxc ") == 1990


@pytest.mark.parametrize("bad", [0, -5, 4000, 10000])
def test_out_of_range(bad):
    with pytest.raises(OutOfRange):
        to_roman(bad)


def test_type_checked():
    with pytest.raises(TypeError):
        to_roman(True)
    with pytest.raises(TypeError):
        to_roman(3.0)


@pytest.mark.parametrize("bad", ["", "IIII", "VX", "IC", "MMMM", "ABC"])
def test_invalid_numerals(bad):
    with pytest.raises(InvalidNumeral):
        from_roman(bad)
