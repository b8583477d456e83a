"""Raw ASGI helpers the middleware and the streamed responses share: an error reply, body draining."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .openai_schema import ApiError

__all__ = ["Scope", "Receive", "Send", "ASGIApp", "send_error", "drain", "header"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DRAIN_LIMIT = 64 << 20  # an oversized body is read and dropped up to this much, so the client sees the reply


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of request header ``name`` (lower case), or None."""
    for k, v in scope.get("headers", ()):
        if k.lower() == name:
            return bytes(v)
    return None


async def drain(receive: Receive, limit: int = DRAIN_LIMIT) -> None:
    """Read and drop the rest of the request body (up to ``limit`` bytes), so an early reply is not
    lost to a connection reset while the client is still sending."""
    seen = 0
    while seen <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def send_error(send: Send, error: ApiError) -> None:
    """Send ``error`` as a complete JSON response in OpenAI's error shape."""
    data = json.dumps(error.body()).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": data, "more_body": False})
