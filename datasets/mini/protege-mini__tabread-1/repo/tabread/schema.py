"""Typed columns for :func:`tabread.read_dicts`."""

from dataclasses import dataclass
from typing import Any, Callable

from .errors import SchemaError

_MISSING = object()


def _parse_bool(text):
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "y"):
        return True
    if lowered in ("0", "false", "no", "n"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


CONVERTERS = {"str": str, "int": int, "float": float, "bool": _parse_bool}


@dataclass
class Column:
    name: str
    type: str = "str"
    required: bool = True
    default: Any = None

    def converter(self) -> Callable[[str], Any]:
        try:
            return CONVERTERS[self.type]
        except KeyError:
            raise SchemaError(f"unknown type {self.type!r}", column=self.name) from None


class Schema:
    def __init__(self, columns):
        self.columns = list(columns)

    def convert(self, record, row=None):
        out = dict(record)
        for col in self.columns:
            raw = record.get(col.name, _MISSING)
            if raw is _MISSING or raw == "":
                if col.required:
                    raise SchemaError("value is required", row, col.name)
                out[col.name] = col.default
                continue
            try:
                out[col.name] = col.converter()(raw)
            except ValueError as exc:
                raise SchemaError(str(exc), row, col.name) from None
        return out
