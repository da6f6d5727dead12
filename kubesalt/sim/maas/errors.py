"""The simulated region's API errors (status + body, as MAAS's piston handlers answer)."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, body, headers: dict | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def bad_request(message) -> ApiError:
    return ApiError(400, message)


def conflict(message: str) -> ApiError:
    """MAAS's NodeStateViolation / NodesNotAvailable: 409 with the message as text."""
    return ApiError(409, message)


def one(params: dict, key: str):
    """The first value of a form field (MAAS's ``request.data.get``), or None."""
    values = params.get(key)
    return values[0] if values else None
