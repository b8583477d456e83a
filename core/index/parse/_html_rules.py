"""DOM rules for HTML parsing: which elements are chrome, admonitions, entry lists, anchors."""

from __future__ import annotations

import re

from bs4 import Tag

from ._structure import collapse_ws

__all__ = ["tag_classes", "is_dropped", "is_admonition", "dl_items", "find_anchor", "table_header"]

_DROP_TAGS = frozenset(
    "script style head nav noscript template title svg button select iframe object embed canvas "
    "audio video".split()
)
_DROP_CLASSES = frozenset(
    "toc navheader navfooter nav-panel navigation copiable-anchor headerlink section-toc "
    "contents-heading shortcontents-heading breadcrumb breadcrumbs skip-link".split()
)
_DROP_DIV_CLASSES = frozenset(["contents", "header", "shortcontents"])
_ADMONITION_TITLES = frozenset("note notes tip tips warning caution important hint attention danger".split())
_ADMONITION_CLASSES = frozenset("note tip warning caution important hint attention danger admonition".split())
_HEADING_RE = re.compile(r"^h[1-6]$")


def tag_classes(tag: Tag) -> list[str]:
    """The lower-cased class tokens of a tag."""
    cls = tag.attrs.get("class")
    if not cls:
        return []
    tokens = cls.split() if isinstance(cls, str) else cls
    return [str(c).lower() for c in tokens]


def is_dropped(tag: Tag) -> bool:
    """Whether a tag is chrome whose text must not reach the document."""
    name = tag.name
    if name in _DROP_TAGS:
        return True
    attrs = tag.attrs
    if attrs.get("role") == "navigation" or str(attrs.get("id", "")).lower() == "toc":
        return True
    for c in tag_classes(tag) if "class" in attrs else ():
        if c in _DROP_CLASSES or c.startswith(("toc-", "toc_")) or c.endswith(("-toc", "_toc")):
            return True
        if name == "div" and c in _DROP_DIV_CLASSES:
            return True
    return False


def is_admonition(heading: Tag) -> bool:
    """A "Note"/"Warning" box title: body text, not a section (it would swallow what follows)."""
    if collapse_ws(heading.get_text()).casefold() in _ADMONITION_TITLES:
        return True
    node = heading.parent
    for _ in range(3):
        if not isinstance(node, Tag):
            return False
        if any(c in _ADMONITION_CLASSES for c in tag_classes(node)):
            return True
        node = node.parent
    return False


def dl_items(dl: Tag) -> list[Tag]:
    """The dt/dd children of a dl (looking through HTML5 ``<div>`` groups)."""
    items: list[Tag] = []
    for child in dl.children:
        if isinstance(child, Tag):
            if child.name in ("dt", "dd"):
                items.append(child)
            elif child.name == "div":
                items.extend(c for c in child.children if isinstance(c, Tag) and c.name in ("dt", "dd"))
    return items


def _caption(table: Tag) -> str:
    """A table's caption: ``<caption>``, else a DocBook ``<p class="title">`` just above it, else ``summary``."""
    cap = table.find("caption")
    if isinstance(cap, Tag) and cap.find_parent("table") is table:
        return collapse_ws(cap.get_text())
    node = table.parent
    for _ in range(2):
        if not isinstance(node, Tag):
            break
        title = node.find("p", class_="title", recursive=False)
        if isinstance(title, Tag):
            return collapse_ws(title.get_text())
        node = node.parent
    return collapse_ws(str(table.attrs.get("summary", "")))


def table_header(table: Tag) -> tuple[str, Tag | None]:
    """``(title, header element)`` of a table: the title is its caption and column names
    (``"Table 9.66. Session Information Functions: Function, Description"``); the header element is
    its ``<thead>``, else its first row when that row is all ``<th>``; ``("", None)`` without a header."""
    found = table.find("thead")
    head = found if isinstance(found, Tag) and found.find_parent("table") is table else None
    if head is None:
        row = table.find("tr")
        if not isinstance(row, Tag) or row.find_parent("table") is not table:
            return "", None
        cells = row.find_all(["td", "th"], recursive=False)
        if not cells or any(c.name != "th" for c in cells):
            return "", None
        head = row
    names = [collapse_ws(c.get_text()) for c in head.find_all("th")]
    cols = ", ".join(n for n in names if n)
    if not cols:
        return "", None
    cap = _caption(table)
    return (f"{cap}: {cols}" if cap else cols), head


def find_anchor(tag: Tag) -> str:
    """The best fragment identifier for a heading: own id, inner anchor, neighbour, ancestor."""
    own = tag.attrs.get("id")
    if own:
        return str(own)
    inner = tag.find("a", attrs={"id": True}) or tag.find("a", attrs={"name": True})
    if isinstance(inner, Tag):
        return str(inner.attrs.get("id") or inner.attrs.get("name"))
    prev = tag.find_previous_sibling()
    if isinstance(prev, Tag) and prev.attrs.get("id") and not prev.get_text(strip=True):
        return str(prev.attrs["id"])
    node = tag.parent
    for _ in range(4):
        if not isinstance(node, Tag) or node.name in ("body", "html", "[document]"):
            break
        if node.attrs.get("id") and node.find(_HEADING_RE) is tag:
            return str(node.attrs["id"])
        node = node.parent
    return ""
