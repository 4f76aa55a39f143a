import pytest

from textlay import fill, wrap


def test_short_text_is_one_line():
    assert wrap("hello world", 40) == ["hello world"]


def test_wraps_on_word_boundaries():
    text = "the quick brown fox jumps over the lazy dog"
    lines = wrap(text, 11)
    assert lines == ["the quick", "brown fox", "jumps over", "the lazy", "dog"]
    assert all(len(line) <= 11 for line in lines)


def test_collapses_whitespace():
    assert wrap("a   b\n\tc", 20) == ["a b c"]


def test_long_words_are_broken():
    assert wrap("abcdefghij", 4) == ["abcd", "efgh", "ij"]


def test_long_words_kept_when_asked():
    assert wrap("tiny enormousword", 6, break_long_words=False) == ["tiny", "enormousword"]


def test_hyphenated_word_breaks_after_hyphen():
    assert wrap("well-known", 6) == ["well-", "known"]


def test_indents_count_toward_width():
    lines = wrap("one two three four", 10, indent="* ", subsequent_indent="  ")
    assert lines == ["* one two", "  three", "  four"]


def test_indent_wider_than_width():
    with pytest.raises(ValueError):
        wrap("text", 2, indent="   ")


def test_fill_joins_lines():
    assert fill("aa bb cc", 6) == "aa bb\ncc"


def test_empty_text():
    assert wrap("", 10) == []
