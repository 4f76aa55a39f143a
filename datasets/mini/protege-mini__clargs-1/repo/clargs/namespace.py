"""The result object returned by :meth:`Parser.parse`."""


class Namespace:
    """Attribute bag holding parsed option values and positionals."""

    def __init__(self, **values):
        self.positionals = []
        for key, value in values.items():
            setattr(self, key, value)

    def as_dict(self):
        return dict(vars(self))

    def __eq__(self, other):
        return isinstance(other, Namespace) and vars(self) == vars(other)

    def __repr__(self):
        items = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items()))
        return f"Namespace({items})"
