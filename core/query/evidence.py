"""The sentences of the kept text that match a question best: where its answer is stated.

A kept leaf of reference docs holds several entries or a table of several rows; the answer to
"which operator gives the floored quotient?" or "does list.sort() return the sorted sequence?" is
one sentence (or table cell) of it. :func:`rank_sentences` scores every sentence of the kept
leaves against the question with BM25 (``bm25s``, Lucene variant, ``k1=1.2, b=0.75``; question
words compared by their first five characters, :func:`h2mt.query.words.stems`, as
:func:`h2mt.query.answer.rank_passages` does), so that a short sentence naming the question's rare
words beats a long one naming its common ones.
:func:`evidence_sources` cuts the kept leaves down to their best sentences.

**A sentence read in its place** (the engine, ``task="auto"``): a sentence of reference docs often
names neither its subject nor its setting ("Display only stopped jobs." under ``jobs``'s ``-s``;
"Any tasks waiting on it will receive the BrokenBarrierError exception." under ``reset()``).
With ``contexts`` (for every sentence, the words that situate it: its section's heading and the
name of the entry it belongs to, :func:`h2mt.query.entries.sentence_contexts`), BM25 reads each
sentence with its context; with ``meaning`` (the cosine of each sentence, written
``"<context>: <sentence>"``, with the question, by the index's own encoder), the BM25 order and
the meaning order are fused by reciprocal rank (``1 / (SENTENCE_RRF_K + rank)`` summed). A
sentence's ``coverage`` is always that of its own words. Measured in docs/benchmarks.md: over
the 1,370 questions of sets 2–33 whose evidence the route keeps, the evidence sentence ranks
first for 0.415 of them against 0.338 for BM25 alone, and among the first three for 0.644
against 0.508.

So ranked, the kept text's own sentences answer an explanation question better than the small
generator does: a yes/no, "what happens...", "what does X do...", "what changes when...", "how
does / do I / can I..." or "what is the purpose / difference / effect of..." question
(:data:`PLACED_QUOTE_REASONS`; the last two since stop 51: over 85 such questions of sets 2-79 the
quotes were right 42 times against 26 for the generator's brief answers) is answered by
:func:`placed_quote`, the
:data:`PLACED_QUOTE_SENTENCES` best prose sentences quoted (no term line, heading or mere
cross-reference), best first, when the best one shares a word with the question
(:data:`PLACED_QUOTE_MIN_COVERAGE`: a floor on the share of the question words' weight it holds,
none since stop 49, and none for a "what does X do?" question since stop 50: below the former 0.15
the quotes were still right far more often than the generator or X's entry's opening sentences;
otherwise the question goes on as before). A generated "not
found" is replaced by such a quote only when its best sentence holds :data:`REPLACE_MIN_COVERAGE` of
the question (less: the kept text is about something else, and "not found" is the answer).

**Quoted answers** (``task="auto"``): a small model inverts behaviour statements ("Does
list.sort() return the sorted sequence?" -> "list.sort() returns the sorted sequence."; with the
evidence sentence alone in its context it still answers "Yes"), so a yes/no question about one
behaviour or a "what happens..." question (:data:`QUOTE_REASONS` of :func:`h2mt.query.task.choose_task`)
is answered with the documents' own sentence: :func:`evidence_quote` returns the best-matching
sentence when it holds at least :data:`QUOTE_MIN_COVERAGE` of the question words' weight, and the
engine shows it as the answer (no generation); otherwise the question is answered in the brief
layout as before. A comparison of two things ("are both...", "the same...") is a short question
(:mod:`h2mt.query.task`), never quoted.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from ..types import GenerationStats, ScoredNode
from .generate import Generation
from .words import stem_list, stems

__all__ = ["Sentence", "split_sentences", "with_text", "rank_sentences", "evidence_sources", "evidence_quote",
           "quote_generation", "quote_text", "placed", "placed_quote", "focus_sentences", "is_prose", "is_quotable",
           "quotable_sentences", "cut_to",
           "Meaning", "Rerank",
           "EVIDENCE_SENTENCES", "QUOTE_REASONS",
           "QUOTE_MIN_COVERAGE", "SENTENCE_RRF_K", "PLACED_QUOTE_REASONS", "PLACED_QUOTE_SENTENCES",
           "PLACED_QUOTE_MIN_COVERAGE", "REPLACE_MIN_COVERAGE"]

EVIDENCE_SENTENCES = 3  # evidence_sources keeps this many best-matching sentences
QUOTE_REASONS = ("yes-no", "what-happens")  # choose_task rules whose questions are answered by a quote
QUOTE_MIN_COVERAGE = 0.5  # a quoted sentence holds at least this share of the question words' weight
SENTENCE_RRF_K = 5  # rank_sentences' reciprocal-rank constant when BM25 and meaning are fused
# choose_task rules answered by placed_quote ("how" and "purpose": docs/benchmarks.md, stop 51)
PLACED_QUOTE_REASONS = ("yes-no", "what-happens", "what-does", "what-changes", "how", "purpose")
PLACED_QUOTE_SENTENCES = 3  # placed_quote quotes this many best sentences, best first (docs/benchmarks.md, stop 44)
# ...when the best holds this share of the question words' weight: any (it shares a word with the question). Below
# 0.15 (the floor before stop 49) the quotes were right 2.5 times as often as the generated answers (docs/benchmarks.md)
PLACED_QUOTE_MIN_COVERAGE = 0.0
# a generated "not found" (or a failed short answer, quote_retries) is replaced by a placed quote only when its best
# sentence holds this share of the question words' weight: less, and the kept text is about something else
REPLACE_MIN_COVERAGE = 0.15
_K1, _B = 1.2, 0.75  # BM25 (bm25s, Lucene variant) over the kept sentences
_WORDS = re.compile(r"\w+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\u2018'\"])")

_CODE = re.compile(r"::=|>>>")  # a grammar rule or a doctest: not a sentence to quote
_ELSEWHERE = re.compile(r"^\(?(?:see|refer to)\b", re.IGNORECASE)  # "See The Shopt Builtin...": no answer

Meaning = Callable[[Sequence[str]], Sequence[float]]
"""Texts -> the cosine of each text's embedding with the question's (the index's own encoder)."""

Rerank = Callable[[Sequence["Sentence"], Sequence[str]], Sequence[int]]
"""The sentences in the fused order and each one's context -> their new order (a permutation of
their indices, best first): a learned re-ranking (:mod:`h2mt.query.sentence_ranker`)."""


@dataclass(frozen=True)
class Sentence:
    """One sentence (or table cell, or line) of a kept leaf, with its BM25 score for a question."""

    leaf: int  # index of the leaf in the texts ranked
    index: int  # position of the sentence in the leaf's :func:`split_sentences`
    text: str
    score: float
    coverage: float  # share of the question words' weight (BM25 idf) the sentence contains
    context: str = ""  # the heading and entry name it was read with (rank_sentences' contexts), "" without


def split_sentences(text: str) -> list[str]:
    """``text`` in lines (a table's cells are lines in the parsed docs) and the lines in sentences."""
    return [u for line in text.splitlines() for u in _SENTENCE.split(line.strip()) if u.strip()]


def is_prose(unit: str) -> bool:
    """Whether a unit of :func:`split_sentences` reads as a sentence to quote: it ends like one and is
    not a grammar rule or a doctest (a term line, a heading, a table cell or a signature is not)."""
    return unit.rstrip()[-1:] in ".!?" and not _CODE.search(unit)


def is_quotable(unit: str) -> bool:
    """Whether a unit of :func:`split_sentences` can be quoted as an answer: prose (:func:`is_prose`)
    that says something itself, not a mere cross-reference ("See The Shopt Builtin, for...")."""
    return is_prose(unit) and not _ELSEWHERE.match(unit)


def with_text(src: ScoredNode, text: str) -> ScoredNode:
    """``src`` with its text replaced by ``text`` (a cut or a grown leaf) and its token count scaled
    by the change in length; its node id, path and score kept."""
    tokens = max(1, round(src.node.tokens * len(text) / max(1, len(src.node.text))))
    return ScoredNode(replace(src.node, text=text, tokens=tokens), src.score)


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


def placed(sentence: str, context: str) -> str:
    """A sentence as the meaning order reads it: ``"<context>: <sentence>"`` (the sentence alone
    without a context)."""
    return f"{context}: {sentence}" if context else sentence


def rank_sentences(question: str, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None,
                   meaning: Meaning | None = None, rerank: Rerank | None = None) -> list[Sentence]:
    """Every sentence of ``texts`` scored against ``question`` (BM25 over the sentences), best
    first; a tie goes to the sentence sharing more consecutive word pairs with the question, then
    keeps document order. Empty when there are no sentences or no question words.

    ``contexts[i][j]`` (optional) situates the ``j``-th sentence of ``texts[i]``
    (:func:`split_sentences`): BM25 reads the sentence followed by it. ``meaning`` (optional)
    scores every sentence, :func:`placed` in its context, by its cosine with the question; the
    order is then the reciprocal-rank fusion of the BM25 order and that one (module docstring);
    ``rerank`` (optional, with ``meaning``) then re-orders the fused order.
    ``score`` stays the BM25 score and ``coverage`` that of the sentence's own words."""
    asked = sorted(stems(question))
    units = [(i, j, u) for i, t in enumerate(texts) for j, u in enumerate(split_sentences(t))]
    if not units or not asked:
        return []
    where = [_context(contexts, i, j) for i, j, _ in units]
    own = [stem_list(u) for *_, u in units]
    read = [stem_list(f"{u} {c}") if c else w for (*_, u), c, w in zip(units, where, own, strict=True)]
    n = len(units)
    idf = {w: _idf(sum(w in s for s in own), n) for w in asked}
    total = sum(idf.values()) or 1.0
    scores = _bm25(asked, read)
    ranked = [Sentence(i, j, u, score, sum(idf[w] for w in asked if w in s) / total, c)
              for (i, j, u), s, score, c in zip(units, own, scores, where, strict=True)]
    pairs = _pairs(question)
    order = sorted(range(n), key=lambda k: (-ranked[k].score, -len(_pairs(ranked[k].text) & pairs)))
    if meaning is not None and n > 1:
        cosines = list(meaning([placed(u, c) for (*_, u), c in zip(units, where, strict=True)]))  # (n,)
        if len(cosines) != n:
            raise ValueError(f"meaning gave {len(cosines)} cosines for {n} sentences")
        by_meaning = sorted(range(n), key=lambda k: -float(cosines[k]))
        fused = [0.0] * n
        for ranking in (order, by_meaning):
            for rank, k in enumerate(ranking):
                fused[k] += 1.0 / (SENTENCE_RRF_K + rank)
        order = sorted(range(n), key=lambda k: -fused[k])  # stable: BM25 order breaks ties
        if rerank is not None:
            new = list(rerank([ranked[k] for k in order], [where[k] for k in order]))
            if sorted(new) != list(range(n)):
                raise ValueError(f"rerank gave {len(new)} indices that are not a permutation of {n} sentences")
            order = [order[i] for i in new]
    return [ranked[k] for k in order]


def _context(contexts: Sequence[Sequence[str]] | None, i: int, j: int) -> str:
    """``contexts[i][j]``, or "" when there is none."""
    if contexts is None or i >= len(contexts) or j >= len(contexts[i]):
        return ""
    return contexts[i][j]


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
    out = cut_to(sources, best)
    top = next(i for i, x in enumerate(out) if x.node.id == sources[best[0].leaf].node.id)
    return [x for i, x in enumerate(out) if i != top] + [out[top]]


def evidence_quote(question: str, sources: Sequence[ScoredNode],
                   min_coverage: float = QUOTE_MIN_COVERAGE) -> tuple[Sentence, ScoredNode] | None:
    """The sentence of the kept ``sources`` that answers ``question`` in the documents' words
    (:func:`rank_sentences`' best, when its ``coverage`` is at least ``min_coverage``) and its
    leaf cut down to that sentence; ``None`` when no sentence matches that well."""
    ranked = rank_sentences(question, [s.node.text for s in sources])
    if not ranked or ranked[0].score <= 0 or ranked[0].coverage < min_coverage:
        return None
    best = ranked[0]
    return best, with_text(sources[best.leaf], best.text)


def placed_quote(question: str, sources: Sequence[ScoredNode], contexts: Sequence[Sequence[str]] | None,
                 meaning: Meaning | None, k: int = PLACED_QUOTE_SENTENCES,
                 min_coverage: float = PLACED_QUOTE_MIN_COVERAGE,
                 rerank: Rerank | None = None) -> tuple[list[Sentence], list[ScoredNode]] | None:
    """The ``k`` sentences of the kept ``sources`` ranked best in their places
    (:func:`rank_sentences` with ``contexts``, ``meaning`` and ``rerank``) that read as prose (:func:`is_prose`:
    not an entry's term line, a heading or a table cell) and say something themselves (not "See
    The Shopt Builtin for..."), best first, and the leaves they come from cut down to them (in
    the order of ``sources``); ``None`` when the best one shares no word with
    the question or holds less than ``min_coverage`` of the question words' weight."""
    best = quotable_sentences(question, sources, contexts, meaning, min_coverage, rerank)[:k]
    return (best, cut_to(sources, best)) if best else None


def quotable_sentences(question: str, sources: Sequence[ScoredNode], contexts: Sequence[Sequence[str]] | None = None,
                       meaning: Meaning | None = None, min_coverage: float = 0.0,
                       rerank: Rerank | None = None) -> list[Sentence]:
    """The quotable sentences (:func:`is_quotable`) of the kept ``sources`` ranked against
    ``question`` (:func:`rank_sentences`, in their places with ``contexts`` and ``meaning``), best
    first; none when the best one shares no word with the question or holds less than
    ``min_coverage`` of the question words' weight (the kept text is about something else)."""
    ranked = [s for s in rank_sentences(question, [s.node.text for s in sources], contexts, meaning, rerank)
              if is_quotable(s.text)]
    if not ranked or ranked[0].score <= 0 or ranked[0].coverage < min_coverage:
        return []
    return ranked


def cut_to(sources: Sequence[ScoredNode], chosen: Sequence[Sentence]) -> list[ScoredNode]:
    """The leaves of ``sources`` holding ``chosen`` sentences, each cut down to its own chosen
    sentences in their order; the leaves in the order of ``sources``."""
    return _cut(sources, {(s.leaf, s.index) for s in chosen}, " ")


def _cut(sources: Sequence[ScoredNode], keep: set[tuple[int, int]], sep: str) -> list[ScoredNode]:
    """The leaves of ``sources`` holding a kept ``(leaf, sentence index)``, each cut down to those
    sentences in their order, joined by ``sep``; the leaves in the order of ``sources``."""
    out: list[ScoredNode] = []
    for i, src in enumerate(sources):
        units = split_sentences(src.node.text)
        mine = [j for j in range(len(units)) if (i, j) in keep]
        if mine:
            out.append(with_text(src, sep.join(units[j] for j in mine)))
    return out


def focus_sentences(question: str, sources: Sequence[ScoredNode], n: int,
                    contexts: Sequence[Sequence[str]] | None = None, meaning: Meaning | None = None,
                    rerank: Rerank | None = None, around: int = 1) -> list[ScoredNode]:
    """The leaves of ``sources`` cut down to the ``n`` sentences ranked best (:func:`rank_sentences`,
    in their places with ``contexts``, ``meaning`` and ``rerank``), each with the ``around``
    sentences before and after it in its leaf (an entry's term line before its description), one
    line each in document order; the leaves in the order of ``sources``. ``sources`` as they are
    when no sentence shares a word with the question."""
    best = rank_sentences(question, [s.node.text for s in sources], contexts, meaning, rerank)[:n]
    if not best or max(s.score for s in best) <= 0:
        return list(sources)
    return _cut(sources, {(s.leaf, j) for s in best for j in range(s.index - around, s.index + around + 1)}, "\n")


def quote_text(sentences: Sequence[Sentence], places: bool = True) -> str:
    """A quote's text: ``sentences`` joined, best first. With ``places``, each sentence is shown in its
    place, ``"<context>: <sentence>"`` (:attr:`Sentence.context`: the heading and entry name
    :func:`rank_sentences` read it with), the context once for a run of sentences sharing it
    ("set -e: Exit immediately if ... If a compound command ...")."""
    if not places:
        return " ".join(s.text for s in sentences)
    parts, shown = [], ""
    for s in sentences:
        parts.append(placed(s.text, s.context) if s.context != shown else s.text)
        shown = s.context
    return " ".join(parts)


def quote_generation(text: str) -> Generation:
    """A :class:`~h2mt.query.generate.Generation` of ``text`` itself, in one piece: nothing is
    prefilled or generated (its stats say so: zero tokens, zero prefill time)."""
    stats = GenerationStats(prompt_tokens=0, completion_tokens=0, prefill_ms=0.0, finish_reason="stop")
    started = time.perf_counter()

    def pieces() -> Iterator[str]:
        stats.first_token_ms = stats.total_ms = (time.perf_counter() - started) * 1000.0
        yield text

    return Generation(pieces(), stats, started)
