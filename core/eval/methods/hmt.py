"""The ``hmt`` benchmark method: the memory-token baseline of the H²MT paper.

HMT reads the **whole document** segment by segment into its memory (no KV cache survives a
segment, nothing is selected), then answers from the question segment: see
:func:`h2mt.hmt.qa.answer_with_memory`. Its cost does not depend on the budget (it runs once),
and its TTFT includes reading the document, which is the price HMT pays per question.

It needs an HMT memory trained for the worker's generator: the one shipped for the default
generator, or ``weights`` (a folder from ``h2mt hmt train``).
"""

from __future__ import annotations

import time
from typing import Any

from ...query.prompt import format_context
from ...types import GenerationStats
from .base import GroupView, MethodUnavailable, Selection

__all__ = ["HMTMethod"]

QUESTION_TEMPLATE = "Answer the question about the document you have just read. Only give the answer.\nQuestion: {question}"


class HMTMethod:
    """Whole document through HMT, then the answer (generation only; its selection keeps everything)."""

    name = "hmt"
    budgeted, needs_encoder = False, False

    def __init__(self, weights: str | None = None) -> None:
        self.weights = weights
        self._hmt: Any = None

    def prepare(self, view: GroupView) -> None:
        """Nothing to prepare per group."""

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """Every leaf, in document order: HMT reads them all."""
        t0 = time.perf_counter()
        leaves = view.index.leaves()
        text = format_context(leaves)
        return Selection(leaves, text, view.tokens_total, 0, (time.perf_counter() - t0) * 1000.0)

    def _model(self, backend: Any) -> Any:
        if self._hmt is None:
            from ...hmt.artifact import load_hmt, shipped_weights_path

            model = getattr(backend, "model", None)
            if model is None:
                raise MethodUnavailable("hmt needs an in-process transformers generator (not a server backend)")
            try:
                self._hmt = load_hmt(model, self.weights or shipped_weights_path(model))
            except Exception as e:  # a mismatched backbone is reported, the benchmark goes on
                raise MethodUnavailable(f"no HMT memory for {backend.name}: {e}") from e
        return self._hmt

    def answer(self, sel: Selection, question: str, backend: Any, max_new_tokens: int) -> tuple[str, GenerationStats]:
        """Read the selection's text into the memory, then answer greedily; stats as a backend's."""
        from ...hmt.qa import answer_with_memory

        hmt = self._model(backend)
        out = answer_with_memory(hmt, backend.tokenizer, sel.text, question, max_new_tokens=max_new_tokens,
                                 template=QUESTION_TEMPLATE)
        return out.text, out.stats
