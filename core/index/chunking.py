"""Sections -> token-bounded leaves that never cross a section boundary."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..config import ChunkConfig
from ..counting import CountFn
from ..types import ParsedDocument

__all__ = ["Leaf", "SimpleTokenCounter", "chunk_document"]

# A unit ends at a blank line or after sentence punctuation followed by whitespace.
_BOUNDARY = re.compile(r"\n[ \t]*\n\s*|(?<=[.!?:;])[\"')\]]?\s+")
_WORD = re.compile(r"\S+")


@dataclass
class Leaf:
    """A chunk of one section's body: ``doc.text[start:end] == text``."""

    doc: int
    section: int
    start: int
    end: int
    text: str
    tokens: int
    ref: str = ""  # caller's id when the leaf comes from an external node


class SimpleTokenCounter:
    """Deterministic counter for tests and tokenizer-free use: one token per word or
    punctuation mark, and one per 8 characters of very long words (like subword models)."""

    _TOKEN = re.compile(r"\w{1,8}|[^\w\s]")

    def __call__(self, texts: Sequence[str]) -> list[int]:
        """Count tokens of each text."""
        return [len(self._TOKEN.findall(t)) for t in texts]


def _cap(text: str, spans: list[tuple[int, int]], max_chars: int) -> list[tuple[int, int]]:
    """Cut spans longer than ``max_chars`` (at whitespace when possible) before any tokenizing,
    so a huge line without sentence breaks never reaches the tokenizer whole."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        while e - s > max_chars:
            cut = text.rfind(" ", s + max_chars // 2, s + max_chars)
            cut = cut if cut > s else s + max_chars
            out.append((s, _rstrip(text, s, cut)))
            s = cut
            while s < e and text[s].isspace():
                s += 1
        if e > s:
            out.append((s, e))
    return out


def _units(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence/paragraph spans of ``text[start:end]``, whitespace-trimmed."""
    spans: list[tuple[int, int]] = []
    pos = start
    for m in _BOUNDARY.finditer(text, start, end):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, end))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def _split_long(text: str, span: tuple[int, int], tokens: int, max_tokens: int) -> list[tuple[int, int]]:
    """Split one over-long unit at word boundaries (or hard character cuts) into smaller spans."""
    s, e = span
    pieces = max(2, -(-tokens * 10 // (max_tokens * 8)))  # aim for ~80% full pieces
    target = max(1, (e - s) // pieces)
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, s, e)]
    out: list[tuple[int, int]] = []
    if len(words) >= pieces:
        cur = words[0][0]
        for ws, we in words:
            if we - cur > target and ws > cur:
                out.append((cur, _rstrip(text, cur, ws)))
                cur = ws
        out.append((cur, e))
    else:  # no usable whitespace: cut characters
        out = [(i, min(i + target, e)) for i in range(s, e, target)]
    return [(a, b) for a, b in out if b > a]


def _rstrip(text: str, s: int, e: int) -> int:
    while e > s and text[e - 1].isspace():
        e -= 1
    return e


def _bounded_units(
    text: str, spans: list[tuple[int, int]], count: CountFn, max_tokens: int
) -> list[tuple[int, int, int]]:
    """Units as (start, end, tokens), each at most ``max_tokens`` tokens."""
    counts = count([text[s:e] for s, e in spans]) if spans else []
    out: list[tuple[int, int, int]] = []
    for span, n in zip(spans, counts, strict=True):
        if n <= max_tokens:
            out.append((span[0], span[1], n))
        else:
            parts = _split_long(text, span, n, max_tokens)
            if len(parts) <= 1:  # cannot split further: hard-cut in half
                mid = (span[0] + span[1]) // 2
                parts = [(span[0], mid), (mid, span[1])]
            out.extend(_bounded_units(text, parts, count, max_tokens))
    return out


def _pack(units: list[tuple[int, int, int]], cfg: ChunkConfig) -> list[list[tuple[int, int, int]]]:
    """Greedy packing of consecutive units into groups of at most ``max_tokens``."""
    groups: list[list[tuple[int, int, int]]] = []
    cur: list[tuple[int, int, int]] = []
    size = 0
    for u in units:
        if cur and size + u[2] + len(cur) > cfg.max_tokens:  # 1 token of slack per join
            groups.append(cur)
            cur, size = [], 0
        cur.append(u)
        size += u[2]
    if cur:
        if groups and size < cfg.min_tokens and sum(x[2] for x in groups[-1]) + size <= cfg.max_tokens:
            groups[-1].extend(cur)
        else:
            groups.append(cur)
    return groups


def chunk_document(
    doc: ParsedDocument, doc_index: int, count: CountFn, cfg: ChunkConfig
) -> list[Leaf]:
    """Cut every section body of ``doc`` into leaves of at most ``cfg.max_tokens`` tokens.

    Leaves are in reading order, never overlap, and never cross a section
    boundary; their token counts are measured with ``count`` on the final text.
    """
    text = doc.text
    leaves: list[Leaf] = []
    for si, sec in enumerate(doc.sections):
        spans = _cap(text, _units(text, sec.start, sec.end), cfg.max_tokens * 8)
        units = _bounded_units(text, spans, count, cfg.max_tokens)
        for g in _pack(units, cfg):
            leaves.append(Leaf(doc_index, si, g[0][0], g[-1][1], text[g[0][0] : g[-1][1]], 0))
    _recount(leaves, count, cfg)
    return leaves


def _recount(leaves: list[Leaf], count: CountFn, cfg: ChunkConfig) -> None:
    """Set exact token counts; packing adds counts of units, which may differ slightly."""
    for leaf, n in zip(leaves, count([lf.text for lf in leaves]) if leaves else [], strict=True):
        leaf.tokens = n
