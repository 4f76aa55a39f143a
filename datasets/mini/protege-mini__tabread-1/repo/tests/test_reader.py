import pytest

from tabread import TSV, CsvError, parse_rows


def test_simple_rows():
    assert parse_rows("a,b,c\n1,2,3\n") == [["a", "b", "c"], ["1", "2", "3"]]


def test_no_trailing_newline_and_crlf():
    assert parse_rows("a,b\r\nc,d") == [["a", "b"], ["c", "d"]]


def test_quoted_fields():
    text = 'name,note\n"Smith, J","said ""hi""\nand left"\n'
    assert parse_rows(text) == [["name", "note"], ["Smith, J", 'said "hi"\nand left']]


def test_empty_field_in_the_middle():
    assert parse_rows("a,,c\n") == [["a", "", "c"]]


def test_blank_lines_skipped():
    assert parse_rows("a\n\nb\n") == [["a"], ["b"]]


def test_tab_dialect():
    assert parse_rows("x\ty, z\n", TSV) == [["x", "y, z"]]


def test_unterminated_quote():
    with pytest.raises(CsvError) as info:
        parse_rows('a\n"open,\n')
    assert info.value.line == 3


def test_garbage_after_quote():
    with pytest.raises(CsvError):
        parse_rows('"a"b,c\n')
