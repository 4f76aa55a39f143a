"""Exceptions raised by romanum."""


class RomanError(ValueError):
    """Base class for romanum errors."""


class OutOfRange(RomanError):
    def __init__(self, value, lo, hi):
        self.value = value
        super().__init__(f"{value} is outside the representable range {lo}..{hi}")


class InvalidNumeral(RomanError):
    def __init__(self, text, reason="not a valid Roman numeral"):
        self.text = text
        super().__init__(f"{reason}: {text!r}")
