"""Query likelihood: the generator reads each kept leaf and scores how well it explains the question.

The kept leaves a brief answer reads are chosen by :func:`h2mt.query.answer.rank_passages`:
question words, the best BM25 sentence and the encoder's cosine, fused. Those signals miss a
passage that answers the question in other words than it asks in. The generator itself is a
better judge of that (query likelihood, as in unsupervised passage re-ranking): each passage is
scored by the mean log-probability of the question's tokens after it::

    Passage: <the leaf's heading path and text, cut to PASSAGE_WORDS words>
    A question this passage answers: <question>

A passage that answers the question makes the question's own words likely. Steps:

1. :func:`passage_prompt` — the prefix text for one passage;
2. :func:`likelihoods` — one batched forward per ``batch`` passages
   (``backend.continuation_logprobs``: left-padded, only the question's logits computed), the
   mean log-probability per passage and the milliseconds spent.

The cost is one forward over the passages' tokens (about a prefill of the kept text), which is
why :class:`h2mt.config.PrefillConfig` scores only the leaves a brief answer may read
(``rerank_leaves``). Measured in docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["PASSAGE_WORDS", "passage_prompt", "likelihoods", "can_score"]

PASSAGE_WORDS = 220  # the generator reads at most this many words of a passage before the question
_LEAD = "Passage: "
_ASK = "\nA question this passage answers:"


def passage_prompt(passage: str, words: int = PASSAGE_WORDS) -> str:
    """The text the generator reads before the question: ``passage`` cut to ``words`` words."""
    return _LEAD + " ".join(passage.split()[:words]) + _ASK


def can_score(backend: Any) -> bool:
    """Whether ``backend`` gives token log-probabilities (a local model, not a server)."""
    scores = callable(getattr(backend, "continuation_logprobs", None))
    return scores and not getattr(backend, "takes_messages", False)


def likelihoods(backend: Any, question: str, passages: Sequence[str], words: int = PASSAGE_WORDS,
                batch: int | None = None) -> tuple[list[float], float]:
    """The mean log-probability of ``question``'s tokens after each of ``passages``
    (:func:`passage_prompt`), higher = the passage explains the question better, and the
    milliseconds the forwards took (``batch`` passages per forward; ``None``: the backend's
    choice). ``backend`` needs ``continuation_logprobs`` and ``encode`` (:func:`can_score`)."""
    if not passages:
        return [], 0.0
    asked = backend.encode(" " + " ".join(question.split()))
    prefixes = [backend.encode(passage_prompt(p, words)) for p in passages]
    rows, ms = backend.continuation_logprobs(prefixes, asked, batch=batch)  # (P, Q)
    return [sum(r) / len(r) for r in rows], ms
