from spanset import SpanSet, difference, intersection, union


def test_membership_and_length():
    s = SpanSet([(0, 5), (3, 8), (10, 12)])
    assert s.spans() == [(0, 8), (10, 12)]
    assert 7 in s and 8 not in s and 11 in s and -1 not in s
    assert s.total_length() == 10


def test_add_and_remove():
    s = SpanSet()
    s.add(0, 10)
    s.remove(3, 5)
    assert s.spans() == [(0, 3), (5, 10)]
    s.add(3, 5)
    assert s.spans() == [(0, 10)]


def test_gaps():
    s = SpanSet([(1, 3), (6, 8)])
    assert s.gaps() == [(3, 6)]
    assert s.gaps(0, 10) == [(0, 1), (3, 6), (8, 10)]


def test_set_operations():
    a = [(0, 10)]
    b = [(2, 4), (8, 12)]
    assert union([(0, 5)], [(3, 8), (10, 12)]) == [(0, 8), (10, 12)]
    assert intersection(a, b) == [(2, 4), (8, 10)]
    assert difference(a, b) == [(0, 2), (4, 8)]


def test_operators():
    a = SpanSet([(0, 4)])
    b = SpanSet([(2, 6)])
    assert (a | b).spans() == [(0, 6)]
    assert (a & b).spans() == [(2, 4)]
    assert (a - b).spans() == [(0, 2)]
