"""HotpotQA long-haystack construction (docs/architecture.md section 4, ``hotpotqa-long``)."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...counting import CountFn
from ...errors import InputError
from ...types import ParsedDocument
from .paths import HOTPOT_FILE, data_file
from .types import (
    BenchDataset,
    BenchQuestion,
    DocGroup,
    doc_fingerprint,
    length_label,
    prompt_reserve,
    sections_document,
)

__all__ = [
    "HotpotQuestion", "load_hotpot", "haystack_document", "gold_depths", "spread_haystack",
    "hotpot_long_dataset", "hotpot_corpus_dataset", "derange_titles",
]


@dataclass
class HotpotQuestion:
    """One HotpotQA question with its ten paragraphs (title, text)."""

    id: str
    question: str
    answer: str
    supporting_titles: list[str]
    paragraphs: list[tuple[str, str]]


def load_hotpot(path: str | os.PathLike[str] | None = None) -> list[HotpotQuestion]:
    """Read the HotpotQA JSONL described in ``shared/data/README.md``: ``path`` itself, or
    ``hotpotqa/hotpot_dev_distractor_50.jsonl`` in the data folder (``path``, else ``$H2MT_DATA``)."""
    p = data_file(path, HOTPOT_FILE)
    if not p.is_file():
        raise InputError(f"HotpotQA file not found at {p}; pass --data DIR (the folder holding hotpotqa/) "
                         "or the file itself")
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        d: dict[str, Any] = json.loads(line)
        paras = [(x["title"], "".join(x["sentences"]).strip()) for x in d["paragraphs"]]
        out.append(HotpotQuestion(d["id"], d["question"], d["answer"], list(d["supporting_titles"]), paras))
    return out


def haystack_document(
    q: HotpotQuestion,
    pool: Sequence[HotpotQuestion],
    target_tokens: int,
    count: CountFn,
    seed: int = 0,
) -> ParsedDocument:
    """A multi-document haystack of about ``target_tokens`` tokens: the question's own
    paragraphs plus other questions' paragraphs, shuffled with a fixed seed so gold
    paragraphs land at spread-out depths. Each paragraph is a titled level-1 section."""
    rng = random.Random(f"{seed}:{q.id}")
    own = list(q.paragraphs)
    others = [p for o in pool if o.id != q.id for p in o.paragraphs]
    rng.shuffle(others)
    seen = {t for t, _ in own}
    chosen, total = list(own), sum(count([t for _, t in own]))
    for title, text in others:
        if title in seen or not text:
            continue
        n = count([text])[0]
        if total + n > target_tokens:
            continue  # never overshoot the target: smaller paragraphs may still fit
        seen.add(title)
        chosen.append((title, text))
        total += n
    rng.shuffle(chosen)
    return sections_document(f"hotpotqa:{q.id}", "haystack", chosen)


# ---- benchmark datasets (docs/architecture.md section 4) -----------------------------------------------------
_GOLDEN = 0.6180339887498949


def gold_depths(index: int, n_gold: int, seed: int = 0) -> list[float]:
    """Depths in [0, 1) for the gold paragraphs of question ``index``: a golden-ratio sequence,
    so over a dataset the gold positions cover every depth evenly (and two golds sit apart)."""
    off = (seed * _GOLDEN * 7.0) % 1.0
    return [(off + (index * n_gold + k) * _GOLDEN) % 1.0 for k in range(n_gold)]


def spread_haystack(
    q: HotpotQuestion,
    pool: Sequence[HotpotQuestion],
    target_tokens: int,
    count: CountFn,
    depths: Sequence[float],
    seed: int = 0,
) -> tuple[ParsedDocument, list[float]]:
    """A haystack of at most ``target_tokens`` context tokens (each paragraph measured as the
    generator sees it: ``## haystack > Title`` heading plus body) with the gold paragraphs
    placed at ``depths`` (fractions of the paragraph sequence). Returns the document and the
    realised character depths of the gold paragraphs."""
    rng = random.Random(f"{seed}:{q.id}")
    gold = [p for p in q.paragraphs if p[0] in set(q.supporting_titles)]
    own = [p for p in q.paragraphs if p[0] not in set(q.supporting_titles) and p[1]]
    seen = {t for t, _ in q.paragraphs}
    others = []
    for o in pool:
        for t, b in o.paragraphs:
            if o.id != q.id and t not in seen and b:
                seen.add(t)
                others.append((t, b))
    rng.shuffle(others)
    cands = gold + own + others
    cost = count([f"## haystack > {t}\n\n{b}" for t, b in cands])
    total = sum(cost[: len(gold) + len(own)])
    fill = list(own)
    for (t, b), n in zip(others, cost[len(gold) + len(own):], strict=True):
        if total + n <= target_tokens:  # never overshoot: smaller paragraphs may still fit
            fill.append((t, b))
            total += n
    rng.shuffle(fill)
    for (t, b), d in sorted(zip(gold, depths, strict=False), key=lambda x: x[1]):
        fill.insert(round(d * len(fill)), (t, b))
    doc = sections_document(f"hotpotqa:{q.id}", "haystack", fill)
    starts = {s.title: s.start for s in doc.sections}
    return doc, [starts[t] / max(1, len(doc.text)) for t, _ in gold]


def derange_titles(doc: ParsedDocument, seed: str) -> tuple[ParsedDocument, dict[str, str]]:
    """``doc`` with every section carrying another section's title (a derangement drawn with
    ``seed``; bodies stay in place), and the map old title -> the title its body now carries."""
    titles = [s.title for s in doc.sections]
    n = len(titles)
    rng = random.Random(f"derange:{seed}")
    order = list(range(n))
    if n > 1:
        while True:  # rejection sampling: about e tries for any n
            rng.shuffle(order)
            if all(order[i] != i for i in range(n)):
                break
    moved = [titles[order[i]] for i in range(n)]
    bodies = [doc.text[s.start:s.end] for s in doc.sections]
    new = sections_document(doc.source, doc.title, list(zip(moved, bodies, strict=True)))
    return new, dict(zip(titles, moved, strict=True))


def hotpot_long_dataset(
    data: str | None, length: int, count: CountFn, seed: int = 0, misleading_titles: bool = False
) -> BenchDataset:
    """``hotpotqa-long``: one haystack of ``length`` tokens (window size) per question.

    ``misleading_titles``: every paragraph carries another paragraph's title (deranged with the
    seed, :func:`derange_titles`); the gold evidence follows the gold paragraphs' bodies, so a
    question is judged by the titles those bodies now carry.
    """
    qs = load_hotpot(data)
    reserve = prompt_reserve(length)
    target = length - reserve
    questions, groups = [], {}
    for i, q in enumerate(qs):
        doc, depth = spread_haystack(q, qs, target, count, gold_depths(i, len(q.supporting_titles), seed), seed)
        gold = list(q.supporting_titles)
        if misleading_titles:
            doc, moved = derange_titles(doc, f"{seed}:{q.id}")
            gold = [moved[t] for t in gold]
        key = f"hotpot:{q.id}"
        groups[key] = DocGroup(key, [doc], doc_fingerprint([doc]), q.id)
        questions.append(BenchQuestion(q.id, q.question, [q.answer], key, gold, meta={"gold_depths": depth}))
    note = (f"{len(qs)} haystacks of <= {target} context tokens ({length_label(length)} window minus "
            f"{reserve} for prompt and answer), seed {seed}")
    name = f"hotpotqa-long-{length_label(length)}"
    if misleading_titles:
        note += "; misleading titles: every paragraph carries another paragraph's title, evidence follows the bodies"
        name += "-misleading"
    return BenchDataset(name, questions, groups, "hotpotqa", 32, [note])


def hotpot_corpus_dataset(data: str | None, seed: int = 0) -> BenchDataset:
    """``hotpotqa-corpus``: one hierarchy over all distinct paragraphs (shuffled, fixed seed)."""
    qs = load_hotpot(data)
    seen: set[str] = set()
    parts = []
    for q in qs:
        for t, b in q.paragraphs:
            if t not in seen and b:
                seen.add(t)
                parts.append((t, b))
    random.Random(seed).shuffle(parts)
    doc = sections_document("hotpotqa:corpus", "corpus", parts)
    group = DocGroup("hotpot:corpus", [doc], doc_fingerprint([doc]), "corpus")
    questions = [BenchQuestion(q.id, q.question, [q.answer], group.key, list(q.supporting_titles)) for q in qs]
    note = f"one hierarchy over {len(parts)} distinct paragraphs of {len(qs)} questions, shuffled with seed {seed}"
    return BenchDataset("hotpotqa-corpus", questions, {group.key: group}, "hotpotqa", 32, [note])
