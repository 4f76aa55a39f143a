from clargs import Option, Parser, format_help


def test_help_lists_options():
    p = Parser(
        "tool",
        [Option("verbose", short="v", flag=True, help="talk more"), Option("jobs", type=int, default=2, help="workers")],
        description="Does things.",
    )
    text = format_help(p)
    assert text.splitlines()[0] == "usage: tool [options] ARGS..."
    assert "  -v, --verbose" in text
    assert "--jobs JOBS" in text
    assert "workers (default: 2)" in text
