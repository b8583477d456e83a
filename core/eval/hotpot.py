"""HotpotQA long-haystack construction (DESIGN.md section 4, ``hotpotqa-long``)."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..chunking import TokenCounter
from ..errors import InputError
from ..types import ParsedDocument, Section

__all__ = ["HotpotQuestion", "load_hotpot", "haystack_document", "DEFAULT_HOTPOT"]

DEFAULT_HOTPOT = Path(__file__).resolve().parents[2].parent / "shared/data/hotpotqa/hotpot_dev_distractor_50.jsonl"


@dataclass
class HotpotQuestion:
    """One HotpotQA question with its ten paragraphs (title, text)."""

    id: str
    question: str
    answer: str
    supporting_titles: list[str]
    paragraphs: list[tuple[str, str]]


def load_hotpot(path: str | os.PathLike[str] | None = None) -> list[HotpotQuestion]:
    """Read the HotpotQA JSONL described in ``shared/data/README.md``."""
    p = Path(path or DEFAULT_HOTPOT)
    if not p.is_file():
        raise InputError(f"HotpotQA file not found at {p}; pass its path")
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
    count: TokenCounter,
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
    text, sections = "", []
    for title, body in chosen:
        text += f"{title}\n"
        start = len(text)
        text += body
        sections.append(Section(title, (title,), 1, start, len(text)))
        text += "\n\n"
    return ParsedDocument(f"hotpotqa:{q.id}", "haystack", text, sections, {"format": "text"})
