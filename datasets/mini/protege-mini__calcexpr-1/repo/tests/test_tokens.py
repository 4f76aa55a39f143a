import pytest

from calcexpr import TokenizeError, tokenize


def test_token_kinds_and_positions():
    toks = tokenize("3.5*foo(x, 2)")
    assert [(t.kind, t.text) for t in toks] == [
        ("number", "3.5"), ("op", "*"), ("name", "foo"), ("op", "("), ("name", "x"),
        ("op", ","), ("number", "2"), ("op", ")"), ("end", ""),
    ]
    assert toks[2].pos == 4


def test_double_star_alias():
    assert [t.text for t in tokenize("2 ** 3")] == ["2", "^", "3", ""]


def test_scientific_notation():
    assert tokenize("1e3 + .5E-1")[2].text == ".5E-1"


def test_bad_character():
    with pytest.raises(TokenizeError) as info:
        tokenize("1 + $")
    assert info.value.pos == 4
