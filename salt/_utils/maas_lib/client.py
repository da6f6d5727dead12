"""The one HTTP client for the MAAS API 2.0: OAuth 1.0 PLAINTEXT over urllib.

The API key is ``consumer_key:token_key:token_secret``; the consumer secret is always
empty, so the PLAINTEXT signature is ``&<token_secret>`` (percent-encoded in the header).
Requests that fail with 503 or a connection error are retried with a bounded exponential
backoff. Nothing here logs or embeds the key in an exception message.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request

API_PATH = "api/2.0/"
RETRYABLE_STATUSES = (502, 503, 504)


class MaasApiError(Exception):
    """The API answered with a non-2xx status (after retries for 503)."""

    def __init__(self, method: str, url: str, status: int, body: str):
        self.method = method
        self.url = url
        self.status = status
        self.body = body
        super().__init__(f"{method} {url} returned HTTP {status}: {body.strip()[:500]}")


class MaasConnectionError(Exception):
    """The API could not be reached (after retries)."""


def split_api_key(api_key: str) -> tuple[str, str, str]:
    """Return (consumer_key, token_key, token_secret); ValueError names no part of the key."""
    if not isinstance(api_key, str):
        raise ValueError("the MAAS API key must be a string consumer_key:token_key:token_secret")
    parts = api_key.strip().split(":")
    if len(parts) != 3 or not all(parts):
        raise ValueError(
            "the MAAS API key must have the form consumer_key:token_key:token_secret "
            "(as printed by 'maas apikey --username <user>')"
        )
    return parts[0], parts[1], parts[2]


def api_root(maas_url: str) -> str:
    """Normalise a MAAS URL the way ``maas login`` does: end with ``/api/2.0/``."""
    if not isinstance(maas_url, str) or not maas_url.startswith(("http://", "https://")):
        raise ValueError(f"the MAAS URL must start with http:// or https:// (got {maas_url!r})")
    url = maas_url if maas_url.endswith("/") else maas_url + "/"
    if url.rstrip("/").rsplit("/", 2)[-2:-1] == ["api"]:
        return url
    return url + API_PATH


def oauth_header(api_key: str, nonce: str | None = None, timestamp: int | None = None) -> str:
    """Build the ``Authorization`` header value for one request (PLAINTEXT)."""
    consumer_key, token_key, token_secret = split_api_key(api_key)
    quote = lambda value: urllib.parse.quote(value, safe="~")  # noqa: E731
    params = {
        "oauth_version": "1.0",
        "oauth_signature_method": "PLAINTEXT",
        "oauth_consumer_key": consumer_key,
        "oauth_token": token_key,
        "oauth_signature": "&" + token_secret,
        "oauth_nonce": nonce or secrets.token_hex(16),
        "oauth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
    }
    return 'OAuth realm=""' + "".join(f', {k}="{quote(v)}"' for k, v in params.items())


def decode_body(content_type: str, body: bytes):
    """JSON bodies become Python data, anything else text."""
    text = body.decode("utf-8", errors="replace")
    if content_type.split(";", maxsplit=1)[0].strip() == "application/json" and text:
        return json.loads(text)
    return text


class MaasClient:
    """A signed client for one region URL and one API key.

    ``retries`` bounds the attempts after the first; the delay doubles from ``backoff`` up to
    ``max_backoff`` (a server's ``Retry-After`` is honoured up to that cap). ``requests``
    counts every HTTP request sent, retries included (the benchmark reads it).
    """

    def __init__(
        self,
        maas_url: str,
        api_key: str | None,
        *,
        timeout: float = 15.0,
        retries: int = 6,
        backoff: float = 0.25,
        max_backoff: float = 4.0,
        sleep=time.sleep,
    ):
        self.root = api_root(maas_url)
        if api_key is not None:
            split_api_key(api_key)
        self._api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self.requests = 0
        self.last_content_type = ""

    def __repr__(self):  # never show the key
        return f"MaasClient({self.root!r})"

    def url(self, path: str, op: str | None = None, params: dict | None = None) -> str:
        query = []
        if op:
            query.append(("op", op))
        for key, value in (params or {}).items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                query.append((key, _wire(item)))
        url = self.root + path.lstrip("/")
        return url + ("?" + urllib.parse.urlencode(query) if query else "")

    def request(self, method: str, path: str, op: str | None = None, params: dict | None = None):
        """Send one API call; return the decoded body. GET/DELETE put params in the query."""
        body = None
        headers = {"Accept": "application/json"}
        if method in ("GET", "DELETE"):
            url = self.url(path, op, params)
        else:
            url = self.url(path, op)
            pairs = []
            for key, value in (params or {}).items():
                for item in value if isinstance(value, (list, tuple)) else [value]:
                    pairs.append((key, _wire(item)))
            body = urllib.parse.urlencode(pairs).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        delay = self.backoff
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            if self._api_key is not None:
                headers["Authorization"] = oauth_header(self._api_key)
            req = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 (http URL)
            self.requests += 1
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 (http URL)
                    self.last_content_type = resp.headers.get("Content-Type", "")
                    return decode_body(self.last_content_type, resp.read())
            except urllib.error.HTTPError as err:
                text = err.read().decode("utf-8", errors="replace")
                if err.code not in RETRYABLE_STATUSES or last:
                    raise MaasApiError(method, url, err.code, text) from None
                wait = min(_retry_after(err.headers.get("Retry-After"), delay), self.max_backoff)
            except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
                if last:
                    reason = getattr(err, "reason", err)
                    raise MaasConnectionError(
                        f"cannot reach the MAAS API at {self.root} after {attempt + 1} "
                        f"attempt(s): {reason}"
                    ) from None
                wait = delay
            self._sleep(wait)
            delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, path, op=None, **params):
        return self.request("GET", path, op, params)

    def post(self, path, op=None, **params):
        return self.request("POST", path, op, params)

    def put(self, path, **params):
        return self.request("PUT", path, None, params)

    def delete(self, path, **params):
        return self.request("DELETE", path, None, params)


def _wire(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _retry_after(header: str | None, default: float) -> float:
    try:
        return max(float(header), 0.0) if header else default
    except ValueError:
        return default


def post_form(url: str, params: dict, timeout: float = 15.0) -> int:
    """An unsigned form POST (the login endpoint); returns the HTTP status only."""
    body = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(  # noqa: S310
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http URL)
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, OSError) as err:
        raise MaasConnectionError(f"cannot reach {url}: {getattr(err, 'reason', err)}") from None


def json_value(body, content_type: str):
    """A value MAAS sends as JSON text (``get_config``, ``is_importing``) whatever the
    content type: a text body is decoded too, so ``"8.8.8.8"`` never keeps its quotes and
    ``false`` never becomes a true string."""
    if (
        isinstance(body, str)
        and content_type.split(";", maxsplit=1)[0].strip() != "application/json"
    ):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body
