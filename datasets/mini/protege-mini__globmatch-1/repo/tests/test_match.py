import pytest

from globmatch import escape, filter_paths, match, translate
from globmatch.translate import PatternError


@pytest.mark.parametrize(
    "pattern,path",
    [
        ("*.py", "setup.py"),
        ("src/*.py", "src/main.py"),
        ("file?.txt", "file1.txt"),
        ("[abc]x", "bx"),
        ("[!abc]x", "dx"),
        ("[a-c]*", "cat"),
        ("**/*.py", "a/b/c.py"),
        ("src/**/*.py", "src/pkg/mod.py"),
        ("docs/**", "docs/a/b/index.md"),
        ("a\\*b", "a*b"),
    ],
    ids=["star", "dir-star", "question", "class", "negated-class", "range", "globstar",
         "globstar-middle", "globstar-tail", "escaped-star"],
)
def test_matches(pattern, path):
    assert match(pattern, path)


@pytest.mark.parametrize(
    "pattern,path",
    [
        ("*.py", "src/main.py"),
        ("file?.txt", "file/.txt"),
        ("[!abc]x", "ax"),
        ("[!a]x", "/x"),
        ("src/**/*.py", "lib/x.py"),
        ("a\\*b", "axxb"),
        ("[abc", "a"),
    ],
    ids=["star-no-slash", "question-no-slash", "negated-class", "negated-class-no-slash",
         "other-root", "escaped-star", "unclosed-class"],
)
def test_non_matches(pattern, path):
    assert not match(pattern, path)


def test_unclosed_bracket_is_literal():
    assert match("[abc", "[abc")


def test_normalization():
    assert match("src/*.c", "./src//main.c")
    assert match("src/*.c", "src\\util.c")


def test_ignore_case():
    assert match("*.JPG", "photo.jpg", ignore_case=True)
    assert not match("*.JPG", "photo.jpg")


def test_escape_roundtrip():
    name = "weird[1]*?.txt"
    assert match(escape(name), name)
    assert not match(escape(name), "weird1x.txt")


def test_dangling_backslash():
    with pytest.raises(PatternError):
        translate("abc\\")


def test_filter_paths_keeps_order():
    paths = ["b.py", "a.txt", "a.py"]
    assert filter_paths(paths, "*.py") == ["b.py", "a.py"]
