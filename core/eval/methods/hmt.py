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
from typing import TYPE_CHECKING, Any

from ...types import GenerationStats
from .base import GroupView, MethodBase, MethodUnavailable, Selection, nodes_selection

if TYPE_CHECKING:
    from ..decoding import Decoding

__all__ = ["HMTMethod"]

QUESTION_TEMPLATE = ("Answer the question about the document you have just read. Only give the answer.\n"
                     "Question: {question}")


class HMTMethod(MethodBase):
    """Whole document through HMT, then the answer (generation only; its selection keeps everything)."""

    name = "hmt"
    budgeted, needs_encoder = False, False

    def __init__(self, weights: str | None = None) -> None:
        self.weights = weights
        self._hmt: Any = None

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """Every leaf, in document order: HMT reads them all."""
        t0 = time.perf_counter()
        return nodes_selection(view.index.leaves(), 0, t0)

    def _model(self, backend: Any) -> Any:
        if self._hmt is None:
            from ...hmt.artifact import load_hmt, shipped_weights_path

            model = getattr(backend, "model", None)
            if model is None:
                raise MethodUnavailable("hmt needs an in-process transformers generator (not a server)")
            try:
                self._hmt = load_hmt(model, self.weights or shipped_weights_path(model))
            except Exception as e:  # a mismatched backbone is reported, the benchmark goes on
                raise MethodUnavailable(f"no HMT memory for {backend.name}: {e}") from e
        return self._hmt

    def answer(self, sel: Selection, question: str, backend: Any,
               decoding: Decoding) -> tuple[str, GenerationStats]:
        """Read the selection's text into the memory, then answer with ``decoding`` (HMT decodes
        greedily, without a repetition penalty: any other setting is refused); stats as a backend's."""
        from ...hmt.qa import answer_with_memory

        if not decoding.greedy or decoding.repetition_penalty != 1.0:
            raise MethodUnavailable(f"hmt decodes greedily without a repetition penalty only, not {decoding}")
        hmt = self._model(backend)
        out = answer_with_memory(hmt, backend.tokenizer, sel.text, question,
                                 max_new_tokens=decoding.max_new_tokens, template=QUESTION_TEMPLATE)
        return out.text, out.stats
