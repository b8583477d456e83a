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
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from ...errors import InputError, ParseError
from ...types import ParsedDocument

__all__ = ["parse_path", "parse_text", "parse_file", "Format", "FORMATS", "TextFormat", "SUPPORTED_SUFFIXES"]

logger = logging.getLogger(__name__)

TextFormat = str  # a name in FORMATS whose format has a ``text_parser`` (text, markdown, html)


@dataclass(frozen=True)
class Format:
    """One input format: the file suffixes it claims and its parsers, named ``module:function``
    inside this package and imported on first use (so ``import h2mt`` loads no parser library).

    ``file_parser(path) -> ParsedDocument``; ``text_parser(text, source) -> ParsedDocument`` when
    the format can also be given as an in-memory string (:func:`parse_text`).
    """

    suffixes: frozenset[str]
    file_parser: str
    text_parser: str | None = None

    def load(self, which: str) -> Callable[..., ParsedDocument]:
        """The parser function named by ``file_parser`` or ``text_parser``."""
        spec = getattr(self, which)
        module, name = spec.split(":")
        fn: Callable[..., ParsedDocument] = getattr(import_module(f"{__name__}.{module}"), name)
        return fn


# The registry of formats (docs/architecture.md section 5, "How to add a format"): one entry per
# format, one parser module per entry. Suffixes not claimed here are read as text by parse_file.
FORMATS: dict[str, Format] = {
    "text": Format(frozenset([".txt", ".text", ".rst", ""]), "text:parse_text_file", "text:parse_plain_text"),
    "markdown": Format(frozenset([".md", ".markdown"]), "markdown:parse_markdown_file", "markdown:parse_markdown"),
    "html": Format(frozenset([".html", ".htm", ".xhtml"]), "html:parse_html_file", "html:parse_html"),
    "pdf": Format(frozenset([".pdf"]), "pdf:parse_pdf_file"),
}
SUPPORTED_SUFFIXES = frozenset().union(*(f.suffixes for f in FORMATS.values()))


def parse_text(text: str, source: str = "<text>", format: TextFormat = "text") -> ParsedDocument:
    """Parse an in-memory string in a format that has a text parser (plain text, Markdown, HTML).

    Raises :class:`ParseError` for empty/whitespace-only text and :class:`InputError`
    for an unknown ``format``.
    """
    known = [name for name, f in FORMATS.items() if f.text_parser]
    if format not in known:
        raise InputError(f"unknown format {format!r}; use one of {', '.join(known)}")
    if not isinstance(text, str):
        raise InputError(f"parse_text expects str, got {type(text).__name__}; decode bytes first")
    return FORMATS[format].load("text_parser")(text, source)


def format_of(path: Path) -> Format:
    """The format claiming ``path``'s suffix (case-insensitive); plain text when none does."""
    suffix = path.suffix.lower()
    return next((f for f in FORMATS.values() if suffix in f.suffixes), FORMATS["text"])


def parse_file(path: str | os.PathLike[str]) -> ParsedDocument:
    """Parse one file, choosing the parser by suffix (unknown suffixes are read as text)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p} does not exist or is not a regular file; check the path")
    parser: Any = format_of(p).load("file_parser")
    return parser(p)


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
