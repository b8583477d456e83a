"""The third named step of the question path: a :class:`~h2mt.query.prompt.Prompt` -> streamed text.

:func:`generate` prefills the prompt's token ids once on a :class:`~h2mt.backends.Backend` and
returns a :class:`Generation`: iterate it for text pieces; its ``stats`` fill in as it runs and
``text`` is complete when iteration ends. ``started`` is the generation call's
``perf_counter`` reading, which :meth:`h2mt.types.Accounting.from_run` uses for TTFT.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from ..backends.base import Backend
from ..config import PrefillConfig
from ..errors import BudgetError
from ..types import GenerationStats
from .prefill.base import prefill_strategy
from .prompt import Prompt, build_messages
from .task import resolve_task

__all__ = ["Generation", "generate"]


class Generation:
    """Text pieces of one answer as they are generated, with their :class:`GenerationStats`.

    ``on_end`` (optional) is called once with the whole text when the last piece has been
    consumed; ``ended`` is the ``perf_counter`` reading at that moment.
    """

    def __init__(
        self,
        pieces: Iterator[str],
        stats: GenerationStats,
        started: float,
        on_end: Callable[[str], None] | None = None,
    ) -> None:
        self._pieces = pieces
        self.stats = stats
        self.started = started
        self.ended: float | None = None
        self.text = ""
        self._on_end = on_end

    def __iter__(self) -> Iterator[str]:
        out: list[str] = []
        try:
            for piece in self._pieces:
                out.append(piece)
                yield piece
        finally:
            close = getattr(self._pieces, "close", None)
            if close is not None:
                close()
        self.ended = time.perf_counter()
        self.text = "".join(out)
        if self._on_end is not None:
            self._on_end(self.text)

    def run(self) -> str:
        """Consume every piece; returns the whole text."""
        for _ in self:
            pass
        return self.text


def _check_fixed_part(backend: Backend, prompt: Prompt, cfg: PrefillConfig) -> None:
    """Raise :class:`BudgetError` when the prompt without its routed context (question, system
    message, template) plus the reply cannot fit the window: no context budget can help then."""
    window = getattr(backend, "context_window", None)
    if not isinstance(window, int) or len(prompt.ids) + cfg.answer_tokens <= window:
        return  # fits (or the backend reports its own limit)
    fixed = len(prompt.ids)
    if prompt.sources:  # the same prompt with an empty context
        fixed = len(backend.chat_ids(build_messages(prompt.question, "", cfg)))
    if fixed + cfg.answer_tokens <= window:
        return  # a smaller context budget helps: the backend says so
    routed = bool(prompt.sources or prompt.question)
    what = "the question" if routed else "the messages"
    head = ("Without any context, the question (with the system message and chat template)" if routed
            else "The messages (in the chat template)")
    raise BudgetError(
        f"{head} take {fixed} tokens, plus {cfg.answer_tokens} new tokens, but {backend.name} accepts "
        f"{window}: shorten {what}{' or lower max_new_tokens' if fixed < window else ''}, "
        "or use a model with a larger context window."
    )


def generate(backend: Backend, prompt: Prompt, cfg: PrefillConfig) -> Generation:
    """Prefill ``prompt`` once on ``backend`` with the strategy that made it (``prompt.mode``,
    :mod:`h2mt.query.prefill`), templating its messages first if it has no ids yet, and stream
    the reply per ``cfg``. Raises :class:`~h2mt.errors.BudgetError` at once when the prompt does
    not fit the model's window (saying to shorten the question when even the prompt without its
    context does not fit). ``cfg.task="auto"`` is resolved for the prompt's question (answer
    length and stop strings of the task the prompt was made for)."""
    cfg = resolve_task(prompt.question, cfg)
    if not prompt.ids:
        prompt.ids = backend.chat_ids(prompt.messages)
    _check_fixed_part(backend, prompt, cfg)
    strategy = prefill_strategy(prompt.mode)
    stats = GenerationStats()
    started = time.perf_counter()
    return Generation(strategy.stream(backend, prompt, cfg, stats), stats, started)
