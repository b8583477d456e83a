"""A response that watches its client: when the client disconnects, the work behind it is cancelled at once.

:class:`WatchedResponse` runs a writer coroutine (which sends the response) beside a listener for
``http.disconnect``. A client that goes away mid-stream, or while its request waits for the
generator, cancels the writer: the generation behind it stops at its next token and its slot is
free for the next request (:mod:`h2mt.serve.limits`). An :class:`ApiError` raised before the
writer starts the response becomes an error response (429, 504, 400...); one raised after it is
sent as a final ``data: {"error": ...}`` event, as OpenAI's streams do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from starlette.responses import Response

from .asgi import Message, Receive, Scope, Send, send_error
from .openai_schema import SSE_DONE, ApiError, sse

__all__ = ["WatchedResponse", "ResponseWriter", "sse_start"]

log = logging.getLogger(__name__)


class ResponseWriter:
    """What a writer coroutine sends through: ``start`` once, then ``body`` pieces; errors are turned
    into the right reply by :class:`WatchedResponse`."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.event_stream = False

    async def start(self, status: int, headers: dict[str, str], *, event_stream: bool = False) -> None:
        """Send the status line and headers."""
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await self._send({"type": "http.response.start", "status": status, "headers": raw})
        self.started = True
        self.event_stream = event_stream

    async def body(self, data: bytes, *, more: bool = True) -> None:
        """Send a piece of the body (``more=False``: the last one)."""
        await self._send({"type": "http.response.body", "body": data, "more_body": more})


def sse_start(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Headers of a server-sent event stream."""
    return {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache",
            "x-accel-buffering": "no", **(extra or {})}


async def _disconnected(receive: Receive) -> None:
    """Return when the client has gone (``http.disconnect``)."""
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return


class WatchedResponse(Response):
    """Runs ``write(writer)`` and cancels it as soon as the client disconnects."""

    def __init__(self, write: Callable[[ResponseWriter], Awaitable[None]],
                 on_disconnect: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._write = write
        self._on_disconnect = on_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        writer = ResponseWriter(send)
        work = asyncio.ensure_future(self._run(writer))
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not work.done():  # the client left first (or this task is being cancelled)
                scope.setdefault("state", {})["h2mt_disconnected"] = True
                if self._on_disconnect is not None:
                    self._on_disconnect()
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gone
        if work.done() and not work.cancelled() and work.exception() is not None:
            raise work.exception()  # type: ignore[misc]

    async def _run(self, writer: ResponseWriter) -> None:
        try:
            await self._write(writer)
        except ApiError as e:
            await self._fail(writer, e)
        except OSError:  # the client went away while we were sending
            log.debug("client disconnected while sending")
        except Exception as e:  # noqa: BLE001 - reported to the client in OpenAI's shape, logged here
            log.exception("request failed")
            await self._fail(writer, ApiError(500, f"Internal error: {type(e).__name__}", type="server_error",
                                              code="internal_error"))

    @staticmethod
    async def _fail(writer: ResponseWriter, error: ApiError) -> None:
        with contextlib.suppress(OSError):
            if not writer.started:
                await send_error(writer._send, error)
            elif writer.event_stream:
                await writer.body(sse(error.body()) + SSE_DONE, more=False)
            else:
                await writer.body(b"", more=False)
