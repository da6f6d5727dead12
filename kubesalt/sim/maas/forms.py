"""Form parsing of the simulated MAAS region: what a request's query string and body say.

MAAS (Django) reads parameters from the query string and from a form body, URL-encoded or
multipart; ``op`` selects the action. Plain functions over bytes and strings: no HTTP
server, no region state.
"""

from __future__ import annotations

import email.parser
import email.policy
import urllib.parse

from kubesalt.sim.maas.errors import ApiError
from kubesalt.sim.maas.errors import one as _one


def id_of(value) -> int:
    """A numeric id taken from a URL or a form: a value that is no number is a 404, as
    Django's URL resolver answers."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(404, "Not Found") from None


def parse_body(content_type: str, body: bytes) -> dict:
    """The form fields of a request body (``{name: [values]}``), URL-encoded or multipart."""
    if not body:
        return {}
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        params: dict[str, list] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:  # as Django's MultiPartParser: a part without a field name is skipped
                continue
            payload = part.get_payload(decode=True) or b""
            params.setdefault(name, []).append(payload.decode("utf-8", errors="replace"))
        return params
    return urllib.parse.parse_qs(body.decode(), keep_blank_values=True)


def api_params(query: str, content_type: str, body: bytes) -> tuple[str | None, dict]:
    """``(op, params)`` of an API request: the query string's fields, then the body's
    appended to them; ``op`` from the query string first, and left out of ``params``."""
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    body_params = parse_body(content_type, body)
    op = _one(params, "op") or _one(body_params, "op")
    for key, values in body_params.items():
        params.setdefault(key, []).extend(values)
    params.pop("op", None)
    return op, params
