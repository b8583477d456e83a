"""Markdown files: ATX and setext headings (found by markdown-it-py) -> nested sections.

``doc.text`` is the file content exactly; a section body runs from the line after its
heading to the first line of the next heading. Headings inside code blocks, HTML blocks
and YAML front matter do not count.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ...errors import EmptySourceError, ParseError
from ...types import ParsedDocument
from ._structure import Mark, build_sections, collapse_ws, doc_stem
from .text import read_text_file

__all__ = ["parse_markdown", "parse_markdown_file"]

_NEWLINE = re.compile(r"\r\n|\r|\n")
_FRONT_MATTER = re.compile(r"\A---[ \t]*(?:\r\n|\r|\n).*?(?:\r\n|\r|\n)(?:---|\.\.\.)[ \t]*(?:\r\n|\r|\n|\Z)", re.S)


def _line_starts(text: str) -> list[int]:
    """Character offset of the start of every line (same line breaks as markdown-it)."""
    return [0] + [m.end() for m in _NEWLINE.finditer(text)]


def _inline_text(token: Any) -> str:
    """Plain text of an inline token (emphasis, code and link markup removed)."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_inline_text(child))
    return collapse_ws("".join(parts))


def _heading_marks(text: str) -> list[tuple[int, int, int, str]]:
    """(first line, line after, level, title) for each heading, in order."""
    from markdown_it import MarkdownIt

    fm = _FRONT_MATTER.match(text)
    skip_lines = len(_line_starts(fm.group(0))) - 1 if fm else 0
    tokens = MarkdownIt("commonmark").parse(text)
    found: list[tuple[int, int, int, str]] = []
    for i, tok in enumerate(tokens):
        if tok.type != "heading_open" or tok.map is None or tok.map[0] < skip_lines:
            continue
        title = _inline_text(tokens[i + 1]) if i + 1 < len(tokens) else ""
        found.append((tok.map[0], tok.map[1], int(tok.tag[1:]), title))
    return found


def parse_markdown(text: str, source: str = "<text>") -> ParsedDocument:
    """Parse Markdown text into a document whose sections follow its headings."""
    if not text.strip():
        raise EmptySourceError(f"{source} is empty; nothing to index")
    try:
        headings = _heading_marks(text)
    except Exception as exc:  # markdown-it is lenient; this guards against internal bugs
        raise ParseError(f"cannot parse Markdown in {source}: {exc}") from exc
    starts = _line_starts(text)

    def pos(line: int) -> int:
        return starts[line] if line < len(starts) else len(text)

    h1 = [title for _, _, level, title in headings if level == 1]
    doc_title = h1[0] if len(h1) == 1 and h1[0] else doc_stem(source)
    marks: list[Mark] = []
    first = pos(headings[0][0]) if headings else len(text)
    if text[:first].strip():
        marks.append(Mark("resume", doc_title, 0, 0))
    for line0, line1, level, title in headings:
        meta = {"line": line0 + 1}
        marks.append(Mark("heading", title, pos(line0), pos(line1), level, meta))
    sections = build_sections(marks, len(text), doc_title)
    return ParsedDocument(source, doc_title, text, sections, {"format": "markdown"})


def parse_markdown_file(path: str | os.PathLike[str]) -> ParsedDocument:
    """Read and parse a Markdown file."""
    return parse_markdown(read_text_file(path), str(path))
