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


async def aiter_blocking(make: Callable[[], Iterable[T]]) -> AsyncIterator[T]:
    """Iterate a blocking iterable (e.g. token streaming) from a worker thread.

    Items arrive through an ``asyncio.Queue`` as the producer yields them; exceptions
    are re-raised in the consumer. If the consumer stops early, the producer stops at
    its next item.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in make():
                if stop.is_set():
                    break
                loop.call_soon_threadsafe(queue.put_nowait, item)
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            loop.call_soon_threadsafe(queue.put_nowait, e)

    worker = loop.run_in_executor(None, produce)
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        await worker
