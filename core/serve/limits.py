"""Admission around the one shared generator: a bounded queue, a per-request deadline, prompt release.

:class:`GenerationGate` lets one request generate at a time and ``bound`` more wait; past that,
:meth:`GenerationGate.slot` raises :class:`QueueFull` at once (the server answers 429) instead of
accepting work it cannot do. :func:`iterate_in_thread` runs the blocking model work in a worker
thread and hands its items to the event loop; when the consumer stops (a client that disconnects,
a timeout) the worker stops at its next item, and the slot is released only once the worker has
really stopped, so two generations never share the model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import TypeVar

from ..aio import aiter_blocking

__all__ = ["GenerationGate", "QueueFull", "RequestTimeout", "iterate_in_thread"]

T = TypeVar("T")


class QueueFull(Exception):
    """Every place in the queue is taken; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the generator is busy and its queue is full; retry after {retry_after}s")
        self.retry_after = retry_after


class RequestTimeout(Exception):
    """The request ran past its deadline (waiting for the generator or generating)."""


class GenerationGate:
    """One generation at a time, at most ``bound`` requests waiting for it (event-loop side only)."""

    def __init__(self, bound: int, retry_after_s: int = 1) -> None:
        self.bound = bound
        self.retry_after_s = retry_after_s
        self.waiting = 0  # requests queued for the generator
        self.active = 0  # requests generating (0 or 1)
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def slot(self, deadline: float) -> AsyncIterator[float]:
        """Hold the generator inside the block (yields the seconds spent waiting for it).

        Raises :class:`QueueFull` at once when ``bound`` requests already wait, and
        :class:`RequestTimeout` when the generator is not free by ``deadline`` (``loop.time()``)."""
        if self.waiting + self.active >= 1 + self.bound:
            raise QueueFull(self.retry_after_s)
        loop = asyncio.get_running_loop()
        asked = loop.time()
        self.waiting += 1
        try:
            async with asyncio.timeout_at(deadline):
                await self._lock.acquire()
        except TimeoutError as e:
            raise RequestTimeout("timed out waiting for the generator") from e
        finally:
            self.waiting -= 1
        self.active += 1
        try:
            yield loop.time() - asked
        finally:
            self.active -= 1
            self._lock.release()


async def iterate_in_thread(make: Callable[[], Iterator[T]], deadline: float) -> AsyncGenerator[T, None]:
    """Items of the blocking iterator ``make()``, produced in a worker thread, until ``deadline``.

    :func:`h2mt.aio.aiter_blocking` with :class:`RequestTimeout` past ``deadline`` (``loop.time()``):
    however the consumer stops, the worker stops at its next item and this generator returns only
    after the worker has finished (the model is free again)."""
    try:
        async for item in aiter_blocking(make, deadline):
            yield item
    except TimeoutError as e:
        raise RequestTimeout("the request ran past its timeout") from e
