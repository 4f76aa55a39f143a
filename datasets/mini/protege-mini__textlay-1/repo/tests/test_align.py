from textlay import align_lines, center, columns, justify


def test_center_puts_extra_space_right():
    assert center("ab", 5) == " ab  "


def test_justify_distributes_from_left():
    assert justify("a b c", 8) == "a   b  c"


def test_justify_single_word():
    assert justify("word", 6) == "word  "


def test_align_lines_justify_leaves_last_line():
    lines = align_lines(["aa bb", "cc"], 7, how="justify")
    assert lines == ["aa   bb", "cc     "]


def test_columns_side_by_side():
    rows = columns(["aa bb cc", "x"], [6, 3], gutter=1)
    assert rows == ["aa bb  x", "cc"]
