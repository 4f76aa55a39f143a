"""Exceptions raised by moneta."""


class MoneyError(ValueError):
    """Base class for moneta errors."""


class UnknownCurrency(MoneyError):
    def __init__(self, code):
        self.code = code
        super().__init__(f"unknown currency code {code!r}")


class CurrencyMismatch(MoneyError):
    def __init__(self, a, b):
        super().__init__(f"cannot combine {a} and {b} amounts")
