"""Format-independent structure building: heading marks -> nested :class:`Section` objects.

Every parser reduces its input to a canonical ``text`` plus a list of :class:`Mark`
objects (one per heading, definition entry or resumed body) in reading order; this
module turns those into sections with levels, heading paths and body offsets, so all
parsers share one implementation of the invariants (bodies in order, non-overlapping,
``path[-1] == title``, children deeper than their parents).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ...types import Section
from ..titles import DIVISIONS, split_number

__all__ = [
    "Mark",
    "Frame",
    "build_sections",
    "numbered_level",
    "collapse_ws",
    "doc_stem",
]

MarkKind = Literal["heading", "entry", "resume"]

_WS = re.compile(r"\s+")


def collapse_ws(text: str) -> str:
    """Collapse runs of whitespace to one space and strip both ends."""
    return _WS.sub(" ", text).strip()


def doc_stem(source: str) -> str:
    """A readable fallback title for a source path: its file stem (or the source itself)."""
    stem = Path(source).stem
    return stem or source


def numbered_level(title: str) -> int | None:
    """The depth encoded by a heading's section number, or ``None`` when it has none.

    ``"3.6.7 Here Strings"`` -> 3, ``"20.3. Connections"`` -> 2, ``"B.1 Foo"`` -> 2,
    ``"Chapter 20. Server Configuration"`` / ``"Appendix A ..."`` / ``"Part II"`` -> 1,
    ``"Section 3.2 Foo"`` -> 2. The numbering rule is :func:`h2mt.index.titles.split_number`.
    """
    prefix, _ = split_number(title)
    if not prefix:
        return None
    label, _, number = prefix.rpartition(" ")
    if label.strip().lower() in DIVISIONS:
        return 1
    return number.rstrip(".:").count(".") + 1


@dataclass
class Mark:
    """A structural event at a position of the canonical text.

    ``heading``: a heading whose text spans ``[head_start, body_start)``; ``level`` is
    its wanted level (it is raised when needed to stay below a :class:`Frame` base).
    ``entry``: a titled definition entry, one level below the enclosing section.
    ``resume``: body text that follows an entry list (a continuation of the enclosing
    section) or precedes the first heading (a preamble titled after the document).
    """

    kind: MarkKind
    title: str
    head_start: int
    body_start: int
    level: int = 1
    meta: dict[str, Any] = field(default_factory=dict)
    tag_level: int = 0  # HTML: the h1-h6 tag level (0: unknown)
    num_level: int | None = None  # the depth of its section number, when numbered


@dataclass
class Frame:
    """An open section on the nesting stack: its level and heading path."""

    level: int
    path: tuple[str, ...]


def _place(mark: Mark, stack: list[Frame], n_base: int, doc_title: str) -> Section:
    """Create the section for one mark, updating the heading stack in place."""
    meta = dict(mark.meta)
    if mark.kind == "heading":
        floor = stack[n_base - 1].level if n_base else 0
        level = max(mark.level, floor + 1, 1)
        while len(stack) > n_base and stack[-1].level >= level:
            stack.pop()
        parent = stack[-1].path if stack else ()
        path = (*parent, mark.title)
        stack.append(Frame(level, path))
        meta.setdefault("kind", "heading")
        return Section(mark.title, path, level, mark.body_start, mark.body_start, meta)
    if mark.kind == "entry":
        top = stack[-1] if stack else Frame(0, ())
        meta.setdefault("kind", "entry")
        path = (*top.path, mark.title)
        return Section(mark.title, path, top.level + 1, mark.body_start, mark.body_start, meta)
    if stack:
        top = stack[-1]
        meta.setdefault("kind", "continuation")
        return Section(top.path[-1], top.path, top.level, mark.body_start, mark.body_start, meta)
    meta.setdefault("kind", "preamble")
    return Section(doc_title, (doc_title,), 1, mark.body_start, mark.body_start, meta)


def build_sections(
    marks: list[Mark],
    text_end: int,
    doc_title: str,
    base: list[Frame] | None = None,
    offset: int = 0,
) -> list[Section]:
    """Turn marks (in reading order) into sections whose bodies end where the next heading starts.

    ``base`` frames are never popped (used for the pages of a multi-page book: a page's
    inner headings stay below the page). ``offset`` is added to every position. Marks
    whose heading would start before the previous body start are clamped forward so the
    bodies stay ordered.
    """
    stack: list[Frame] = list(base or [])
    n_base = len(stack)
    sections: list[Section] = []
    heads: list[int] = []
    last = 0
    for mark in marks:
        head = min(max(mark.head_start, last), text_end)
        body = min(max(mark.body_start, head), text_end)
        mark = replace(mark, head_start=head, body_start=body)
        sections.append(_place(mark, stack, n_base, doc_title))
        heads.append(head)
        last = body
    for i, sec in enumerate(sections):
        end = heads[i + 1] if i + 1 < len(sections) else text_end
        sec.start += offset
        sec.end = max(end, sec.start - offset) + offset
    return sections
