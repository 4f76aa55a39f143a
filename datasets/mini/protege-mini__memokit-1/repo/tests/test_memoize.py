from memokit import make_key, memoize


def test_results_are_cached():
    calls = []

    @memoize(maxsize=8)
    def double(x):
        calls.append(x)
        return 2 * x

    assert double(3) == 6
    assert double(3) == 6
    assert calls == [3]
    assert double.cache_info().hits == 1


def test_keyword_order_does_not_matter():
    @memoize()
    def area(width, height):
        return width * height

    assert area(width=2, height=3) == 6
    assert area(height=3, width=2) == 6
    assert area.cache_info().misses == 1


def test_typed_keeps_int_and_float_apart():
    @memoize(typed=True)
    def describe(x):
        return type(x).__name__

    assert describe(1) == "int"
    assert describe(1.0) == "float"


def test_bare_decorator_and_clear():
    @memoize
    def ident(x):
        return x

    ident(1)
    ident(1)
    assert ident.cache_info().hits == 1
    ident.cache_clear()
    assert ident.cache_info().currsize == 0


def test_exceptions_not_cached():
    attempts = []

    @memoize()
    def flaky(x):
        attempts.append(x)
        if len(attempts) == 1:
            raise RuntimeError("first call fails")
        return x

    try:
        flaky(5)
    except RuntimeError:
        pass
    assert flaky(5) == 5
    assert attempts == [5, 5]


def test_single_int_key_is_unwrapped():
    assert make_key((7,), {}) == 7
