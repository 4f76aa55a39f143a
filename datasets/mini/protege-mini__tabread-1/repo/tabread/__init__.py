"""tabread: read and write delimiter-separated text.

>>> from tabread import parse_rows, format_row
>>> parse_rows('name,qty\n"Smith, J",3\n')
[['name', 'qty'], ['Smith, J', '3']]
>>> format_row(["a", "b,c", ""])
'a,"b,c",'
"""

from .dialect import Dialect, EXCEL, TSV
from .errors import CsvError, SchemaError
from .reader import parse_rows, read_dicts
from .schema import Column, Schema
from .writer import format_row, write_rows

__all__ = [
    "Column",
    "CsvError",
    "Dialect",
    "EXCEL",
    "Schema",
    "SchemaError",
    "TSV",
    "format_row",
    "parse_rows",
    "read_dicts",
    "write_rows",
]
__version__ = "1.0.0"
