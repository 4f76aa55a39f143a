import pytest

from calcexpr import EvaluationError, ParseError, evaluate, parse
from calcexpr.nodes import to_sexpr


@pytest.mark.parametrize(
    "expr,expected",
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),
        ("2 ^ 3 ^ 2", 512),
        ("7 % 4 * 2", 6),
        ("8 / 2 / 2", 2),
        ("--3", 3),
        ("2 * -3", -6),
        ("2 ^ -1", 0.5),
        ("max(1, 5, 3) + abs(-2)", 7),
    ],
    ids=["mul-before-add", "parens", "left-assoc-sub", "right-assoc-pow", "mod-mul",
         "left-assoc-div", "double-neg", "neg-operand", "neg-exponent", "functions"],
)
def test_evaluate(expr, expected):
    assert evaluate(expr) == expected


def test_variables_and_constants():
    assert evaluate("2 * r * pi", {"r": 0.5}) == pytest.approx(3.14159265)


def test_tree_shape():
    assert to_sexpr(parse("a + b * c")) == "(+ a (* b c))"


def test_errors():
    with pytest.raises(EvaluationError):
        evaluate("1 / 0")
    with pytest.raises(EvaluationError):
        evaluate("nope + 1")
    with pytest.raises(EvaluationError):
        evaluate("sqrt(1, 2)")
    with pytest.raises(ParseError):
        evaluate("(1 + 2")
    with pytest.raises(ParseError):
        evaluate("1 2")


def test_deep_nesting_is_refused():
    with pytest.raises(ParseError):
        parse("(" * 200 + "1" + ")" * 200)
