"""``ruler``: RULER-style retrieval tasks generated deterministically over real text.

Each question gets its own haystack: a contiguous run of real sections (the Bash Reference
Manual up to 64k tokens, the Python 3.11 library reference beyond; ``--data`` may name another
file or folder), trimmed to the length, with needles inserted at sentence boundaries. Gold
evidence is every needle the answer needs: all of them must survive selection.

- ``niah-single``: one needle "One of the special magic numbers for KEY is VALUE." (RULER's has
  "is: VALUE"; the colon is left out, see :mod:`.niah`); the question asks for KEY's number.
- ``niah-multikey``: the same with three distractor needles of other keys.
- ``niah-multivalue``: four needles give KEY four values; the question asks for all of them.
- ``niah-multiquery``: four keys, one needle each; the question asks for all four numbers.
- ``vt`` (variable tracking): a chain ``VAR ABCDE = 12345``, ``VAR FGHIJ = VAR ABCDE``, ... of
  four assignments spread over the haystack, beside a distractor chain bound to another value;
  the question asks for every variable bound to 12345. Later links share no word with the
  question, so a retriever has to follow the names: a multi-hop task.

RULER's question answering task is ``hotpotqa-long`` (gold paragraphs among distractor
paragraphs at a target length). RULER's aggregation tasks ask about the whole text, which no
selection under a budget can keep; they are here to be measured, not routed for
(:data:`AGGREGATION_TASKS`, only by name: ``--task cwe``):

- ``cwe`` (common words extraction): a numbered list of words of the source text, ten of them
  30 times each, the others 3 times each, shuffled; the question asks for the ten most common.
- ``fwe`` (frequent words extraction): coded five-letter words drawn from a Zipf distribution
  (exponent 2); the question asks for the three most frequent.

Their gold evidence is the answer words themselves (each must occur in what is kept).
"""

from __future__ import annotations

import os
import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ...counting import CountFn
from ...errors import InputError
from ...types import ParsedDocument
from .manuals import manual_source
from .niah import NEEDLE, cut_haystack, insert_at_depth, magic_keys, real_parts
from .paths import is_data_dir
from .types import (
    BenchDataset,
    BenchQuestion,
    DocGroup,
    doc_fingerprint,
    length_label,
    prompt_reserve,
    sections_document,
)

__all__ = ["RULER_TASKS", "AGGREGATION_TASKS", "RulerSpec", "make_ruler", "ruler_dataset", "python_docs_source"]

RULER_TASKS = ("niah-single", "niah-multikey", "niah-multivalue", "niah-multiquery", "vt")
AGGREGATION_TASKS = ("cwe", "fwe")
"""RULER's aggregation tasks: generated only when asked for by name (they are not in the default set)."""
PYTHON_DOCS = "/usr/share/doc/python3.11/html/library"  # Debian package python3.11-doc


@dataclass(frozen=True)
class RulerSpec:
    """What to generate."""

    length: int = 8192  # window tokens (the haystack is this minus the prompt reserve)
    tasks: tuple[str, ...] = RULER_TASKS  # which tasks (each a part of the dataset)
    depths: tuple[float, ...] = tuple(d / 10 for d in range(10))  # depth of the first needle, 0..0.9
    seed: int = 0


def python_docs_source() -> str:
    """The Python 3.11 library reference (environment override ``H2MT_PYTHON_DOCS``)."""
    path = os.environ.get("H2MT_PYTHON_DOCS", PYTHON_DOCS)
    if not Path(path).exists():
        raise InputError(f"The Python 3.11 docs are not installed (expected {path}, Debian package python3.11-doc). "
                         "Install them with: sudo apt-get install -y python3.11-doc  (or set H2MT_PYTHON_DOCS=PATH)")
    return path


def _number(rng: random.Random) -> str:
    return str(rng.randint(1_000_000, 9_999_999))


def _name(rng: random.Random, taken: set[str]) -> str:
    while True:
        n = "".join(rng.choice(string.ascii_uppercase) for _ in range(5))
        if n not in taken:
            taken.add(n)
            return n


def _spread(first: float, n: int, rng: random.Random) -> list[float]:
    """``n`` increasing depths in [0, 1): the first at ``first``, the rest spread over what is left."""
    rest = sorted(rng.uniform(first, 1.0) for _ in range(n - 1))
    return [first, *rest]


Question = tuple[str, list[str], list[str]]  # (question, answers, needles in the order to insert)


def _niah(task: str, rng: random.Random) -> tuple[Question, list[str]]:
    """(the question, its answers and gold needles), distractor needles."""
    k = 4 if task in ("niah-multikey", "niah-multiquery") else 1
    keys = magic_keys(rng, k)
    if task == "niah-multivalue":
        values = [_number(rng) for _ in range(4)]
        gold = [NEEDLE.format(key=keys[0], value=v) for v in values]
        q = f"What are all the special magic numbers for {keys[0]} mentioned in the provided text?"
        return (q, values, gold), []
    values = [_number(rng) for _ in keys]
    needles = [NEEDLE.format(key=key, value=v) for key, v in zip(keys, values, strict=True)]
    if task == "niah-multiquery":
        q = ("What are all the special magic numbers for " + ", ".join(keys[:-1]) + f" and {keys[-1]} "
             "mentioned in the provided text?")
        return (q, values, needles), []
    q = f"What is the special magic number for {keys[0]} mentioned in the provided text?"
    return (q, values[:1], needles[:1]), needles[1:]


def _vt(rng: random.Random, hops: int = 4) -> tuple[Question, list[str]]:
    """A chain of ``hops`` assignments bound to one value, and a distractor chain bound to another."""
    taken: set[str] = set()
    value, other = str(rng.randint(10_000, 99_999)), str(rng.randint(10_000, 99_999))

    def chain(v: str) -> tuple[list[str], list[str]]:
        names = [_name(rng, taken) for _ in range(hops)]
        stmts = [f"VAR {names[0]} = {v}."] + [f"VAR {b} = VAR {a}." for a, b in zip(names, names[1:], strict=False)]
        return names, stmts

    names, gold = chain(value)
    _, noise = chain(other)
    q = f"Find all variables that are assigned the value {value} in the text above."
    return (q, names, gold), noise


def _vocabulary(docs: Sequence[ParsedDocument]) -> list[str]:
    """The distinct lowercase words of ``docs`` (4-12 letters), in order of first occurrence."""
    import re

    return list(dict.fromkeys(w.lower() for d in docs for w in re.findall(r"\b[A-Za-z]{4,12}\b", d.text)))


def _fill(items: Callable[[int], list[str]], target: int, count: CountFn, per_part: int) -> list[tuple[str, str]]:
    """Parts of ``per_part`` lines from ``items(n)`` (n lines), the largest n (doubling, then bisecting) whose
    text fits ``target`` tokens."""

    def parts(n: int) -> list[tuple[str, str]]:
        lines = items(n)
        return [(f"List, lines {i + 1}-{min(i + per_part, n)}", "\n".join(lines[i:i + per_part]))
                for i in range(0, n, per_part)]

    def tokens(n: int) -> int:
        return sum(count([f"## {t}\n\n{b}" for t, b in parts(n)]))

    lo, hi = 1, 2
    while tokens(hi) <= target:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if tokens(mid) <= target else (lo, mid)
    return parts(lo)


def _cwe(vocab: list[str], target: int, count: CountFn, rng: random.Random,
         common: int = 10, freq_common: int = 30, freq_rare: int = 3) -> tuple[str, list[str], list[tuple[str, str]]]:
    """RULER's common words extraction: ``common`` words ``freq_common`` times, the rest ``freq_rare`` times."""
    words = rng.sample(vocab, min(len(vocab), common + 4000))
    top, rare = words[:common], words[common:]
    seed = rng.random()

    def items(n: int) -> list[str]:  # at most n lines, every common word ``freq_common`` times
        bag = [w for w in top for _ in range(freq_common)]
        bag += [w for w in rare[: max(0, (n - len(bag)) // freq_rare)] for _ in range(freq_rare)]
        random.Random(seed).shuffle(bag)
        return [f"{i + 1}. {w}" for i, w in enumerate(bag)]

    q = f"What are the {common} most common words in the above list?"
    return q, top, _fill(items, target, count, 50)


def _fwe(target: int, count: CountFn, rng: random.Random, top: int = 3,
         alpha: float = 2.0) -> tuple[str, list[str], list[tuple[str, str]]]:
    """RULER's frequent words extraction: coded words drawn from a Zipf distribution of exponent ``alpha``."""
    taken: set[str] = set()
    vocab: list[str] = []
    while len(vocab) < 500:
        w = "".join(rng.choice(string.ascii_lowercase) for _ in range(5))
        if w not in taken:
            taken.add(w)
            vocab.append(w)
    weights = [1.0 / (k + 1) ** alpha for k in range(len(vocab))]
    draws = random.Random(rng.random()).choices(vocab, weights, k=200_000)

    def items(n: int) -> list[str]:
        words = draws[: n * 10]
        return [" ".join(words[i:i + 10]) for i in range(0, len(words), 10)]

    q = f"What are the {top} most frequently appeared words in the above coded text?"
    return q, vocab[:top], _fill(items, target, count, 10)


def _aggregation(task: str, docs: Sequence[ParsedDocument], count: CountFn, spec: RulerSpec,
                 target: int) -> tuple[list[BenchQuestion], dict[str, DocGroup]]:
    """The ``cwe`` or ``fwe`` questions: one haystack per depth slot (depth means nothing here)."""
    vocab = _vocabulary(docs)
    questions, groups = [], {}
    rng = random.Random(f"ruler:{task}:{spec.seed}")
    for k in range(len(spec.depths)):
        qid = f"ruler-{task}-{k:03d}"
        q, answers, parts = _cwe(vocab, target, count, rng) if task == "cwe" else _fwe(target, count, rng)
        doc = sections_document(f"ruler:{qid}", "haystack", parts)
        key = f"ruler:{qid}"
        groups[key] = DocGroup(key, [doc], doc_fingerprint([doc]), qid)
        questions.append(BenchQuestion(qid, q, answers, key, evidence=list(answers),
                                       meta={"part": task, "needles": len(answers)}))
    return questions, groups


def make_ruler(docs: Sequence[ParsedDocument], count: CountFn, spec: RulerSpec) -> BenchDataset:
    """RULER-style questions over haystacks cut from ``docs`` (see :class:`RulerSpec`)."""
    for t in spec.tasks:
        if t not in RULER_TASKS + AGGREGATION_TASKS:
            raise InputError(f"Unknown RULER task {t!r}; choose from {', '.join(RULER_TASKS + AGGREGATION_TASKS)}")
    target = max(64, spec.length - prompt_reserve(spec.length))
    pool = real_parts(docs, count, max(32, target // 4))
    questions, groups = [], {}
    makers: dict[str, Callable[[random.Random], tuple[Question, list[str]]]] = {
        t: partial(_niah, t) for t in RULER_TASKS if t != "vt"}
    makers["vt"] = _vt
    for task in spec.tasks:
        if task in AGGREGATION_TASKS:
            qs, gs = _aggregation(task, docs, count, spec, target)
            questions += qs
            groups.update(gs)
            continue
        rng = random.Random(f"ruler:{task}:{spec.seed}")
        for depth in spec.depths:
            qid = f"ruler-{task}-d{round(depth * 100):03d}"
            parts = cut_haystack(pool, target, rng)
            (question, answers, gold), noise = makers[task](rng)
            for extra in noise:
                insert_at_depth(parts, extra, rng.random())
            for needle, d in zip(gold, _spread(depth, len(gold), rng), strict=True):
                insert_at_depth(parts, needle, d)
            doc = sections_document(f"ruler:{qid}", "haystack", parts)
            key = f"ruler:{qid}"
            groups[key] = DocGroup(key, [doc], doc_fingerprint([doc]), qid)
            questions.append(BenchQuestion(qid, question, answers, key, evidence=gold,
                                           meta={"part": task, "depth": depth, "needles": len(gold)}))
    note = (f"{len(questions)} haystacks of <= {target} tokens: tasks {', '.join(spec.tasks)}; first gold needle "
            f"at depths {', '.join(f'{round(d * 100)}%' for d in spec.depths)}, seed {spec.seed}")
    return BenchDataset(f"ruler-{length_label(spec.length)}", questions, groups, "ruler", 64, [note])


def ruler_dataset(source: str | None, length: int, count: CountFn, seed: int = 0,
                  task: str | None = None) -> BenchDataset:
    """``ruler`` over ``source`` (any file/folder h2mt parses; default, also when ``source`` is the benchmark
    data folder: the Bash manual up to 64k tokens, the Python 3.11 library reference beyond); ``task``
    restricts to one of :data:`RULER_TASKS` or :data:`AGGREGATION_TASKS`."""
    from ...index.parse import parse_path  # the parsers load only when a haystack is built

    if source and not is_data_dir(source):
        path = source
    else:
        path = manual_source("bash") if length <= 65536 else python_docs_source()
    spec = RulerSpec(length=length, seed=seed, tasks=(task,) if task else RULER_TASKS)
    return make_ruler(parse_path(path), count, spec)
