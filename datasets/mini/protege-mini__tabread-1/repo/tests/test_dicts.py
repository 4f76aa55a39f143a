import pytest

from tabread import Column, CsvError, Schema, SchemaError, format_row, read_dicts, write_rows


def test_read_dicts_with_schema():
    schema = Schema([Column("qty", "int"), Column("ok", "bool"), Column("price", "float", required=False)])
    text = "item,price,qty,ok\nbolt,0.25,3,yes\nnut,,10,no\n"
    assert read_dicts(text, schema=schema) == [
        {"item": "bolt", "qty": 3, "ok": True, "price": 0.25},
        {"item": "nut", "qty": 10, "ok": False, "price": None},
    ]


def test_schema_errors_name_row_and_column():
    schema = Schema([Column("qty", "int")])
    with pytest.raises(SchemaError) as info:
        read_dicts("qty\n3\nmany\n", schema=schema)
    assert info.value.row == 3 and info.value.column == "qty"


def test_field_count_mismatch():
    with pytest.raises(CsvError):
        read_dicts("a,b\n1\n")


def test_writer_quotes_when_needed():
    assert format_row(["plain", "a,b", 'say "x"', " pad", None]) == 'plain,"a,b","say ""x"""," pad",'


def test_write_rows():
    assert write_rows([["a", "b"], ["1", "2"]]) == "a,b\n1,2\n"
