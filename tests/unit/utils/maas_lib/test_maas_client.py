"""maas_lib.client: the OAuth1 PLAINTEXT header, URL handling, bounded retries."""

import io
import urllib.error
import urllib.parse

import pytest

from maas_lib import client

KEY = "abcdefghijklmnopqr:ABCDEFGHIJKLMNOPQR:0123456789abcdef0123456789abcdef"


def parse_header(header):
    assert header.startswith("OAuth ")
    pairs = [p.strip() for p in header[6:].split(",")]
    return {k: urllib.parse.unquote(v.strip('"')) for k, v in (p.split("=", 1) for p in pairs)}


def test_plaintext_signature_is_ampersand_token_secret():
    fields = parse_header(client.oauth_header(KEY, nonce="n1", timestamp=1700000000))
    assert fields["oauth_signature_method"] == "PLAINTEXT"
    assert fields["oauth_signature"] == "&0123456789abcdef0123456789abcdef"
    assert fields["oauth_consumer_key"] == "abcdefghijklmnopqr"
    assert fields["oauth_token"] == "ABCDEFGHIJKLMNOPQR"
    assert fields["oauth_timestamp"] == "1700000000" and fields["oauth_nonce"] == "n1"
    assert "%26" in client.oauth_header(KEY)  # the & is percent-encoded in the header


def test_fresh_nonce_per_request():
    a = parse_header(client.oauth_header(KEY))["oauth_nonce"]
    b = parse_header(client.oauth_header(KEY))["oauth_nonce"]
    assert a != b


@pytest.mark.parametrize("key", ["", "a:b", "a:b:c:d", "a::c", 12])
def test_bad_keys_rejected_without_echoing_them(key):
    with pytest.raises(ValueError) as err:
        client.split_api_key(key)
    assert "consumer_key:token_key:token_secret" in str(err.value)


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("http://10.0.0.5:5240/MAAS", "http://10.0.0.5:5240/MAAS/api/2.0/"),
        ("http://10.0.0.5:5240/MAAS/", "http://10.0.0.5:5240/MAAS/api/2.0/"),
        ("https://maas.example.com/MAAS/api/2.0/", "https://maas.example.com/MAAS/api/2.0/"),
        ("http://maas/MAAS/api/2.0", "http://maas/MAAS/api/2.0/"),
    ],
)
def test_api_root(url, root):
    assert client.api_root(url) == root


def test_repr_hides_key():
    assert "0123456789abcdef" not in repr(client.MaasClient("http://h/MAAS", KEY))


def test_lists_are_repeated_keys():
    c = client.MaasClient("http://h/MAAS", KEY)
    url = c.url("boot-resources/", "import", {"arches": ["amd64", "arm64"], "flag": True})
    assert url.endswith("?op=import&arches=amd64&arches=arm64&flag=true")


class FakeResponse(io.BytesIO):
    def __init__(self, body, content_type):
        super().__init__(body)
        self.headers = {"Content-Type": content_type}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def http_error(code, body=b"busy", headers=None):
    return urllib.error.HTTPError("http://h", code, "x", headers or {}, io.BytesIO(body))


def test_503_retried_with_bounded_backoff(monkeypatch):
    answers = [http_error(503), http_error(503), FakeResponse(b'"ok"', "application/json")]
    sleeps = []

    def fake_urlopen(req, timeout):
        assert req.headers["Authorization"].startswith("OAuth ")
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(client.urllib.request, "urlopen", fake_urlopen)
    c = client.MaasClient("http://h/MAAS", KEY, backoff=0.5, max_backoff=0.8, sleep=sleeps.append)
    assert c.get("maas/", op="get_config", name="x") == "ok"
    assert sleeps == [0.5, 0.8] and c.requests == 3


def test_retries_are_bounded_and_other_errors_not_retried(monkeypatch):
    calls = []

    def always(code):
        def fake(req, timeout):
            calls.append(code)
            raise http_error(code, b"No provided name!")

        return fake

    monkeypatch.setattr(client.urllib.request, "urlopen", always(503))
    c = client.MaasClient("http://h/MAAS", KEY, retries=3, sleep=lambda s: None)
    with pytest.raises(client.MaasApiError) as err:
        c.get("maas/")
    assert err.value.status == 503 and len(calls) == 4
    calls.clear()
    monkeypatch.setattr(client.urllib.request, "urlopen", always(400))
    with pytest.raises(client.MaasApiError, match="HTTP 400: No provided name!"):
        c.get("maas/")
    assert len(calls) == 1


def test_connection_errors_retried_then_reported(monkeypatch):
    def refused(req, timeout):
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    monkeypatch.setattr(client.urllib.request, "urlopen", refused)
    c = client.MaasClient("http://h/MAAS", KEY, retries=2, sleep=lambda s: None)
    with pytest.raises(client.MaasConnectionError, match="after 3 attempt"):
        c.get("version/")
    assert c.requests == 3


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ('"8.8.8.8 1.1.1.1"', "text/plain; charset=utf-8", "8.8.8.8 1.1.1.1"),
        ("false", "text/html; charset=utf-8", False),
        ("null", "text/plain", None),
        ("OK", "text/plain", "OK"),
        ("true", "application/json", "true"),  # already decoded: a JSON string stays a string
        (False, "application/json", False),
    ],
)
def test_json_value_whatever_the_content_type(body, content_type, expected):
    assert client.json_value(body, content_type) == expected
