"""Metric definitions from docs/architecture.md section 4.

Selection level: :func:`evidence_kept`, :func:`titles_kept`, :func:`answer_contained`.
Generation level: LongBench's :func:`qa_f1_score` (maximised over gold answers by :func:`best_f1`),
ROUGE-L (:func:`best_rouge_l`, the ``rouge-score`` package, as the H²MT paper reports for
free-form answers) and :func:`answer_correct` (robust containment: every accepted spelling, and a
gold answer the question already contains is not credited when merely repeated).
Aggregation: :func:`bootstrap_ci` (mean and 95% percentile interval, fixed seed).
Standard library only at import; numpy loads inside :func:`bootstrap_ci`.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

__all__ = [
    "normalise",
    "evidence_kept",
    "answer_contained",
    "titles_kept",
    "normalize_answer",
    "qa_f1_score",
    "best_f1",
    "best_rouge_l",
    "answer_correct",
    "bootstrap_ci",
]

_PUNCT = frozenset(string.punctuation)


def normalise(s: str) -> str:
    """docs/architecture.md normalisation (section 4): lowercase, non-alphanumerics to single spaces."""
    return re.sub(r"[^0-9a-z]+", " ", s.lower()).strip()


def evidence_kept(evidence: str, kept_text: str) -> bool:
    """Whether the evidence sentence survives selection (normalised containment)."""
    return normalise(evidence) in normalise(kept_text)


def answer_contained(answers: Iterable[str], kept_text: str) -> bool:
    """Whether any gold answer occurs in the kept text (normalised containment)."""
    text = f" {normalise(kept_text)} "
    return any(f" {normalise(a)} " in text for a in answers if normalise(a))


def titles_kept(gold: Sequence[str], kept: Iterable[str]) -> tuple[bool, bool]:
    """(all gold titles kept, any gold title kept) — HotpotQA supporting paragraphs."""
    have = set(kept)
    hits = [t in have for t in gold]
    return (bool(hits) and all(hits)), any(hits)


def normalize_answer(s: str) -> str:
    """LongBench/SQuAD answer normalisation: lowercase, drop punctuation and articles, fix spaces."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _token_f1(prediction: list[str], ground_truth: list[str]) -> float:
    common = Counter(prediction) & Counter(ground_truth)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(prediction)
    recall = same / len(ground_truth)
    return 2 * precision * recall / (precision + recall)


def qa_f1_score(prediction: str, ground_truth: str) -> float:
    """LongBench ``qa_f1_score``: token-multiset F1 of the normalised strings."""
    return _token_f1(normalize_answer(prediction).split(), normalize_answer(ground_truth).split())


def best_f1(prediction: str, answers: Iterable[str]) -> float:
    """LongBench scoring of one prediction: the best F1 over the gold answers (0 if none)."""
    return max((qa_f1_score(prediction, a) for a in answers), default=0.0)


def _count(needle: str, haystack: str) -> int:
    """Whole-word occurrences of normalised ``needle`` in normalised ``haystack``."""
    return f" {haystack} ".count(f" {needle} ") if needle else 0


def answer_correct(prediction: str, answers: Iterable[str], question: str = "") -> bool:
    """Robust containment: some accepted answer occurs (normalised, whole words) in ``prediction``.

    ``answers`` is the QA file's list of accepted spellings ("5min", "5 minutes"). A gold answer
    that already occurs in the question counts only if the prediction says it more often than
    the question does, so restating the question is not an answer.
    """
    pred, q = normalise(prediction), normalise(question)
    for a in answers:
        na = normalise(a)
        if na and _count(na, pred) > _count(na, q):
            return True
    return False


@cache
def _rouge_l_scorer() -> Any:
    """The ROUGE-L scorer, built once per process (it loads the Porter stemmer)."""
    from ..extras import require

    return require("rouge_score.rouge_scorer", "ROUGE-L").RougeScorer(["rougeL"], use_stemmer=True)


def best_rouge_l(prediction: str, answers: Iterable[str]) -> float:
    """ROUGE-L F-measure (``rouge-score``, stemming on), the best over the gold answers (0 if none)."""
    scorer = _rouge_l_scorer()
    scores = (float(scorer.score(a, prediction)["rougeL"].fmeasure) for a in answers if a.strip())
    return max(scores, default=0.0)


def bootstrap_ci(
    values: Sequence[float], n_resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its percentile bootstrap interval.

    Resamples with replacement ``n_resamples`` times with a fixed ``seed``, so the
    interval is reproducible. An empty input gives NaNs; one value gives a zero-width interval.
    """
    import numpy as np

    x = np.asarray([float(v) for v in values], dtype=np.float64)
    if x.size == 0:
        nan = float("nan")
        return nan, nan, nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_resamples, x.size))  # (R, n)
    means = x[idx].mean(axis=1)  # (R,)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return float(x.mean()), float(lo), float(hi)
