import pytest

from throttle import ManualClock, TokenBucket
from throttle.bucket import ceil_seconds


def make(rate=1.0, capacity=3, **kw):
    clock = ManualClock()
    return clock, TokenBucket(rate=rate, capacity=capacity, clock=clock, **kw)


def test_starts_full_and_drains():
    clock, bucket = make()
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]


def test_refills_at_rate():
    clock, bucket = make(rate=2.0)
    for _ in range(3):
        bucket.try_acquire()
    clock.advance(0.5)
    assert bucket.try_acquire()
    assert not bucket.try_acquire()


def test_available_is_capped():
    clock, bucket = make()
    clock.advance(100)
    assert bucket.available == 3


def test_wait_time():
    clock, bucket = make(rate=0.5, capacity=2, initial=0)
    assert bucket.wait_time() == pytest.approx(2.0)
    clock.advance(1.0)
    assert bucket.wait_time(2) == pytest.approx(3.0)
    assert ceil_seconds(bucket.wait_time(2)) == 3


def test_multi_token_acquire():
    clock, bucket = make(capacity=5)
    assert bucket.try_acquire(5)
    assert not bucket.try_acquire(1)
    with pytest.raises(ValueError):
        bucket.try_acquire(6)


def test_invalid_construction():
    with pytest.raises(ValueError):
        TokenBucket(rate=0, capacity=1, clock=ManualClock())
    with pytest.raises(ValueError):
        TokenBucket(rate=1, capacity=0, clock=ManualClock())
