"""The types every benchmark dataset is made of, their JSON form, and the helpers loaders share.

A :class:`BenchDataset` is a list of :class:`BenchQuestion` plus the :class:`DocGroup`
each question is asked against (one haystack per question, or one corpus for all).
Datasets are built deterministically from data outside the repository; the runner saves
the built dataset as ``dataset.json`` in the results folder so that every worker process
sees exactly the same questions and documents.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...errors import InputError
from ...types import ParsedDocument, Section

__all__ = [
    "BenchQuestion",
    "DocGroup",
    "BenchDataset",
    "doc_fingerprint",
    "path_fingerprint",
    "sections_document",
    "parse_length",
    "length_label",
    "PROMPT_RESERVE",
    "RESERVE_GROWTH",
    "prompt_reserve",
]


@dataclass
class BenchQuestion:
    """One question, its gold answers, and the gold evidence that selection should keep."""

    id: str
    question: str
    answers: list[str]
    group: str  # key of the DocGroup it is asked against
    gold_titles: list[str] = field(default_factory=list)  # HotpotQA: supporting paragraph titles
    evidence: list[str] = field(default_factory=list)  # manuals/niah: evidence sentences (all must survive)
    meta: dict[str, Any] = field(default_factory=dict)  # depth of the gold, source, ...


@dataclass
class DocGroup:
    """The documents one hierarchy is built over: parsed documents or file/folder paths."""

    key: str
    sources: list[str | ParsedDocument]
    fingerprint: str  # stable content id (index cache key part)
    label: str = ""


@dataclass
class BenchDataset:
    """A named benchmark: questions, document groups, the prompt task and generation length."""

    name: str  # e.g. "hotpotqa-long-8k"; names the results folder
    questions: list[BenchQuestion]
    groups: dict[str, DocGroup]
    task: str  # key of h2mt.eval.datasets.longbench.PROMPTS
    max_new_tokens: int
    notes: list[str] = field(default_factory=list)

    def limited(self, limit: int | None) -> BenchDataset:
        """The first ``limit`` questions and only the groups they need."""
        if limit is None or limit >= len(self.questions):
            return self
        qs = self.questions[:limit]
        keep = {q.group for q in qs}
        groups = {k: g for k, g in self.groups.items() if k in keep}
        return BenchDataset(self.name, qs, groups, self.task, self.max_new_tokens, list(self.notes))

    # -- JSON form -------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (parsed documents included)."""
        return {
            "name": self.name, "task": self.task, "max_new_tokens": self.max_new_tokens, "notes": self.notes,
            "questions": [asdict(q) for q in self.questions],
            "groups": [{"key": g.key, "fingerprint": g.fingerprint, "label": g.label,
                        "sources": [_source_json(s) for s in g.sources]} for g in self.groups.values()],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> BenchDataset:
        """Inverse of :meth:`to_json`."""
        groups = {g["key"]: DocGroup(g["key"], [_source_from(s) for s in g["sources"]], g["fingerprint"], g["label"])
                  for g in d["groups"]}
        qs = [BenchQuestion(**q) for q in d["questions"]]
        return cls(d["name"], qs, groups, d["task"], int(d["max_new_tokens"]), list(d.get("notes", [])))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_json` to ``path``."""
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BenchDataset:
        """Read a dataset written by :meth:`save`."""
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def _source_json(s: str | ParsedDocument) -> Any:
    if isinstance(s, ParsedDocument):
        return {"source": s.source, "title": s.title, "text": s.text, "meta": s.meta,
                "sections": [[x.title, list(x.path), x.level, x.start, x.end] for x in s.sections]}
    return str(s)


def _source_from(s: Any) -> str | ParsedDocument:
    if isinstance(s, str):
        return s
    secs = [Section(t, tuple(p), lv, a, b) for t, p, lv, a, b in s["sections"]]
    return ParsedDocument(s["source"], s["title"], s["text"], secs, s.get("meta", {}))


def doc_fingerprint(docs: Sequence[ParsedDocument]) -> str:
    """Content hash of parsed documents (text and section layout)."""
    h = hashlib.sha256()
    for d in docs:
        h.update(d.title.encode())
        h.update(d.text.encode())
        h.update(json.dumps([[s.title, s.level, s.start, s.end] for s in d.sections]).encode())
    return h.hexdigest()[:20]


def path_fingerprint(paths: Sequence[str | os.PathLike[str]]) -> str:
    """Cheap identity of files/folders: every file's path, size and mtime."""
    h = hashlib.sha256()
    for p in map(Path, paths):
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            st = f.stat()
            h.update(f"{f}:{st.st_size}:{int(st.st_mtime)}\n".encode())
    return h.hexdigest()[:20]


def sections_document(source: str, title: str, parts: Sequence[tuple[str, str]]) -> ParsedDocument:
    """One document whose level-1 sections are ``parts`` = [(title, body)], in order."""
    text, sections = "", []
    for t, body in parts:
        text += f"{t}\n"
        start = len(text)
        text += body
        sections.append(Section(t, (t,), 1, start, len(text)))
        text += "\n\n"
    return ParsedDocument(source, title, text, sections, {"format": "text"})


def parse_length(length: str | int) -> int:
    """``"8k"`` -> 8192, ``"32k"`` -> 32768, ``"5000"`` -> 5000."""
    s = str(length).strip().lower()
    m = re.fullmatch(r"(\d+)(k?)", s)
    if not m:
        raise InputError(f"Bad length {length!r}: use tokens like 8k, 32k or 6000")
    return int(m.group(1)) * (1024 if m.group(2) else 1)


def length_label(tokens: int) -> str:
    """Inverse of :func:`parse_length` for multiples of 1,024 (``8192`` -> ``"8k"``)."""
    return f"{tokens // 1024}k" if tokens % 1024 == 0 else str(tokens)


PROMPT_RESERVE = 384
"""Tokens of an ``N``-token window left for instructions, question and answer: an "8k" haystack's
full-context prompt (breadcrumb headings included) fits an 8,192-token model."""

RESERVE_GROWTH = 0.03
"""Extra share of the window kept free beyond 8k: paragraphs are measured one by one, and the
separators and token boundaries of the joined context add about 2% (a "32k" haystack measured
33.0k prompt tokens with the fixed reserve alone)."""


def prompt_reserve(length: int) -> int:
    """Tokens of a ``length``-token window kept free for the prompt around the haystack."""
    return PROMPT_RESERVE + int(max(0, length - 8192) * RESERVE_GROWTH)
