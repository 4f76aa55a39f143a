"""Exception types raised by dateparse."""


class DateParseError(ValueError):
    """The input text does not look like any supported date format."""

    def __init__(self, text, reason="unrecognised date format"):
        self.text = text
        self.reason = reason
        super().__init__(f"{reason}: {text!r}")


class InvalidDate(ValueError):
    """The text was understood, but names a day that does not exist."""

    def __init__(self, year, month, day, reason):
        self.year = year
        self.month = month
        self.day = day
        super().__init__(f"{year:04d}-{month:02d}-{day:02d}: {reason}")
