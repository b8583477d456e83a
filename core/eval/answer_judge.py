"""Is an answer right? A judge for the answer dev set that needs no large model (issue 25).

A question of ``tests/data/answer_dev.jsonl`` has accepted ``answers`` (short strings: a name, a
value, a symbol, or the key phrase of an explanation), an ``evidence`` sentence (verbatim from the
docs) and, for behaviour questions, ``wrong`` phrases that state the opposite ("not removed").
:func:`judge_row` decides, in this order:

1. no answer (empty, or :data:`h2mt.query.answer.NOT_FOUND`) is wrong;
2. an answer stating a ``wrong`` phrase is wrong (a lone "yes"/"no" counts only as the answer's
   first word; a phrase right after "not"/"never"/"no" is denied, not stated);
3. an accepted answer in it is right (never when only repeated from the question): a code form
   (``$'string'``, ``${var:=default}``) as written, any quote characters alike; other words
   normalised, as whole words (:func:`h2mt.eval.metrics.answer_correct`); a symbol (``> ``, ``$?``,
   ``**``, ``~~``, ``(', ', ': ')``) verbatim and not glued to other punctuation (one of two or more
   characters may be followed by the punctuation that ends a clause: "is |/."); "yes"/"no" as the
   first word;
4. an explanation (types ``what`` and ``polarity``) is also right when it carries the evidence:
   the share of the evidence's key terms it contains (:func:`key_terms`: stemmed content words
   not in the question) is at least :data:`KEY_RECALL_MIN` and its ROUGE-L F against the evidence
   sentence (``rouge-score``, stemming on) at least :data:`ROUGE_L_MIN`.

The two thresholds were calibrated by hand on 31 explanation answers of the default generator
(``tests/data/judge_calibration.jsonl``: each answer with a human label): agreement 31/31 at
these thresholds (30/31 at the first guess, 0.5 / 0.25). Most of those verdicts are decided by
the accepted answers (rule 3); docs/benchmarks.md reports the agreement. Checked again in stop 51
on 30 quoted answers (three sentences each) drawn at random from blind sets 80-85, labelled by hand
and added to the file: 28/30 agree, one wrong each way (a quote that also states the opposite,
judged right; a quote from which the answer is only inferred, judged wrong).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from .metrics import answer_correct, best_rouge_l, normalise

__all__ = ["Verdict", "KEY_RECALL_MIN", "ROUGE_L_MIN", "EXPLANATION_TYPES", "key_terms", "key_recall",
           "contains_answer", "judge_row"]

KEY_RECALL_MIN = 0.4  # share of the evidence's key terms an explanation must contain (hand-calibrated)
ROUGE_L_MIN = 0.25  # ROUGE-L F of the explanation against the evidence sentence
EXPLANATION_TYPES = ("what", "polarity")  # question types whose answers are explanations
_NOT_FOUND = ("not found in the indexed documents", "the context does not say")
_QUOTES = "`'\"\u2018\u2019\u201c\u201d"
_YES_NO = ("yes", "no")
_STOPWORDS = frozenset(
    "a an the of to and or in on at by for with from as is are was were be been being it its this that these those "
    "if then than so such not no do does did done can could will would should may might must shall which who whom "
    "what when where why how there their they them he she his her we you your our i me my into onto over under "
    "about after before while during also only just any all each every some other another both either neither "
    "same own more most less least very too e g i e see".split())


@dataclass(frozen=True)
class Verdict:
    """One answer judged: right or wrong, which rule decided, and the explanation scores."""

    correct: bool
    reason: str  # "no answer", "wrong phrase", "accepted answer", "evidence", "missing"
    key_recall: float  # share of the evidence's key terms in the answer
    rouge_l: float  # ROUGE-L F of the answer against the evidence sentence


@cache
def _stemmer() -> Any:
    from nltk.stem import porter  # a dependency of rouge-score

    return porter.PorterStemmer()


def _stems(text: str) -> list[str]:
    stem = _stemmer().stem
    return [stem(w) for w in normalise(text).split() if w not in _STOPWORDS]


def key_terms(evidence: str, question: str) -> list[str]:
    """The evidence sentence's stemmed content words that the question does not already contain."""
    asked = set(_stems(question))
    return list(dict.fromkeys(w for w in _stems(evidence) if w not in asked))


def key_recall(prediction: str, evidence: str, question: str) -> float:
    """Share of :func:`key_terms` found (stemmed) in ``prediction``; 1.0 when there are none."""
    terms = key_terms(evidence, question)
    if not terms:
        return 1.0
    have = set(_stems(prediction))
    return sum(t in have for t in terms) / len(terms)


def _symbol_count(symbol: str, text: str) -> int:
    """Occurrences of a punctuation-only answer in ``text``, not glued to other punctuation."""
    symbol = symbol.strip()
    if symbol and not symbol.strip(_QUOTES):  # quotes are the answer: '' (a doubled quote)
        return text.count(symbol)
    s = re.sub(f"[{_QUOTES}]", " ", symbol.strip(_QUOTES).strip())  # quotes inside: "(', ', ': ')"
    if not s.strip():
        return 0
    plain = re.sub(f"[{_QUOTES}]", " ", text)
    # a symbol of two or more characters may end a clause ("...group: (?:...), where", "...is |/.")
    end = r"(?![^\w\s])" if len(s.strip()) < 2 else r"(?=[,.;:!?)]*(?:\s|$)|\w)"
    return len(re.findall(r"(?<![^\w\s])" + re.escape(s) + end, plain))


_CODE_FORM = re.compile(r"[$@{}\\<>|&*~^%=]")  # an answer with these is code, written exactly


def _unquoted(text: str) -> str:
    """``text`` with every kind of quote written as a plain apostrophe."""
    return re.sub(f"[{_QUOTES}]", "'", text)


def _first_word(text: str) -> str:
    words = normalise(text).split()
    return words[0] if words else ""


def contains_answer(prediction: str, answers: Sequence[str], question: str) -> bool:
    """Whether ``prediction`` states one of ``answers`` (rule 3 of the module docstring)."""
    for a in answers:
        na = normalise(a)
        if na in _YES_NO:
            if _first_word(prediction) == na:
                return True
        elif not re.search(r"[0-9A-Za-z]", a):  # a symbol: > , $?, **, ~~
            if _symbol_count(a, prediction) > _symbol_count(a, question.rstrip().removesuffix("?")):
                return True
        elif _CODE_FORM.search(a):  # $'string', ${var:=x}: as written, more often than the question writes it
            if _unquoted(prediction).count(_unquoted(a)) > _unquoted(question).count(_unquoted(a)):
                return True
        elif answer_correct(prediction, [a], question):
            return True
    return False


_NEGATIONS = frozenset({"not", "never", "no", "nor", "t"})  # "t": what normalise leaves of "don't"


def _states_wrong(prediction: str, wrong: Sequence[str]) -> bool:
    """Whether ``prediction`` states one of the ``wrong`` phrases; a phrase right after a negation
    ("...are not recomputed on every call" for the wrong "recomputed on every call") is denied,
    not stated."""
    text = f" {normalise(prediction)} "
    for w in wrong:
        nw = normalise(w)
        if nw in _YES_NO:
            if _first_word(prediction) == nw:
                return True
            continue
        for m in re.finditer(re.escape(f" {nw} "), text) if nw else ():
            before = text[:m.start()].split()
            if not before or before[-1] not in _NEGATIONS:
                return True
    return False


def judge_row(q: Mapping[str, Any], prediction: str, key_min: float = KEY_RECALL_MIN,
              rouge_min: float = ROUGE_L_MIN) -> Verdict:
    """Judge ``prediction`` for the dev-set question ``q`` (``question``, ``type``, ``answers``,
    ``evidence``, optional ``wrong``), by the rules of the module docstring."""
    question, evidence = str(q["question"]), str(q["evidence"])
    kr = key_recall(prediction, evidence, question) if prediction.strip() else 0.0
    rl = best_rouge_l(prediction, [evidence]) if prediction.strip() else 0.0
    if not prediction.strip() or any(n in prediction.lower() for n in _NOT_FOUND):
        return Verdict(False, "no answer", kr, rl)
    if _states_wrong(prediction, q.get("wrong", [])):
        return Verdict(False, "wrong phrase", kr, rl)
    if contains_answer(prediction, q["answers"], question):
        return Verdict(True, "accepted answer", kr, rl)
    if q.get("type") in EXPLANATION_TYPES and kr >= key_min and rl >= rouge_min:
        return Verdict(True, "evidence", kr, rl)
    return Verdict(False, "missing", kr, rl)
