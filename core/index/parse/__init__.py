"""Parsing: files and folders -> :class:`~h2mt.types.ParsedDocument` objects with sections.

One parser per format (plain text, Markdown, HTML, multi-page HTML book, PDF), all
reducing their input to canonical text plus sections whose bodies are character
ranges of it. This module is cheap to import: the parsers (and BeautifulSoup, lxml,
markdown-it, pypdf) load on first use.

Invariants of every returned document: sections are in reading order; bodies lie in
``[0, len(text)]``, do not overlap and increase; ``section.path[-1] == section.title``;
a section's level is greater than its parent's; heading text lies between bodies and
every other non-whitespace character lies in exactly one body.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal, get_args

from ...errors import InputError, ParseError
from ...types import ParsedDocument

__all__ = ["parse_path", "parse_text", "parse_file", "TextFormat", "SUPPORTED_SUFFIXES"]

logger = logging.getLogger(__name__)

TextFormat = Literal["text", "markdown", "html"]
_TEXT_SUFFIXES = frozenset([".txt", ".text", ".rst", ""])
_MARKDOWN_SUFFIXES = frozenset([".md", ".markdown"])
_HTML_SUFFIXES = frozenset([".html", ".htm", ".xhtml"])
_PDF_SUFFIXES = frozenset([".pdf"])
SUPPORTED_SUFFIXES = _TEXT_SUFFIXES | _MARKDOWN_SUFFIXES | _HTML_SUFFIXES | _PDF_SUFFIXES


def parse_text(text: str, source: str = "<text>", format: TextFormat = "text") -> ParsedDocument:
    """Parse an in-memory string as plain text, Markdown or HTML.

    Raises :class:`ParseError` for empty/whitespace-only text and :class:`InputError`
    for an unknown ``format``.
    """
    if format not in get_args(TextFormat):
        raise InputError(f"unknown format {format!r}; use one of {', '.join(get_args(TextFormat))}")
    if not isinstance(text, str):
        raise InputError(f"parse_text expects str, got {type(text).__name__}; decode bytes first")
    if format == "markdown":
        from .markdown import parse_markdown

        return parse_markdown(text, source)
    if format == "html":
        from .html import parse_html

        return parse_html(text, source)
    from .text import parse_plain_text

    return parse_plain_text(text, source)


def parse_file(path: str | os.PathLike[str]) -> ParsedDocument:
    """Parse one file, choosing the parser by suffix (unknown suffixes are read as text)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p} does not exist or is not a regular file; check the path")
    suffix = p.suffix.lower()
    if suffix in _MARKDOWN_SUFFIXES:
        from .markdown import parse_markdown_file

        return parse_markdown_file(p)
    if suffix in _HTML_SUFFIXES:
        from .html import parse_html_file

        return parse_html_file(p)
    if suffix in _PDF_SUFFIXES:
        from .pdf import parse_pdf_file

        return parse_pdf_file(p)
    from .text import parse_text_file

    return parse_text_file(p)


def _folder_items(folder: Path, recursive: bool) -> list[Path]:
    """Supported files and HTML-book subfolders under ``folder`` (sorted, hidden skipped)."""
    from .html_book import is_html_book

    items: list[Path] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if is_html_book(entry):
                items.append(entry)
            elif recursive:
                items.extend(_folder_items(entry, recursive))
        elif entry.is_file():
            if entry.suffix.lower() in SUPPORTED_SUFFIXES:
                items.append(entry)
            else:
                logger.warning("skipping %s: unsupported file type %r", entry, entry.suffix)
    return items


def _parse_folder(folder: Path, recursive: bool) -> list[ParsedDocument]:
    """Parse every supported file of a folder; files that fail are skipped with a warning."""
    items = _folder_items(folder, recursive)
    if not items:
        raise InputError(f"{folder} contains no supported files "
                         f"({', '.join(sorted(s for s in SUPPORTED_SUFFIXES if s))} or no suffix)")
    docs: list[ParsedDocument] = []
    errors: list[str] = []
    for item in items:
        try:
            docs.append(_parse_one(item))
        except InputError as exc:  # ParseError included: one bad file must not sink the folder
            logger.warning("skipping %s: %s", item, exc)
            errors.append(str(exc))
    if not docs:
        raise ParseError(f"none of the {len(items)} files in {folder} could be parsed; "
                         f"first error: {errors[0]}")
    return docs


def _parse_one(path: Path) -> ParsedDocument:
    """A file, or an HTML-book folder."""
    if path.is_dir():
        from .html_book import parse_html_book

        return parse_html_book(path)
    return parse_file(path)


def parse_path(path: str | os.PathLike[str], *, recursive: bool = True) -> list[ParsedDocument]:
    """Parse a file or a folder into documents.

    A file gives one document (parser chosen by suffix). A folder that is a multi-page
    HTML book (``index.html`` with ``<link rel="next">``) gives ONE document; any other
    folder gives one document per supported file (sorted; subfolders too when
    ``recursive``; HTML-book subfolders as one document each). Unsupported files, and
    files that fail to parse inside a folder, are skipped with a logged warning.

    Raises :class:`InputError` when the path does not exist or a folder has no supported
    file, and :class:`ParseError` when a file (or every file of a folder) cannot be parsed.
    """
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise InputError(f"{p} does not exist; check the path (files or folders are accepted)")
    if p.is_dir():
        from .html_book import is_html_book

        if is_html_book(p):
            return [_parse_one(p)]
        return _parse_folder(p, recursive)
    return [parse_file(p)]
