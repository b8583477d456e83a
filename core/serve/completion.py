"""One chat completion against an index: route, prompt, generate, answer, through the generator gate.

The named steps of the question path run as the facade defines them (:class:`h2mt.engine.H2MT`:
``route`` -> ``prompt`` -> ``generate`` -> ``clean_answer`` -> ``accounting``), with the request's
own budget, beam, task and sampling options; nothing here assembles a prompt or an accounting.
:func:`completion_events` yields a :class:`Routed` event, then the text pieces, then
:class:`Finished`; admission, timeouts and h2mt errors come out as :class:`ApiError`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, replace

from ..config import PrefillConfig
from ..engine import H2MT
from ..errors import BudgetError, ConfigError, H2MTError, InputError, ModelError
from ..query.answer import clean_answer
from ..query.prompt import Prompt
from ..types import Answer, RouteResult
from .limits import GenerationGate, QueueFull, RequestTimeout, iterate_in_thread
from .metrics import ServeMetrics
from .openai_schema import ApiError, ChatRequest

__all__ = ["Routed", "Finished", "completion_events", "prefill_config", "api_error_of"]


@dataclass
class Routed:
    """Routing is done and the prompt is built (the sources are known; nothing generated yet)."""

    route: RouteResult
    prompt: Prompt


@dataclass
class Finished:
    """The answer is complete: cleaned text, sources, accounting; ``queue_ms`` waited for the generator."""

    answer: Answer
    finish_reason: str
    queue_ms: float = 0.0


def prefill_config(base: PrefillConfig, req: ChatRequest) -> PrefillConfig:
    """``base`` with the request's task, generation limit and sampling options."""
    changes: dict[str, object] = {}
    if req.task is not None:
        changes["task"] = req.task
    if req.max_tokens is not None:
        changes["max_new_tokens"] = req.max_tokens
    if req.temperature is not None:
        changes["temperature"] = req.temperature
    if req.top_p is not None:
        changes["top_p"] = req.top_p
    if req.stop:
        changes["stop"] = (*base.stop, *req.stop)
    if req.seed is not None:
        changes["seed"] = req.seed
    return replace(base, **changes) if changes else base  # type: ignore[arg-type]


def api_error_of(e: H2MTError) -> ApiError:
    """An h2mt error as the HTTP error it means: the request's fault (400) or the server's (500)."""
    if isinstance(e, (BudgetError, ConfigError, InputError)):
        return ApiError(400, str(e), code=type(e).__name__)
    if isinstance(e, ModelError):
        return ApiError(500, str(e), type="server_error", code=type(e).__name__)
    return ApiError(500, str(e), type="server_error", code=type(e).__name__)


def _steps(eng: H2MT, req: ChatRequest, cfg: PrefillConfig, started: float) -> Iterator[object]:
    """The blocking question path (runs in a worker thread while the request holds the generator)."""
    r = eng.route(req.question, budget=req.budget, beam_width=req.beam)
    p = eng.prompt(req.question, r.kept, cfg)
    g = eng.generate(p, cfg)  # checks the window before anything is sent (a 400, not an error event)
    yield Routed(r, p)
    yield from g
    text = clean_answer(g.text, req.question, cfg)  # no leaked instruction, no echo
    answer = Answer(req.question, text, p.sources, eng.accounting(p, r, g, started), p.context)
    yield Finished(answer, g.stats.finish_reason or "stop")


async def completion_events(
    eng: H2MT, req: ChatRequest, gate: GenerationGate, timeout_s: float, metrics: ServeMetrics
) -> AsyncGenerator[Routed | str | Finished, None]:
    """The events of one completion; raises :class:`ApiError` (429 queue full, 504 timeout, 400/500
    from h2mt). Closing this iterator early stops the generation and frees the generator."""
    try:
        cfg = prefill_config(eng.config.prefill, req)
    except H2MTError as e:
        raise api_error_of(e) from e
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    started = time.perf_counter()  # TTFT counts the wait for the generator: the client waited too
    finished = False
    try:
        async with gate.slot(deadline) as waited:
            events = iterate_in_thread(lambda: _steps(eng, req, cfg, started), deadline)
            try:
                async for item in events:
                    if isinstance(item, Finished):
                        item.queue_ms = waited * 1000.0
                        finished = True
                        _count(metrics, item)
                    yield item  # type: ignore[misc]
            finally:
                await events.aclose()
    except QueueFull as e:
        metrics.rejected.inc()
        raise ApiError(429, str(e), type="rate_limit_error", code="rate_limit_exceeded",
                       headers={"Retry-After": str(e.retry_after)}) from e
    except RequestTimeout as e:
        metrics.cancelled.labels("timeout").inc()
        raise ApiError(504, f"The request took longer than the server's {timeout_s:g}s timeout ({e})",
                       type="timeout_error", code="timeout") from e
    except H2MTError as e:
        raise api_error_of(e) from e
    except (asyncio.CancelledError, GeneratorExit):
        if not finished:
            metrics.cancelled.labels("disconnect").inc()
        raise


def _count(metrics: ServeMetrics, item: Finished) -> None:
    acc = item.answer.accounting
    metrics.ttft.observe(acc.ttft_ms / 1000.0)
    metrics.prompt_tokens.inc(acc.prompt_tokens or 0)
    metrics.completion_tokens.inc(acc.completion_tokens or 0)
