"""Optional API key: ``Authorization: Bearer KEY`` on every ``/v1/`` request, compared in constant time.

The key is never logged, echoed or put in an error message.
"""

from __future__ import annotations

import hmac

from .asgi import ASGIApp, Receive, Scope, Send, drain, header, send_error
from .openai_schema import ApiError

__all__ = ["BearerAuth", "key_matches"]


def key_matches(authorization: bytes | None, key: bytes) -> bool:
    """Whether the ``Authorization`` header value carries ``key`` as a Bearer token (constant time)."""
    given = authorization or b""
    scheme, _, token = given.partition(b" ")
    ok_scheme = scheme.lower() == b"bearer"
    same = hmac.compare_digest(token.strip(), key)  # always compared, whatever the scheme
    return ok_scheme and same


class BearerAuth:
    """ASGI middleware: a ``/v1/`` request without the right key gets 401 in OpenAI's error shape."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self._key = key.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            if not key_matches(header(scope, b"authorization"), self._key):
                await drain(receive)
                error = ApiError(401, "Missing or wrong API key: send 'Authorization: Bearer <key>'",
                                 type="authentication_error", code="invalid_api_key",
                                 headers={"WWW-Authenticate": "Bearer"})
                await send_error(send, error)
                return
        await self.app(scope, receive, send)
