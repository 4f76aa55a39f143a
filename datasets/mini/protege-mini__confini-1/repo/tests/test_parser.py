import pytest

from confini import ParseError, loads

SAMPLE = """
# global settings
[DEFAULT]
timeout = 30

[server]
host = example.org
port: 8080
Debug = yes
paths =
    /srv/a
    /srv/b

; another section
[client]
retries=3
"""


def test_sections_and_values():
    cfg = loads(SAMPLE)
    assert cfg.sections() == ["server", "client"]
    assert cfg.get("server", "host") == "example.org"
    assert cfg.getint("server", "port") == 8080
    assert cfg.getint("client", "retries") == 3


def test_keys_are_case_insensitive():
    cfg = loads(SAMPLE)
    assert cfg.getboolean("server", "DEBUG") is True


def test_defaults_apply_to_every_section():
    cfg = loads(SAMPLE)
    assert cfg.getint("client", "timeout") == 30
    assert "timeout" in cfg.keys("server")


def test_continuation_lines():
    cfg = loads(SAMPLE)
    assert cfg.getlist("server", "paths") == ["/srv/a", "/srv/b"]


def test_value_may_contain_the_other_delimiter():
    cfg = loads("[db]\nurl = postgres://db:5432/app\n")
    assert cfg.get("db", "url") == "postgres://db:5432/app"


def test_key_outside_section():
    with pytest.raises(ParseError) as info:
        loads("a = 1\n[s]\n")
    assert info.value.lineno == 1


def test_missing_delimiter():
    with pytest.raises(ParseError):
        loads("[s]\njust-a-word\n")
    cfg = loads("[s]\njust-a-word\n", allow_no_value=True)
    assert cfg.get("s", "just-a-word") is None
