"""Multi-page HTML books (DocBook/Texinfo chunked output) as ONE document.

A folder is a book when it has ``index.html`` whose ``<link rel="next">`` points to
another page in the folder. Reading order follows ``rel=next`` from ``index.html``;
pages never reached are appended in sorted order. Each page's parent is the target
of its "Up" link (``accesskey="u"`` or ``rel="up"``); ``index.html`` is the root.
Each page becomes a section at the depth of the page in that tree (pages directly
under the index: level 1), and the page's own headings and entries nest below it.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from posixpath import normpath
from urllib.parse import unquote, urlsplit

from ...errors import InputError, ParseError
from ...types import ParsedDocument, Section
from ._html_walk import WalkResult
from ._structure import Frame, Mark, build_sections, collapse_ws, doc_stem, numbered_level
from .html import walk_page
from .text import read_text_file

__all__ = ["is_html_book", "parse_html_book", "HTML_SUFFIXES"]

logger = logging.getLogger(__name__)

HTML_SUFFIXES = frozenset([".html", ".htm", ".xhtml"])
_INDEX = "index.html"
_NEXT_LINK = re.compile(rb"<link\b[^>]*\brel\s*=\s*[\"']?next\b[^>]*>", re.I)
_HREF = re.compile(rb"\bhref\s*=\s*[\"']?([^\"'\s>]+)", re.I)
_SEP = "\n\n"


@dataclass
class _Page:
    """One parsed page of the book."""

    name: str  # path relative to the book folder, with "/" separators
    title: str
    walk: WalkResult


def _resolve(base: str, href: str) -> str | None:
    """A link target as a book-relative page name (``None`` for external links)."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or not parts.path:
        return None
    target = normpath(str(Path(base).parent / unquote(parts.path)).replace(os.sep, "/"))
    return None if target.startswith("../") else target.removeprefix("./")


def is_html_book(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds a chunked HTML book (index.html with a ``rel=next`` link)."""
    index = Path(folder) / _INDEX
    if not index.is_file():
        return False
    try:
        with index.open("rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return False
    link = _NEXT_LINK.search(head)
    href = _HREF.search(link.group(0)) if link else None
    if href is None:
        return False
    target = _resolve(_INDEX, href.group(1).decode("utf-8", "replace"))
    return target is not None and target != _INDEX and (Path(folder) / target).is_file()


def _load_pages(folder: Path) -> dict[str, _Page]:
    """Parse every HTML page of the book once (pages that fail are skipped with a warning)."""
    pages: dict[str, _Page] = {}
    names = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.suffix.lower() in HTML_SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    for name in names:
        try:
            walk = walk_page(read_text_file(folder / name), f"{folder}/{name}", want_links=True)
        except ParseError as exc:
            logger.warning("skipping page %s of book %s: %s", name, folder, exc)
            continue
        pages[name] = _Page(name, walk.title or walk.first_h1 or doc_stem(name), walk)
    return pages


def _reading_order(pages: dict[str, _Page]) -> list[str]:
    """index.html, then rel=next links, then the pages never reached (sorted)."""
    order: list[str] = []
    seen: set[str] = set()
    name: str | None = _INDEX
    while name is not None and name in pages and name not in seen:
        order.append(name)
        seen.add(name)
        href = pages[name].walk.links.get("next")
        name = _resolve(name, href) if href else None
    order.extend(n for n in sorted(pages) if n not in seen)
    return order


def _parents(pages: dict[str, _Page]) -> dict[str, str]:
    """Each page's parent page (its Up link target; the index when missing or cyclic)."""
    parent: dict[str, str] = {}
    for name, page in pages.items():
        href = page.walk.links.get("up")
        target = _resolve(name, href) if href else None
        parent[name] = target if target in pages and target != name else _INDEX
    for name in pages:  # break cycles: walk up, and re-root any page that reaches itself
        seen = {name}
        cur = parent[name]
        while cur != _INDEX and cur in parent:
            if cur in seen:
                parent[name] = _INDEX
                break
            seen.add(cur)
            cur = parent[cur]
    return parent


def _frames(pages: dict[str, _Page], parent: dict[str, str]) -> dict[str, Frame]:
    """Level (depth under the index) and heading path of each page."""
    frames: dict[str, Frame] = {_INDEX: Frame(0, ())}
    for name in pages:
        chain: list[str] = []
        cur = name
        while cur not in frames:  # parents are acyclic (see _parents) and end at the index
            chain.append(cur)
            cur = parent[cur]
        for n in reversed(chain):
            up = frames[parent[n]]
            frames[n] = Frame(up.level + 1, (*up.path, pages[n].title))
    return frames


def _page_marks(page: _Page, level: int) -> list[Mark]:
    """The page's own heading mark followed by its inner marks, with book-relative levels."""
    marks = list(page.walk.marks)
    text = page.walk.text
    if marks and marks[0].kind == "resume" and marks[0].head_start == 0:
        marks.pop(0)  # the page section itself holds the text before the first heading
    head = Mark("heading", page.title, 0, 0, level, {"kind": "page", "page": page.name})
    top_tag, top_num = 0, None
    first = marks[0] if marks else None
    if (
        first is not None and first.kind == "heading" and not text[: first.head_start].strip()
        and collapse_ws(first.title).casefold() == collapse_ws(page.title).casefold()
    ):
        marks.pop(0)
        head.body_start = first.body_start
        head.meta.update({k: v for k, v in first.meta.items() if k != "kind"})
        top_tag, top_num = first.tag_level, first.num_level
    # the page heading sits one level above the shallowest inner heading at most
    # (a reference page has h2 "SELECT" followed by sibling h2s "Synopsis", "Description")
    tags = [m.tag_level for m in marks if m.kind == "heading"]
    top_tag = min(top_tag or 99, min(tags, default=1) - 1)
    nums = [m.num_level for m in marks if m.kind == "heading" and m.num_level]
    top_num = top_num or numbered_level(page.title)
    top_num = min(top_num, min(nums) - 1) if top_num and nums else top_num
    for m in marks:
        m.meta["page"] = page.name
        if m.kind == "heading":
            rel = m.num_level - top_num if m.num_level and top_num else m.tag_level - top_tag
            m.level = level + max(1, rel)
    return [head, *marks]


def parse_html_book(folder: str | os.PathLike[str]) -> ParsedDocument:
    """Parse a chunked HTML book folder into one document (see the module docstring)."""
    root = Path(folder)
    if not (root / _INDEX).is_file():
        raise InputError(f"{root} is not an HTML book: it has no {_INDEX}")
    t0 = time.perf_counter()
    pages = _load_pages(root)
    if _INDEX not in pages:
        raise ParseError(f"the index page {root / _INDEX} of the HTML book could not be parsed")
    order = _reading_order(pages)
    parent = _parents(pages)
    frames = _frames(pages, parent)
    doc_title = pages[_INDEX].title
    texts: list[str] = []
    sections: list[Section] = []
    offsets: list[int] = []
    pos = 0
    for name in order:
        page = pages[name]
        frame = frames[name]
        level = max(frame.level, 1)
        base = [Frame(level - 1, frame.path[:-1])] if name != _INDEX else []
        marks = _page_marks(page, level)
        sections.extend(build_sections(marks, len(page.walk.text), page.title, base, offset=pos))
        offsets.append(pos)
        texts.append(page.walk.text)
        pos += len(page.walk.text) + len(_SEP)
    text = _SEP.join(texts)
    if not text.strip():
        raise ParseError(f"the HTML book {root} contains no readable text")
    logger.info("parsed HTML book %s: %d pages, %d sections, %d chars in %.1fs",
                root, len(order), len(sections), len(text), time.perf_counter() - t0)
    meta = {"format": "html-book", "pages": order, "page_offsets": offsets}
    return ParsedDocument(str(root), doc_title, text, sections, meta)
