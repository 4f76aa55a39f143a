import pytest

from semvertools import InvalidVersion, Version


def test_parse_components():
    v = Version.parse("v1.2.3-beta.1+build.7")
    assert (v.major, v.minor, v.patch) == (1, 2, 3)
    assert v.prerelease == ("beta", "1")
    assert v.build == ("build", "7")
    assert str(v) == "1.2.3-beta.1+build.7"


@pytest.mark.parametrize("text", ["1.2", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3+a..b", "1.2.3-a_b"])
def test_invalid_versions(text):
    with pytest.raises(InvalidVersion):
        Version.parse(text)


def test_release_sorts_after_prerelease():
    assert Version.parse("1.0.0-rc.1") < Version.parse("1.0.0")


def test_spec_example_ordering():
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
               "1.0.0-beta.2", "1.0.0-rc.1", "1.0.0"]
    shuffled = [ordered[i] for i in (3, 6, 0, 5, 2, 4, 1)]
    assert [str(v) for v in sorted(Version.parse(s) for s in shuffled)] == ordered


def test_build_metadata_ignored():
    assert Version.parse("1.0.0+a") == Version.parse("1.0.0+b")
    assert hash(Version.parse("1.0.0+a")) == hash(Version.parse("1.0.0"))


def test_compare_with_string():
    assert Version.parse("2.0.0") > "1.99.99"


def test_immutable():
    v = Version(1, 0, 0)
    with pytest.raises(AttributeError):
        v.major = 2
