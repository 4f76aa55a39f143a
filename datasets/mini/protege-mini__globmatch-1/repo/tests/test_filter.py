from globmatch import PathFilter


def test_last_rule_wins():
    f = PathFilter(["src/**", "!src/**/*.pyc", "src/keep/*.pyc"])
    assert f.selects("src/a/b.py")
    assert not f.selects("src/a/b.pyc")
    assert f.selects("src/keep/x.pyc")
    assert not f.selects("README.md")


def test_basename_rules_apply_everywhere():
    f = PathFilter(["!*.log"], default=True)
    assert not f.selects("var/app/debug.log")
    assert f.selects("var/app/debug.txt")


def test_comments_and_blank_lines():
    f = PathFilter(["# a comment", "", "*.md"])
    assert len(f.rules) == 1
    assert f.apply(["x.md", "y.rst", "docs/z.md"]) == ["x.md", "docs/z.md"]


def test_anchored_rule():
    f = PathFilter(["/build/*"])
    assert f.selects("build/out.o")
    assert not f.selects("src/build/out.o")
