"""PDF files (pypdf): page text, sections from bookmarks or numbered headings.

``doc.text`` is the pages' extracted text joined with ``"\\n\\n"``;
``doc.meta["page_offsets"][i]`` is where page ``i`` (0-based) starts. Sections come
from the outline (nested bookmarks -> levels); each bookmark is located on its
destination page (preferably as a heading line such as ``"3.6.7 Here Strings"``);
without an outline, short numbered lines ("2.1 Scope") are taken as headings. Contents and
index pages (mostly ``Signals ........ 42`` or ``term, 12, 45`` lines) are left out of the text,
as are dotted-leader lines elsewhere (:func:`drop_listings`); page numbering is kept.
"""

from __future__ import annotations

import logging
import os
import re
import time
import unicodedata
from pathlib import Path
from typing import Any

from ...errors import EmptySourceError, InputError, ParseError
from ...types import ParsedDocument
from ..titles import split_number
from ._structure import Mark, build_sections, collapse_ws, doc_stem, numbered_level

__all__ = ["parse_pdf_file", "drop_listings"]

logger = logging.getLogger(__name__)

_SEP = "\n\n"
_TOC_TAIL = re.compile(r"(?:\.\s*){3,}\d*\s*$|\s\d+\s*$")
# Front matter and back-of-book index lines: a dotted leader to a page number ("Signals ........ 42"),
# or a term followed by page numbers ("builtins, 3, 9-11").
_LEADER = re.compile(r"\S.*?(?:\s*\.){4,}\s*[0-9ivxlcdm]+\s*$", re.IGNORECASE)
_INDEX_ENTRY = re.compile(r"\S.{0,80}?,\s*\d+(?:\s*[-\u2013]\s*\d+)?(?:\s*,\s*\d+(?:\s*[-\u2013]\s*\d+)?)*\s*$")
_LISTING_SHARE = 0.5  # a page whose non-empty lines are mostly such lines is a contents or index page


def _open(path: Path) -> Any:
    """Open a PDF with pypdf, decrypting an empty user password; errors -> ParseError."""
    from ...extras import require

    require("pypdf", "Reading PDF sources")
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, EmptyFileError

    try:
        reader = PdfReader(path)
    except EmptyFileError as exc:
        raise EmptySourceError(f"{path} is empty; nothing to index") from exc
    except Exception as exc:
        raise ParseError(f"{path} is not a readable PDF ({type(exc).__name__}: {exc}); "
                         "check that the file is complete, or repair it (e.g. qpdf)") from exc
    if reader.is_encrypted:
        try:
            ok = reader.decrypt("")
        except DependencyError as exc:
            raise ParseError(f"{path} is encrypted with AES; install 'cryptography' to open it, "
                             "or decrypt it first (qpdf --decrypt)") from exc
        except Exception as exc:
            raise ParseError(f"{path} is encrypted and could not be decrypted: {exc}") from exc
        if not ok:
            raise ParseError(f"{path} is password-protected; decrypt it first "
                             "(e.g. qpdf --password=... --decrypt in.pdf out.pdf)")
    return reader


def _page_texts(reader: Any, path: Path) -> list[str]:
    """Extracted text of every page ('' for pages whose extraction fails)."""
    try:
        pages = list(reader.pages)
    except Exception as exc:
        raise ParseError(f"{path}: cannot read the page tree ({type(exc).__name__}: {exc})") from exc
    texts: list[str] = []
    for i, page in enumerate(pages):
        try:
            texts.append(page.extract_text() or "")
        except Exception as exc:  # one bad page must not lose the rest of the document
            logger.warning("%s: cannot extract text of page %d: %s", path, i + 1, exc)
            texts.append("")
    return texts


def _is_listing_line(line: str) -> bool:
    return bool(_LEADER.match(line) or _INDEX_ENTRY.match(line))


def drop_listings(page: str) -> str:
    """A page's text without table-of-contents and index matter: ``""`` for a page whose lines are
    mostly dotted leaders or ``term, 12, 45`` entries (a heading such as "Contents" included), and
    the dotted-leader lines removed from any other page."""
    lines = page.splitlines(keepends=True)
    filled = [x.strip() for x in lines if x.strip()]
    listed = sum(1 for x in filled if _is_listing_line(x))
    if filled and listed >= 2 and listed >= _LISTING_SHARE * len(filled):
        return ""
    return "".join(x for x in lines if not _LEADER.match(x.strip()))


def _outline(reader: Any) -> list[tuple[int, str, int]]:
    """Flattened bookmarks as (depth starting at 1, title, 0-based page), in outline order."""
    try:
        outline = reader.outline
    except Exception as exc:
        logger.warning("cannot read the PDF outline: %s", exc)
        return []
    found: list[tuple[int, str, int]] = []
    stack: list[tuple[list[Any], int, int]] = [(list(outline), 0, 1)]  # (items, next index, depth)
    while stack:
        items, i, depth = stack.pop()
        if i >= len(items):
            continue
        stack.append((items, i + 1, depth))
        item = items[i]
        if isinstance(item, list):
            stack.append((item, 0, depth + 1))
            continue
        try:
            page = reader.get_destination_page_number(item)
        except Exception:
            page = None
        title = collapse_ws(str(getattr(item, "title", "") or ""))
        if page is not None and page >= 0 and title:
            found.append((depth, title, page))
    return found


def _normalize(text: str) -> tuple[str, list[int]]:
    """Casefolded, NFKC, whitespace-collapsed text and, per output char, its source index."""
    out: list[str] = []
    index: list[int] = []
    space = True
    for i, ch in enumerate(text):
        if ch.isspace():
            if not space:
                out.append(" ")
                index.append(i)
                space = True
            continue
        for c in unicodedata.normalize("NFKC", ch).casefold():
            out.append(c)
            index.append(i)
        space = False
    return "".join(out), index


def _locate(text: str, lo: int, hi: int, title: str) -> tuple[int, int] | None:
    """(heading start, body start) of ``title`` within ``text[lo:hi]``, or ``None``."""
    want = collapse_ws(unicodedata.normalize("NFKC", title).casefold())
    pos = lo
    for line in text[lo:hi].splitlines(keepends=True):
        shown = collapse_ws(unicodedata.normalize("NFKC", line))
        for form in (shown, split_number(shown)[1]):  # the heading line, with or without its number
            if want and form.casefold() in (want, want + "."):
                return pos, pos + len(line.rstrip("\r\n"))
        pos += len(line)
    norm, index = _normalize(text[lo:hi])
    at = norm.find(want)
    if at < 0 or not want:
        return None
    return lo + index[at], lo + index[at + len(want) - 1] + 1


def _bookmark_marks(text: str, offsets: list[int], bookmarks: list[tuple[int, str, int]]) -> list[Mark]:
    """One heading mark per bookmark, located on its page, kept in reading order."""
    marks: list[Mark] = []
    last = 0
    for depth, title, page in bookmarks:
        if page >= len(offsets):
            continue
        lo = offsets[page]
        hi = offsets[page + 1] if page + 1 < len(offsets) else len(text)
        found = _locate(text, max(lo, last), hi, title) if hi > last else None
        head, body = found if found else (max(lo, last), max(lo, last))
        marks.append(Mark("heading", title, head, body, depth, {"page": page + 1}))
        last = body
    return marks


def _numbered_marks(text: str, offsets: list[int]) -> list[Mark]:
    """Short numbered lines ("2.1 Scope") as headings, for PDFs without an outline."""
    marks: list[Mark] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        number, rest = split_number(stripped)
        numbered = number[:1].isdigit() and rest[:1].isascii() and rest[:1].isupper()  # "2.1 Scope"
        if numbered and len(stripped) <= 80 and len(stripped.split()) <= 12 and not _TOC_TAIL.search(stripped):
            start = pos + line.index(stripped[0])
            page = sum(1 for o in offsets if o <= start)
            level = numbered_level(stripped) or 1
            marks.append(Mark("heading", stripped, start, start + len(stripped), level, {"page": page}))
        pos += len(line)
    return marks


def _title(reader: Any, path: Path) -> str:
    try:
        meta = reader.metadata
        title = collapse_ws(str(meta.title)) if meta is not None and meta.title else ""
    except Exception:
        title = ""
    return title or doc_stem(str(path))


def parse_pdf_file(path: str | os.PathLike[str]) -> ParsedDocument:
    """Parse a PDF into page text and sections (bookmarks, numbered headings, or one section)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p} does not exist or is not a file; check the path")
    t0 = time.perf_counter()
    reader = _open(p)
    texts = _page_texts(reader, p)
    if not any(t.strip() for t in texts):
        raise ParseError(f"{p} has no extractable text (scanned or image-only PDF?); "
                         "run OCR on it first (e.g. ocrmypdf) and index the result")
    kept = [drop_listings(t) for t in texts]
    skipped = sum(1 for a, b in zip(texts, kept, strict=True) if a.strip() and not b.strip())
    if skipped:
        logger.info("%s: skipped %d contents/index pages", p, skipped)
    texts = kept
    if not any(t.strip() for t in texts):
        raise ParseError(f"{p} holds only contents or index pages; nothing to index")
    offsets: list[int] = []
    pos = 0
    for t in texts:
        offsets.append(pos)
        pos += len(t) + len(_SEP)
    text = _SEP.join(texts)
    title = _title(reader, p)
    bookmarks = _outline(reader)
    marks = _bookmark_marks(text, offsets, bookmarks) if bookmarks else _numbered_marks(text, offsets)
    source = "outline" if bookmarks else "numbered" if marks else "none"
    if not marks or text[: marks[0].head_start].strip():
        kind = "preamble" if marks else "document"
        marks.insert(0, Mark("resume", "", 0, 0, 1, {"page": 1, "kind": kind}))
    sections = build_sections(marks, len(text), title)
    logger.info("%s: %d pages, %d sections (%s) in %.1fs",
                p, len(texts), len(sections), source, time.perf_counter() - t0)
    meta = {"format": "pdf", "page_offsets": offsets, "page_count": len(texts), "sections_from": source}
    return ParsedDocument(str(p), title, text, sections, meta)
