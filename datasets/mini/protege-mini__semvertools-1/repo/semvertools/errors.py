"""Exceptions raised by semvertools."""


class InvalidVersion(ValueError):
    def __init__(self, text, reason="not a valid semantic version"):
        self.text = text
        super().__init__(f"{reason}: {text!r}")


class InvalidRange(ValueError):
    def __init__(self, text, reason="not a valid version range"):
        self.text = text
        super().__init__(f"{reason}: {text!r}")
