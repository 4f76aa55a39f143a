"""Place several blocks of text side by side."""

from .wrap import wrap


def columns(texts, widths, gutter=2):
    """Wrap each text to its column width and print the columns side by side.

    Returns a list of lines.  Shorter columns are padded with blanks.
    """
    if len(texts) != len(widths):
        raise ValueError("need exactly one width per text")
    wrapped = [wrap(t, w) if t else [] for t, w in zip(texts, widths)]
    height = max((len(col) for col in wrapped), default=0)
    sep = " " * gutter
    rows = []
    for i in range(height):
        cells = []
        for col, w in zip(wrapped, widths):
            cells.append((col[i] if i < len(col) else "").ljust(w))
        rows.append(sep.join(cells).rstrip())
    return rows
