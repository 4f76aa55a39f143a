import pytest

from unitconv import Quantity, UnitError, parse_quantity


def test_parse_and_convert():
    q = parse_quantity("12.5 km")
    assert q.value == 12.5
    assert q.unit.symbol == "km"
    assert q.to("m").value == pytest.approx(12500)


def test_parse_without_space():
    q = parse_quantity("250mL")
    assert str(q) == "250 mL"


def test_add_mixed_units():
    total = Quantity(1, "m") + Quantity(50, "cm")
    assert total.value == pytest.approx(1.5)
    assert total.unit.symbol == "m"


def test_adding_temperatures_is_refused():
    with pytest.raises(UnitError):
        Quantity(20, "degC") + Quantity(5, "degC")


def test_scalar_multiplication():
    assert (3 * Quantity(2, "kg")).value == 6


def test_parse_garbage():
    with pytest.raises(UnitError):
        parse_quantity("km 12")
