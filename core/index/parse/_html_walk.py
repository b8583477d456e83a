"""Walk an HTML DOM (BeautifulSoup) once, building readable text and structural marks.

The text is written while walking so every recorded offset is exact: block elements
are separated by newlines, inline whitespace is collapsed, ``<pre>`` keeps its
whitespace, and navigation chrome (tables of contents, nav headers/footers, pilcrow
anchors, scripts, styles) is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bs4 import BeautifulSoup, Tag
from bs4.element import NavigableString, PreformattedString

from ._html_rules import dl_items, find_anchor, is_admonition, is_dropped, table_header
from ._structure import Mark, collapse_ws, numbered_level

__all__ = ["WalkResult", "walk_html", "parse_soup"]

_BLOCK2 = frozenset("p pre h1 h2 h3 h4 h5 h6 dl ul ol table blockquote figure hr".split())
_BLOCK1 = frozenset(
    "address article aside body caption center dd details dialog dir div dt fieldset figcaption "
    "footer form header hgroup html li main menu section summary tbody thead tfoot tr legend".split()
)
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_WS = re.compile(r"\s+")
MIN_ENTRY_CHARS = 40  # a <dl> becomes entry sections when one of its <dd>s is this long
MIN_TABLE_CHARS = 600  # a headed <table> this long becomes a section titled by its caption and column names


@dataclass
class WalkResult:
    """Readable text, marks in reading order and the raw-document facts a book needs."""

    text: str
    marks: list[Mark]
    title: str
    first_h1: str
    links: dict[str, str] = field(default_factory=dict)  # rel -> href ("next", "up")


_CLOSES_HEADING = frozenset(
    ["h1", "h2", "h3", "h4", "h5", "h6", "p", "div", "table", "ul", "ol", "dl", "pre", "section", "article",
     "blockquote"]
)


class _Walker:
    """Stateful single pass over the DOM (text builder + mark recorder)."""

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self._line_starts: list[int] | None = None
        self.parts: list[str] = []
        self.length = 0
        self.trail_nl = 0
        self.pending_nl = 0
        self.pending_space = False
        self.pre = 0
        self.marks: list[Mark] = []
        self.resume_at: int | None = 0  # where a preamble/continuation would start
        self.heading: Tag | None = None  # the tag whose text is being recorded as a heading
        self.head_start = 0
        self.head_part = 0
        self.dl_depth = 0
        self.entry_first: dict[int, list[Tag]] = {}  # id(first dt) -> the group's dts
        self.entry_dd: set[int] = set()  # ids of registered dds
        self.open_dd: set[int] = set()  # ids of dds whose entry section is open
        self.dt_parts: list[int] = []  # len(parts) at the start of each dt of the open entry
        self.entry_dts: list[Tag] = []
        self.first_h1 = ""
        self.table: Tag | None = None  # the outermost table whose rows are a section of their own
        self.table_head: Tag | None = None  # its header row (or thead) while it is being written
        self.table_title = ""

    # ---- text building -------------------------------------------------------------
    def _emit(self, s: str) -> None:
        self.parts.append(s)
        self.length += len(s)

    def _flush(self) -> None:
        if self.length:
            if self.pending_nl > self.trail_nl:
                self._emit("\n" * (self.pending_nl - self.trail_nl))
                self.trail_nl = self.pending_nl
            elif self.pending_space and not self.trail_nl and not self.parts[-1][-1:].isspace():
                self._emit(" ")
        self.pending_nl = 0
        self.pending_space = False

    def _body_text(self) -> None:
        """Body text is about to be written: open a pending preamble/continuation."""
        if self.resume_at is not None and self.heading is None:
            self.marks.append(Mark("resume", "", self.resume_at, self.resume_at))
            self.resume_at = None

    def text(self, s: str) -> None:
        """Write a text node."""
        if self.pre:
            if not s:
                return
            if s.strip():
                self._body_text()
            self._flush()
            self._emit(s)
            stripped = s.rstrip("\n")
            self.trail_nl = (self.trail_nl if not stripped else 0) + len(s) - len(stripped)
            return
        core = _WS.sub(" ", s)
        if core.startswith(" "):
            self.pending_space = True
            core = core[1:]
        if not core:
            return
        trailing = core.endswith(" ")
        core = core.rstrip(" ")
        self._body_text()
        self._flush()
        self._emit(core)
        self.trail_nl = 0
        self.pending_space = trailing

    def block(self, n: int) -> None:
        """Request ``n`` newlines before the next text (block boundary)."""
        self.pending_nl = max(self.pending_nl, n)
        self.pending_space = False

    def line_break(self) -> None:
        """A ``<br>``: one forced newline."""
        if self.length:
            self._emit("\n")
            self.trail_nl += 1
        self.pending_space = False

    def content(self, part_index: int) -> str:
        """The text written since ``len(self.parts)`` was ``part_index``."""
        return "".join(self.parts[part_index:])

    # ---- source positions -------------------------------------------------------------
    def source_meta(self, tag: Tag) -> dict[str, Any]:
        """``source_offset`` (or ``source_line``) of a tag in the raw HTML."""
        line = getattr(tag, "sourceline", None)
        pos = getattr(tag, "sourcepos", None)
        if line is None:
            return {}
        if pos is None:
            return {"source_line": line}
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.raw)]
        if 0 < line <= len(self._line_starts):
            return {"source_offset": self._line_starts[line - 1] + pos, "source_line": line}
        return {"source_line": line}

    # ---- headings and entries ---------------------------------------------------------
    def begin_heading(self, tag: Tag) -> None:
        """Start recording heading text (the previous body ends here)."""
        self.heading = tag
        self.head_start = self.length
        self.head_part = len(self.parts)

    def end_heading(self, tag: Tag) -> None:
        """Finish an h1-h6 heading and record its mark when it has a title."""
        self.heading = None
        title = collapse_ws(self.content(self.head_part))
        if not title:
            return
        level = _HEADINGS[tag.name]
        if level == 1 and not self.first_h1:
            self.first_h1 = title
        num = numbered_level(title)
        meta = self.source_meta(tag)
        anchor = find_anchor(tag)
        if anchor:
            meta["anchor"] = anchor
        self.marks.append(
            Mark("heading", title, self.head_start, self.length, num or level, meta, level, num)
        )
        self.resume_at = None

    def begin_entry_list(self, dl: Tag) -> None:
        """Register the dt/dd groups of an outermost ``<dl>`` that deserve sections."""
        groups: list[tuple[list[Tag], Tag, int]] = []
        dts: list[Tag] = []
        for child in dl_items(dl):
            if child.name == "dt":
                dts.append(child)
            elif child.name == "dd" and dts:
                groups.append((dts, child, len(collapse_ws(child.get_text()))))
                dts = []
        if not any(size >= MIN_ENTRY_CHARS for _, _, size in groups):
            return  # a short list (glossary of one-liners, layout): plain body text
        for dts, dd, size in groups:
            if size:
                self.entry_first[id(dts[0])] = dts
                self.entry_dd.add(id(dd))

    def end_entry_title(self, dd: Tag | None) -> None:
        """A registered ``<dd>`` starts (``None``: its dl ended without it): the dt text is the title."""
        self.heading = None
        bounds = [*self.dt_parts, len(self.parts)]
        names = [collapse_ws("".join(self.parts[a:b])) for a, b in zip(bounds, bounds[1:], strict=False)]
        title = ", ".join(n for n in names if n)
        first = self.entry_dts[0]
        self.dt_parts = []
        if not title:
            return
        meta: dict[str, Any] = {"kind": "entry", **self.source_meta(first)}
        anchor = first.attrs.get("id") or find_anchor(first)
        if anchor:
            meta["anchor"] = str(anchor)
        self.marks.append(Mark("entry", title, self.head_start, self.length, 1, meta))
        self.resume_at = None
        if dd is None:
            self.resume_at = self.length
        else:
            self.open_dd.add(id(dd))  # its end starts a pending continuation

    def begin_table(self, table: Tag) -> None:
        """A long ``<table>`` with a header row becomes an entry section whose title is its caption
        and column names, so every leaf cut from its rows carries the header (its heading path);
        the header row's text is the section's heading, the rows its body."""
        title, head = table_header(table)
        if head is None or len(collapse_ws(table.get_text())) < MIN_TABLE_CHARS:
            return
        self.table, self.table_head, self.table_title = table, head, title
        self.begin_heading(head)

    def end_table_head(self) -> None:
        """The header row ended: record the table's entry mark; the rows are its body."""
        table = self.table
        assert table is not None
        self.heading = None
        self.table_head = None
        meta: dict[str, Any] = {"kind": "table", **self.source_meta(table)}
        anchor = table.attrs.get("id") or find_anchor(table)
        if anchor:
            meta["anchor"] = str(anchor)
        self.marks.append(Mark("entry", self.table_title, self.head_start, self.length, 1, meta))
        self.resume_at = None

    # ---- DOM events ---------------------------------------------------------------------
    def start(self, tag: Tag) -> None:
        """An element opens (it is not dropped)."""
        name = tag.name
        if name in _CLOSES_HEADING and self.heading is not None and self.heading.name in _HEADINGS:
            self.end_heading(self.heading)  # broken HTML: an unclosed heading ends at the next block
        if name in _BLOCK2:
            self.block(2)
        elif name in _BLOCK1:
            self.block(1)
        elif name == "br":
            self.line_break()
        elif name in ("td", "th"):
            self.pending_space = True
        if name == "pre":
            self.pre += 1
        elif name in _HEADINGS:
            if self.heading is None and not is_admonition(tag):
                self.begin_heading(tag)
        elif name == "dl":
            if self.dl_depth == 0 and self.heading is None and self.table is None:
                self.begin_entry_list(tag)
            self.dl_depth += 1
        elif name == "table" and self.table is None and self.heading is None and self.dl_depth == 0:
            self.begin_table(tag)
        elif name == "dt" and id(tag) in self.entry_first and self.heading is None:
            self.entry_dts = self.entry_first.pop(id(tag))
            self.begin_heading(tag)
            self.dt_parts = [len(self.parts)]
        elif name == "dt" and self.dt_parts and self.heading is not None and any(tag is t for t in self.entry_dts):
            self.dt_parts.append(len(self.parts))
        elif name == "dd" and id(tag) in self.entry_dd and self.dt_parts:
            self.end_entry_title(tag)

    def end(self, tag: Tag) -> None:
        """An element closes."""
        name = tag.name
        if name in _BLOCK2:
            self.block(2)
        elif name in _BLOCK1:
            self.block(1)
        if name == "pre":
            self.pre -= 1
        elif name in _HEADINGS and self.heading is tag:
            self.end_heading(tag)
        elif tag is self.table_head:
            self.end_table_head()
        elif tag is self.table:
            self.table = None
            self.resume_at = self.length  # text after the table continues the enclosing section
        elif name == "dl":
            self.dl_depth -= 1
            if self.dl_depth == 0 and self.dt_parts and self.heading is not None:
                self.end_entry_title(None)  # the group's <dd> was dropped or missing
        elif name == "dd" and id(tag) in self.open_dd:
            self.open_dd.discard(id(tag))
            self.resume_at = self.length

    def walk(self, root: Tag) -> None:
        """Visit every non-dropped node under ``root`` in document order (iteratively)."""
        stack = [(root, iter(root.contents))]
        while stack:
            node, it = stack[-1]
            child = next(it, None)
            if child is None:
                stack.pop()
                if node is not root:
                    self.end(node)
            elif isinstance(child, Tag):
                if not is_dropped(child):
                    self.start(child)
                    stack.append((child, iter(child.contents)))
            elif isinstance(child, NavigableString) and not isinstance(child, PreformattedString):
                self.text(str(child))
        if self.heading is not None:  # unclosed heading at the end of a broken document
            self.end_heading(self.heading)


def _links(soup: BeautifulSoup) -> dict[str, str]:
    """The page's ``rel`` links (first of each kind); "up" also from an ``accesskey="u"`` link."""
    links: dict[str, str] = {}
    for link in soup.find_all(["link", "a"], rel=True, href=True, limit=200):
        rels: Any = link.attrs.get("rel") or []
        for rel in rels.split() if isinstance(rels, str) else rels:
            links.setdefault(str(rel).lower(), str(link.attrs["href"]))
    up = soup.find("a", attrs={"accesskey": "u", "href": True})
    if isinstance(up, Tag):
        links["up"] = str(up.attrs["href"])
    return links


def parse_soup(raw: str) -> BeautifulSoup:
    """Parse HTML with the stdlib parser (exact source positions); lxml if that fails."""
    import warnings

    from bs4 import XMLParsedAsHTMLWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        try:
            return BeautifulSoup(raw, "html.parser")
        except Exception:  # html.parser gave up on badly broken markup; lxml is more lenient
            return BeautifulSoup(raw, "lxml")


def walk_html(raw: str, want_links: bool = False) -> WalkResult:
    """Parse and walk one HTML document: readable text, marks, title and (optionally) links."""
    soup = parse_soup(raw)
    walker = _Walker(raw)
    walker.walk(soup)
    title_tag = soup.find("title")
    title = collapse_ws(title_tag.get_text()) if isinstance(title_tag, Tag) else ""
    links = _links(soup) if want_links else {}
    return WalkResult("".join(walker.parts), walker.marks, title, walker.first_h1, links)
