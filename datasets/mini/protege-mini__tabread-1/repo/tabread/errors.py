"""Exceptions raised by tabread."""


class CsvError(ValueError):
    def __init__(self, message, line):
        self.line = line
        super().__init__(f"line {line}: {message}")


class SchemaError(ValueError):
    def __init__(self, message, row=None, column=None):
        self.row = row
        self.column = column
        where = []
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
