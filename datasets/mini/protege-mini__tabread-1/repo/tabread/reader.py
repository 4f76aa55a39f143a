"""A character-level CSV state machine.

Quoted fields may contain delimiters, newlines and doubled quote characters
(``""`` stands for one ``"``).  Both ``\n`` and ``\r\n`` end a record.
"""

from .dialect import EXCEL
from .errors import CsvError

_START, _UNQUOTED, _QUOTED, _QUOTE_IN_QUOTED = range(4)


def parse_rows(text, dialect=EXCEL):
    """Parse *text* into a list of rows (lists of strings)."""
    rows = []
    row = []
    field = []
    state = _START
    line = 1
    delim, quote = dialect.delimiter, dialect.quotechar

    def end_field():
        row.append("".join(field))
        field.clear()

    def end_record():
        nonlocal row
        if field:
            end_field()
        if row or not dialect.skip_blank_lines:
            rows.append(row)
        row = []

    text = text.replace("\r\n", "\n")
    for ch in text:
        if state == _QUOTED:
            if ch == quote:
                state = _QUOTE_IN_QUOTED
            else:
                field.append(ch)
                if ch == "\n":
                    line += 1
            continue
        if state == _QUOTE_IN_QUOTED:
            if ch == quote:
                field.append(quote)
                state = _QUOTED
                continue
            if ch not in (delim, "\n"):
                raise CsvError(f"unexpected {ch!r} after closing quote", line)
            state = _UNQUOTED
        if ch == delim:
            end_field()
            state = _START
        elif ch == "\n":
            end_record()
            state = _START
            line += 1
        elif ch == quote and state == _START:
            state = _QUOTED
        else:
            field.append(ch)
            state = _UNQUOTED
    if state == _QUOTED:
        raise CsvError("unterminated quoted field", line)
    if field or row:
        end_record()
    return rows


def read_dicts(text, dialect=EXCEL, schema=None):
    """Parse text whose first row is a header; return a list of dicts.

    With a :class:`~tabread.schema.Schema`, values are converted and
    validated.
    """
    rows = parse_rows(text, dialect)
    if not rows:
        return []
    header, body = rows[0], rows[1:]
    out = []
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise CsvError(f"expected {len(header)} fields, found {len(row)}", number)
        record = dict(zip(header, row))
        out.append(schema.convert(record, number) if schema else record)
    return out
