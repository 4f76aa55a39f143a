"""Serialize rows."""

from .dialect import EXCEL


def _quote(value, dialect):
    text = "" if value is None else str(value)
    q = dialect.quotechar
    needs = (dialect.delimiter in text or q in text or "\n" in text or "\r" in text
             or text != text.strip())
    if needs:
        return q + text.replace(q, q + q) + q
    return text


def format_row(values, dialect=EXCEL):
    """One record, without the line terminator."""
    return dialect.delimiter.join(_quote(v, dialect) for v in values)


def write_rows(rows, dialect=EXCEL):
    """All records, each followed by the dialect's line terminator."""
    return "".join(format_row(r, dialect) + dialect.lineterminator for r in rows)
