"""Errors raised while parsing a command line."""


class UsageError(Exception):
    """The command line does not match the parser's specification."""


class UnknownOption(UsageError):
    def __init__(self, option):
        self.option = option
        super().__init__(f"unknown option: {option}")


class MissingValue(UsageError):
    def __init__(self, option):
        self.option = option
        super().__init__(f"option {option} requires a value")


class InvalidValue(UsageError):
    def __init__(self, option, value, reason):
        self.option = option
        self.value = value
        super().__init__(f"invalid value {value!r} for {option}: {reason}")
