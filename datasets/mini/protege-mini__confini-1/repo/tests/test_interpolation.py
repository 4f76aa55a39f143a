import pytest

from confini import ConfigError, InterpolationError, loads


def test_same_section_reference():
    cfg = loads("[paths]\nroot = /opt/app\nlogs = ${root}/logs\n")
    assert cfg.get("paths", "logs") == "/opt/app/logs"


def test_cross_section_and_chained_reference():
    cfg = loads("[a]\nx = 1\n[b]\ny = ${a:x}2\nz = ${y}3\n")
    assert cfg.get("b", "z") == "123"


def test_literal_dollar():
    cfg = loads("[p]\nprice = $$5\n")
    assert cfg.get("p", "price") == "$5"


def test_bad_reference():
    cfg = loads("[a]\nx = ${nope}\n")
    with pytest.raises(InterpolationError):
        cfg.get("a", "x")


def test_cycle_detected():
    cfg = loads("[a]\nx = ${y}\ny = ${x}\n")
    with pytest.raises(InterpolationError):
        cfg.get("a", "x")


def test_missing_option_and_default():
    cfg = loads("[a]\nx = 1\n")
    assert cfg.get("a", "y", default="d") == "d"
    with pytest.raises(ConfigError):
        cfg.get("a", "y")
