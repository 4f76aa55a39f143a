import pytest

from throttle import KeyedLimiter, ManualClock, SlidingWindow, TokenBucket


def test_sliding_window_limit_and_expiry():
    clock = ManualClock()
    win = SlidingWindow(limit=2, period=10, clock=clock)
    assert win.try_acquire()
    clock.advance(4)
    assert win.try_acquire()
    assert not win.try_acquire()
    assert win.reset_at() == 10
    clock.set(10)
    assert win.remaining() == 1
    assert win.try_acquire()


def test_manual_clock_is_monotonic():
    clock = ManualClock(5)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(4)


def test_keyed_limiters_are_independent():
    clock = ManualClock()
    keyed = KeyedLimiter(lambda c: TokenBucket(rate=1, capacity=1, clock=c), clock=clock)
    assert keyed.try_acquire("alice")
    assert not keyed.try_acquire("alice")
    assert keyed.try_acquire("bob")
    assert len(keyed) == 2


def test_keyed_sweep_drops_idle_keys():
    clock = ManualClock()
    keyed = KeyedLimiter(lambda c: SlidingWindow(1, 1, clock=c), clock=clock, idle_ttl=60)
    keyed.try_acquire("a")
    clock.advance(30)
    keyed.try_acquire("b")
    clock.advance(31)
    assert keyed.sweep() == 1
    assert len(keyed) == 1
