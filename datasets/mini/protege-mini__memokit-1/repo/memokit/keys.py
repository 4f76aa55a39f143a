"""Build hashable cache keys from call arguments."""


class _KwdMark:
    """Sentinel separating positional from keyword arguments in a key."""

    __slots__ = ()

    def __repr__(self):
        return "<kwd-mark>"


KWD_MARK = _KwdMark()


class HashedKey(tuple):
    """A tuple that caches its own hash.

    Keys are hashed at least twice per lookup (once on ``get``, once on
    ``set``), so remembering the hash pays off for long argument lists.
    """

    def __new__(cls, items):
        self = super().__new__(cls, items)
        self._hashvalue = tuple.__hash__(self)
        return self

    def __hash__(self):
        return self._hashvalue


def make_key(args, kwargs, typed=False):
    """Return a hashable key for a call with *args* and *kwargs*.

    Two calls produce equal keys exactly when they would be treated as the
    same call: keyword arguments are order-independent, and with
    ``typed=True`` arguments of different types (``1`` and ``1.0``) are kept
    apart.
    """
    key = tuple(args)
    if kwargs:
        key += (KWD_MARK,)
        for name in sorted(kwargs):
            key += (kwargs[name],)
    if typed:
        key += tuple(type(v) for v in args)
        if kwargs:
            key += tuple(type(kwargs[name]) for name in sorted(kwargs))
    if len(key) == 1 and type(key[0]) in (int, str):
        return key[0]
    return HashedKey(key)
