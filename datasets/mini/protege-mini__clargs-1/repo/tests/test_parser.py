import pytest

from clargs import MissingValue, Option, Parser, UnknownOption, UsageError


def make_parser():
    return Parser(
        "tool",
        [
            Option("verbose", short="v", flag=True),
            Option("output", short="o"),
            Option("jobs", short="j", type=int, default=1),
            Option("define", short="D", multiple=True),
            Option("color", flag=True, default=True),
            Option("level", choices=("low", "high")),
        ],
    )


def test_defaults():
    ns = make_parser().parse([])
    assert ns.verbose is False
    assert ns.jobs == 1
    assert ns.define == []
    assert ns.color is True
    assert ns.positionals == []


def test_long_options_both_spellings():
    ns = make_parser().parse(["--output", "a.txt", "--jobs=4"])
    assert ns.output == "a.txt"
    assert ns.jobs == 4


def test_short_options_and_bundling():
    ns = make_parser().parse(["-vo", "out", "-j8", "file"])
    assert ns.verbose is True
    assert ns.output == "out"
    assert ns.jobs == 8
    assert ns.positionals == ["file"]


def test_multiple_collects_values():
    ns = make_parser().parse(["-D", "A", "--define", "B", "-DC"])
    assert ns.define == ["A", "B", "C"]


def test_negated_flag():
    assert make_parser().parse(["--no-color"]).color is False


def test_double_dash_ends_options():
    ns = make_parser().parse(["-v", "--", "-x", "--output"])
    assert ns.positionals == ["-x", "--output"]


def test_unknown_option():
    with pytest.raises(UnknownOption) as info:
        make_parser().parse(["--nope=3"])
    assert info.value.option == "--nope"


def test_missing_value():
    with pytest.raises(MissingValue):
        make_parser().parse(["--output"])


def test_flag_with_value_rejected():
    with pytest.raises(UsageError):
        make_parser().parse(["--verbose=yes"])


def test_choices_and_types_checked():
    with pytest.raises(UsageError):
        make_parser().parse(["--level=medium"])
    with pytest.raises(UsageError):
        make_parser().parse(["-j", "many"])


def test_positional_count_limits():
    p = Parser("cp", [], min_positionals=2, max_positionals=2)
    assert p.parse(["a", "b"]).positionals == ["a", "b"]
    with pytest.raises(UsageError):
        p.parse(["a"])
