"""Section titles as an exact-match channel for routing.

Headings name what a section is about, and users (and other sections) name headings:
a question asks about ``work_mem`` or ``Ed Wood``; a paragraph about a film names its
director, whose article is another section. :class:`TitleIndex` finds which section titles
a piece of text names, by exact match of normalised word n-grams. Routing uses it twice
(see :mod:`h2mt.query.routing`): sections the question names join the candidate pool with a
bonus, and sections named by the best candidates (cross-references, bridge entities)
join with a share of the naming leaf's score.

Titles are normalised to lowercase alphanumeric words; section numbers (``"19.4."``,
``"Chapter 20."``, ``"F.3."``; see :func:`split_number`), a trailing parenthetical
(``"work_mem (integer)"``, ``"Big Stone Gap (film)"``) and, as an extra alias, a comma qualifier
(``"Boston, Lincolnshire"``) are dropped; a person's name (``"Richard Nixon"``) is also named by
its surname (:func:`surname`); an API signature
(``"socket.setKeepAlive([enable][, initialDelay])"``) is also named by its identifier and the
identifier's last dotted part (``setKeepAlive``). Titles
that are too short, only stopwords, shared by many sections (``"Examples"``) or made of
common words only (``"string"``, ``"INDEX"`` in a database manual: their ``specificity``,
the rarest term's idf relative to the corpus' rarest, is below ``min_specificity``) are not
indexed: they name nothing in particular.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from ..types import Node, NodeKind

__all__ = [
    "TitleIndex", "title_keys", "surname", "signature_names", "words", "strip_title", "split_number", "unnumbered",
    "DIVISIONS",
]

#: Words that introduce a numbered top-level division: ``"Chapter 20."``, ``"Appendix F."``, ``"Part II."``.
DIVISIONS = ("chapter", "appendix", "part")

# The one section-numbering grammar (see split_number). Labels are case-insensitive, numbers are not:
# "Part II" and "Appendix F" are numbered, "Part of speech" is not.
_NUMBER = re.compile(
    r"(?P<prefix>"
    r"(?i:(?P<label>chapter|appendix|part|section))\s+[0-9A-Z]+(?:\.[0-9]+)*[.:]?(?=\s|$)"  # Chapter 20.
    r"|[0-9]+(?:\.[0-9]+)*\.?(?=\s)"  # 20.5.  3.2.1
    r"|[A-Z](?:\.[0-9]+)+\.?(?=\s)"  # F.3.  B.1 (a bare capital needs a numeric component)
    r")\s*"
)
_PAREN = re.compile(r"\s*[\(\[][^\)\]]*[\)\]]\s*$")
# An API signature title: an identifier (dotted, ``::``, ``#`` or ``->`` separated) and its argument list,
# ``socket.setKeepAlive([enable][, initialDelay])``, ``fs.readFile(path[, options], callback)``.
_SIGNATURE = re.compile(r"(?P<ident>[A-Za-z_$][\w$]*(?:(?:\.|::|#|->)[A-Za-z_$][\w$]*)*)\s*\(.*\)\s*;?")
_IDENT_SEP = re.compile(r"\.|::|#|->")
_WORD = re.compile(r"[0-9A-Za-z]+")


def words(text: str) -> list[str]:
    """Lowercase alphanumeric words of ``text`` (everything else separates words)."""
    return [w.lower() for w in _WORD.findall(text)]


def split_number(title: str) -> tuple[str, str]:
    """``title`` (stripped) split into its section-number prefix and the rest.

    A prefix is a dotted number followed by whitespace (``"20.5."``, ``"3.2.1"``), a capital
    letter with at least one numeric component (``"F.3."``, ``"B.1"``), or a label
    (``chapter``, ``appendix``, ``part``, ``section``; any case) followed by a number, a
    capital letter or a Roman numeral and an optional ``.`` or ``:`` (``"Chapter 20."``,
    ``"Appendix F."``, ``"Part II"``). Only a labelled prefix may stand alone
    (``"Chapter 20"`` -> ``("Chapter 20", "")``); otherwise a title that is nothing but a
    number is not numbered, nor is one whose first word merely starts with a digit::

        split_number("20.5. Write Ahead Log")    == ("20.5.", "Write Ahead Log")
        split_number("Chapter 20. Server Configuration") == ("Chapter 20.", "Server Configuration")
        split_number("F.3. auto_explain")        == ("F.3.", "auto_explain")
        split_number("2to3")                     == ("", "2to3")
        split_number("3D graphics")              == ("", "3D graphics")
        split_number("A Note on Style")          == ("", "A Note on Style")
    """
    t = title.strip()
    m = _NUMBER.match(t)
    if m is None or not (m.group("label") or m.end() < len(t)):
        return "", t
    return m.group("prefix"), t[m.end() :]


def unnumbered(title: str) -> str:
    """``title`` (stripped) without its section number; a title that is only a number is kept whole.

    ``"Chapter 20. Server Configuration"`` -> ``"Server Configuration"``, ``"3.2.1 Pipelines"``
    -> ``"Pipelines"``, ``"Chapter 20"`` -> ``"Chapter 20"``, ``"2to3"`` -> ``"2to3"``.
    """
    _, rest = split_number(title)
    return rest or title.strip()


def strip_title(title: str) -> str:
    """``title`` without its section number and trailing parenthetical."""
    return _PAREN.sub("", unnumbered(title))


def signature_names(title: str) -> list[str]:
    """The names of an API signature title: the identifier before the parenthesis and, when it is
    qualified, its last part: ``"socket.setKeepAlive([enable])"`` -> ``["socket.setKeepAlive",
    "setKeepAlive"]``; ``[]`` for a title that is not a signature."""
    m = _SIGNATURE.fullmatch(unnumbered(title))
    if m is None:
        return []
    ident = m.group("ident")
    last = _IDENT_SEP.split(ident)[-1]
    return [ident] if last == ident else [ident, last]


_PERSON = re.compile(r"[A-Z][a-z]+(?: [A-Z](?:[a-z]+|\.))?(?: [A-Z][a-z]+)")


def surname(title: str) -> str:
    """The last word of a title shaped like a person's name (two or three capitalised words, an initial
    allowed in the middle: ``"Richard Nixon"``, ``"Roger O. Egeberg"``), else ``""``. Text often names a
    person by surname alone ("the Nixon administration"), so the surname is a one-word alias of the
    title, under the one-word rules of :class:`TitleIndex` (case-sensitive, specific)."""
    t = strip_title(title)
    return t.rsplit(" ", 1)[-1] if _PERSON.fullmatch(t) else ""


def title_keys(title: str) -> list[tuple[str, ...]]:
    """The word sequences under which ``title`` is looked up (the full form, then aliases).

    A signature title (``socket.setKeepAlive([enable][, initialDelay])``) is also named by its
    identifier (``socket.setKeepAlive``) and the identifier's last part (``setKeepAlive``).
    """
    full = unnumbered(title)
    head = _PAREN.sub("", full)
    forms = [full, head] + ([head.split(",", 1)[0]] if head.count(",") == 1 else []) + signature_names(full)
    keys: list[tuple[str, ...]] = []
    for form in forms:
        k = tuple(words(form))
        if k and k not in keys:
            keys.append(k)
    return keys


class TitleIndex:
    """Normalised section titles -> node ids, for finding the titles a text names.

    A title of several words is named by that phrase (any case). A one-word title is a weaker
    name, so it must match case-sensitively (``"INDEX"`` is not named by "which index type"),
    be specific (``specificity`` maps a title to [0, 1]: how rare its rarest term is in the
    corpus; at least ``min_specificity``), and a plain lowercase word (``"string"``) must be
    rare (``specificity >= plain_specificity``). ``max_words`` bounds the phrase length;
    ``max_shared``: a title shared by more sections than this is too generic (``"Examples"``);
    ``min_chars``: shorter titles (joined words) are ignored.
    """

    def __init__(
        self,
        nodes: Sequence[Node],
        stopwords: Iterable[str] = (),
        specificity: Callable[[str], float] | None = None,
        min_specificity: float = 0.3,
        plain_specificity: float = 0.6,
        max_words: int = 8,
        max_shared: int = 3,
        min_chars: int = 4,
    ) -> None:
        stop = frozenset(stopwords)
        table: dict[tuple[str, ...], dict[int, str | None]] = {}
        for n in nodes:
            if n.kind not in (NodeKind.SECTION, NodeKind.DOCUMENT) or not n.title:
                continue
            alias = surname(n.title)
            keys = title_keys(n.title) + ([(alias.lower(),)] if alias else [])
            for key in keys:
                if len(key) > max_words or len("".join(key)) < min_chars or all(w in stop for w in key):
                    continue
                surface: str | None = None
                if len(key) == 1:
                    shown = _WORD.findall(strip_title(n.title)) + _WORD.findall(" ".join(signature_names(n.title)))
                    surface = next((w for w in shown if w.lower() == key[0]), None)
                    spec = 1.0 if specificity is None else specificity(n.title)
                    plain = surface is None or surface.isalpha() and surface.islower()
                    if surface is None or spec < (plain_specificity if plain else min_specificity):
                        continue
                table.setdefault(key, {}).setdefault(n.id, surface)
        self.table = {k: v for k, v in table.items() if len(v) <= max_shared}
        self.max_words = max((len(k) for k in self.table), default=0)

    def __len__(self) -> int:
        return len(self.table)

    def named_in(self, text: str) -> list[int]:
        """Ids of the sections whose title occurs in ``text``, in order of first occurrence.

        Matching is greedy longest-first, left to right: in "Kirton End is near Boston" the
        title "Kirton End" is named, not the shorter "Kirton" inside it.
        """
        if not self.table:
            return []
        raw = _WORD.findall(text)
        ws = [w.lower() for w in raw]
        out: dict[int, None] = {}
        i = 0
        while i < len(ws):
            for n in range(min(self.max_words, len(ws) - i), 0, -1):
                hits = self.table.get(tuple(ws[i : i + n]))
                if hits and n == 1:
                    hits = {nid: s for nid, s in hits.items() if s == raw[i]}
                if hits:
                    out.update(dict.fromkeys(hits))
                    i += n
                    break
            else:
                i += 1
        return list(out)
