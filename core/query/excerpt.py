"""Excerpts: the sentences of a leaf that match the question, kept when the budget no longer fits it whole.

Budget selection (:func:`h2mt.query.select.select_leaves`) takes leaves best first; a leaf that
does not fit what is left used to be skipped for smaller, lower-ranked ones. With excerpts, such a
leaf first offers its matching units instead: the leaf is cut into units (sentences and lines), a
unit weighs the idf share of the question's terms it holds (:func:`h2mt.index.lexical.analyze`, the
tokenizer of the BM25 channel), and the excerpt keeps the units weighing at least ``min_share`` and
at least half of the leaf's best unit, best first while they fit, in text order, joined by
:data:`GAP`. A leaf without such a unit offers nothing (it is skipped as before).

Routing has no generator tokenizer, so an excerpt's tokens are estimated: the larger of the leaf's
own tokens-per-character rate and one token per word piece of up to six letters, digit or symbol,
plus :data:`MARGIN`; at most the leaf's own count.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..index.lexical import analyze, query_terms
from ..types import Node

if TYPE_CHECKING:
    from ..index.lexical import LexicalIndex

__all__ = ["QuestionTerms", "excerpt", "estimate_tokens", "GAP", "MARGIN"]

GAP = " … "  # between the kept units of one excerpt
MARGIN = 0.15  # share added to an excerpt's estimated tokens
_UNIT = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")
_PIECE = re.compile(r"\d|[^\W\d_]+|[^\w\s]|_")


@dataclass(frozen=True)
class QuestionTerms:
    """The question's content terms that occur in the index, with their idf."""

    idf: dict[str, float]

    @classmethod
    def of(cls, question: str, lexical: LexicalIndex) -> QuestionTerms:
        """The terms of :func:`query_terms` found in ``lexical``'s vocabulary."""
        vocab = lexical.vocab
        return cls({t: float(lexical.idf[vocab[t]]) for t in query_terms(question) if t in vocab})

    @property
    def total(self) -> float:
        """Sum of the idf of all terms."""
        return sum(self.idf.values())

    def share(self, text: str) -> float:
        """Idf share of the question's terms that ``text`` holds (0 when the question has none)."""
        total = self.total
        if total <= 0:
            return 0.0
        return sum(self.idf[t] for t in set(analyze(text)) if t in self.idf) / total


def _units(text: str) -> list[str]:
    return [u for u in (p.strip() for p in _UNIT.split(text)) if u]


def _pieces(text: str) -> int:
    n = 0
    for m in _PIECE.finditer(text):
        w = m.group()
        n += 1 + (len(w) - 1) // 6 if w.isalpha() else 1
    return n


def estimate_tokens(text: str, leaf: Node) -> int:
    """Generator tokens of ``text`` (a part of ``leaf``'s text), estimated from above (see the module)."""
    rate = leaf.tokens / max(len(leaf.text), 1)
    return min(leaf.tokens, math.ceil(max(rate * len(text), _pieces(text)) * (1 + MARGIN)))


def excerpt(leaf: Node, terms: QuestionTerms, room: int, min_share: float) -> Node | None:
    """``leaf`` cut to its units matching ``terms`` that fit ``room`` tokens (``excerpt=True``), or None
    when no unit weighs ``min_share`` or none fits."""
    units = _units(leaf.text)
    if len(units) < 2:
        return None
    shares = [terms.share(u) for u in units]
    best = max(shares)
    if best < min_share:
        return None
    floor = max(min_share, best / 2)
    order = sorted((i for i, s in enumerate(shares) if s >= floor), key=lambda i: (-shares[i], i))
    chosen: list[int] = []
    tokens = 0
    for i in order:
        text = GAP.join(units[j] for j in sorted([*chosen, i]))
        t = estimate_tokens(text, leaf)
        if t <= room:
            chosen.append(i)
            tokens = t
    if not chosen or tokens >= leaf.tokens:
        return None
    return replace(leaf, text=GAP.join(units[j] for j in sorted(chosen)), tokens=tokens, excerpt=True)
