"""Single HTML pages: readable text, numbered-heading levels and definition-list entries.

Levels: a heading that starts with a section number ("3.6.7 Here Strings",
"20.3.1. Connection Settings", "Chapter 20. ...", "Appendix A ...") gets the depth of
that number, because tag levels lie in real manuals; other headings use their tag
level. Each ``<dt>``/``<dd>`` pair of an outermost ``<dl>`` with a substantial ``<dd>``
becomes an ``entry`` section one level below the enclosing section.
"""

from __future__ import annotations

import logging
import os

from ...errors import EmptySourceError, ParseError
from ...types import ParsedDocument
from ._html_walk import WalkResult, walk_html
from ._structure import build_sections, doc_stem
from .text import read_text_file

__all__ = ["parse_html", "parse_html_file", "walk_page"]

logger = logging.getLogger(__name__)


def walk_page(raw: str, source: str, want_links: bool = False) -> WalkResult:
    """Walk one HTML page, turning any parser failure into :class:`ParseError`."""
    try:
        result = walk_html(raw, want_links=want_links)
    except RecursionError as exc:
        raise ParseError(f"{source} is nested too deeply to parse as HTML") from exc
    except Exception as exc:  # BeautifulSoup/lxml internals: never leak them
        raise ParseError(f"cannot parse HTML in {source}: {type(exc).__name__}: {exc}") from exc
    return result


def parse_html(raw: str, source: str = "<text>") -> ParsedDocument:
    """Parse an HTML string into a document of readable text and nested sections."""
    if not raw.strip():
        raise EmptySourceError(f"{source} is empty; nothing to index")
    page = walk_page(raw, source)
    if not page.text.strip():
        raise ParseError(f"{source} contains no readable text (only markup, scripts or navigation)")
    title = page.title or page.first_h1 or doc_stem(source)
    sections = build_sections(page.marks, len(page.text), title)
    logger.debug("%s: %d sections from %d chars of text", source, len(sections), len(page.text))
    return ParsedDocument(source, title, page.text, sections, {"format": "html"})


def parse_html_file(path: str | os.PathLike[str]) -> ParsedDocument:
    """Read and parse one HTML file (``source_offset`` metas index its decoded text)."""
    return parse_html(read_text_file(path), str(path))
