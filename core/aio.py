"""Async bridges: run blocking model work off the event loop, stream through a queue."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TypeVar

__all__ = ["run_blocking", "aiter_blocking"]

T = TypeVar("T")
_DONE = object()


async def run_blocking(fn: Callable[[], T]) -> T:
    """Await ``fn()`` run in a worker thread, so the event loop keeps serving."""
    return await asyncio.to_thread(fn)


async def aiter_blocking(make: Callable[[], Iterable[T]], deadline: float | None = None) -> AsyncIterator[T]:
    """Iterate a blocking iterable (e.g. token streaming) from a worker thread.

    Items arrive through an ``asyncio.Queue`` as the producer yields them; exceptions are
    re-raised in the consumer. Past ``deadline`` (the loop's ``time()``; None = none) the next
    wait raises :class:`TimeoutError`. However the consumer stops, the producer stops at its next
    item, a generator is closed in the thread that ran it (its own cleanup runs there), and this
    iterator returns only once the worker has finished.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    stop = threading.Event()

    def produce() -> None:
        items: Iterable[T] = ()
        try:
            items = make()
            for item in items:
                if stop.is_set():
                    break
                loop.call_soon_threadsafe(queue.put_nowait, item)
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            loop.call_soon_threadsafe(queue.put_nowait, e)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    async def next_item() -> object:
        if deadline is None:
            return await queue.get()
        async with asyncio.timeout_at(deadline):
            return await queue.get()

    worker = loop.run_in_executor(None, produce)
    try:
        while True:
            item = await next_item()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        await asyncio.shield(worker)
