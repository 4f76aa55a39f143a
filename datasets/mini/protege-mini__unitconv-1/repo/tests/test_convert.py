import pytest

from unitconv import DimensionMismatch, UnknownUnit, convert


@pytest.mark.parametrize(
    "value,src,dst,expected",
    [
        (1, "mi", "km", 1.609344),
        (12, "in", "ft", 1.0),
        (3, "ft", "m", 0.9144),
        (1, "lb", "g", 453.59237),
        (90, "min", "h", 1.5),
        (1, "gal", "L", 3.785411784),
    ],
    ids=["mi-km", "in-ft", "ft-m", "lb-g", "min-h", "gal-L"],
)
def test_linear_conversions(value, src, dst, expected):
    assert convert(value, src, dst) == pytest.approx(expected)


def test_celsius_kelvin():
    assert convert(0, "degC", "K") == pytest.approx(273.15)
    assert convert(300, "K", "degC") == pytest.approx(26.85)


def test_fahrenheit_to_kelvin():
    assert convert(32, "degF", "K") == pytest.approx(273.15)


def test_aliases_and_names():
    assert convert(2, "Kilometers", "meter") == 2000.0
    assert convert(1, "hour", "sec") == 3600.0


def test_dimension_mismatch():
    with pytest.raises(DimensionMismatch):
        convert(1, "kg", "m")


def test_unknown_unit():
    with pytest.raises(UnknownUnit):
        convert(1, "furlong", "m")


def test_rounding():
    assert convert(1, "in", "cm", ndigits=1) == 2.5
