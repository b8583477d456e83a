"""ASGI middleware: the request body limit, and the structured access log with the request metrics.

The access log is one JSON line per request on the ``h2mt.serve.access`` logger: time, method,
path, status, ms, model (and the question only with ``log_prompts``). Headers are never logged,
so neither is an API key.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from .asgi import ASGIApp, Message, Receive, Scope, Send, drain, header, send_error
from .metrics import ServeMetrics, endpoint_of
from .openai_schema import ApiError

__all__ = ["BodyLimit", "AccessLog", "access_log"]

access_log = logging.getLogger("h2mt.serve.access")


class _TooLarge(Exception):
    pass


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"The request body is larger than the server's limit of {limit} bytes",
                    code="request_too_large")


class BodyLimit:
    """ASGI middleware: a body over ``limit`` bytes gets 413 (by its Content-Length, or while it streams in)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = header(scope, b"content-length")
        if length is not None and (not length.strip().isdigit() or int(length) > self.limit):
            await drain(receive)
            await send_error(send, _too_large(self.limit))
            return
        seen = 0
        started = False

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watch)
        except _TooLarge:
            if started:
                raise
            await drain(receive)
            await send_error(send, _too_large(self.limit))


class AccessLog:
    """ASGI middleware: one JSON access-log line and the request metrics per HTTP request."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics, log_prompts: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.log_prompts = log_prompts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500  # unless a response starts

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            seconds = time.perf_counter() - t0
            endpoint = endpoint_of(scope["path"])
            self.metrics.requests.labels(endpoint, scope["method"], str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(seconds)
            access_log.info(json.dumps(self._line(scope, status, seconds), ensure_ascii=False))

    def _line(self, scope: Scope, status: int, seconds: float) -> dict[str, Any]:
        state = scope.get("state") or {}
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "ms": round(seconds * 1000.0, 1),
            "model": state.get("h2mt_model"),
        }
        for key in ("stream", "disconnected", "error"):
            if state.get(f"h2mt_{key}") is not None:
                line[key] = state[f"h2mt_{key}"]
        if self.log_prompts and state.get("h2mt_prompt") is not None:
            line["prompt"] = state["h2mt_prompt"]
        return line
