from semvertools import bump, max_satisfying, satisfies


def test_caret():
    assert satisfies("1.9.9", "^1.2.3")
    assert not satisfies("2.0.0", "^1.2.3")
    assert satisfies("0.2.5", "^0.2.3")
    assert not satisfies("0.3.0", "^0.2.3")


def test_tilde_and_partial():
    assert satisfies("1.2.9", "~1.2")
    assert not satisfies("1.3.0", "~1.2")
    assert satisfies("1.7.0", "1")


def test_alternatives():
    assert satisfies("3.1.0", "<2.0.0 || >=3.0.0")
    assert not satisfies("2.5.0", "<2.0.0 || >=3.0.0")


def test_prerelease_excluded_by_default():
    assert not satisfies("1.3.0-rc.1", "^1.2.0")
    assert satisfies("1.3.0-rc.1", ">=1.3.0-rc.0")
    assert satisfies("1.3.0-rc.1", "^1.2.0", include_prerelease=True)


def test_max_satisfying():
    assert str(max_satisfying(["1.2.0", "1.4.1", "2.0.0", "1.3.9"], "^1.2")) == "1.4.1"


def test_bump():
    assert str(bump("1.2.3", "minor")) == "1.3.0"
    assert str(bump("1.2.3", "prerelease")) == "1.2.4-rc.0"
    assert str(bump("1.2.4-rc.0", "prerelease")) == "1.2.4-rc.1"
    assert str(bump("2.0.0-rc.3", "major")) == "2.0.0"
