"""Name answers: a question asking for an entry's name is answered by a name the kept text writes.

Asked "which trap option prints every signal name with its number?" over the ``trap`` entry
("The -l option causes the shell to print a list of signal names..."), the small generator wrote
``trap``; asked for "the command DROP USER is another spelling of", it wrote ``dropuser`` over
"DROP USER is simply an alternate spelling of DROP ROLE."; asked for a constructor argument, it
wrote ``maxtasksperchild``, which the kept ``max_tasks_per_child`` is not. A name question
(:func:`h2mt.query.entries.asks_for_name`) whose kept text has no entry describing it well enough
to answer by itself (:func:`h2mt.query.entries.described_entries`) is answered under
``task="auto"`` by **constrained decoding** over the names of what the generator reads
(:func:`name_candidates`), the choice :mod:`h2mt.query.symbols` makes among symbols
(:func:`h2mt.query.symbols.choose_span`): the answer is always a name of the kept text, and never
one the question writes.

The candidates, in reading order, first occurrences only:

1. the keys of the entries the read leaves hold or are headed by (``dropuser``, ``trap``,
   ``enable-bracketed-paste``: :func:`h2mt.query.entries.split_entries`);
2. names written in their sentences: options (``-l``, ``--tablespace``), identifiers joined by
   ``_`` or ``.`` (``max_tasks_per_child``, ``ast.unparse``) or by two hyphens or more
   (``shell-backward-kill-word``; one hyphen is mostly prose: "long-running"), mixed case
   (``countOf``, ``ThreadingHTTPServer``), upper-case words and their runs (``OPTARG``,
   ``COMMIT PREPARED``), a call's name (``getpwuid()`` -> ``getpwuid``);

never a name the question writes (an echo), a Roman numeral (a part's number in a heading), an
abbreviation of prose (``e.g``) or a word of the manual's own title.

The choice is off by default (``PrefillConfig.constrain_names``): over 149 name questions of sets
47-79 whose answer it would make, the generator writing the name freely was right 74 times and its
choice among these names 59 times (paired -0.101, -0.168 to -0.034; ``scripts/name_candidates_probe.py``,
docs/benchmarks.md, stop 51). Forced to open its answer with a name, the small generator picks a
neighbouring one; written freely, its sentence ("The option that ... is ``-a``") more often copies
the right one, and a plain lower-case name (``cmdhist``) is no candidate at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..types import ScoredNode
from .entries import _names, split_entries

__all__ = ["name_candidates", "written_names", "MAX_NAMES"]

MAX_NAMES = 48  # at most this many distinct names compete (first occurrences first)

_WORD = re.compile(r"(?<![\w$@./\\-])(?:--?[A-Za-z][\w-]*|[A-Za-z_][\w.-]*\w|[A-Za-z_])(?![\w$@-]|\.\w)")
_CAPS = re.compile(r"[A-Z][A-Z0-9_]+")  # OPTARG, COMMIT, PG_VERSION
_MIXED = re.compile(r"(?=.*[a-z])(?=.*[A-Z])(?![A-Z][a-z0-9]+$)")  # countOf, PQsetSingleRowMode; not "Title"
_HYPHENATED = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+){2,}")  # next-screen-line; "long-running" is prose
_ROMAN = re.compile(r"^[IVXLC]+$")  # "Part VI": a heading's numbering
_PROSE = frozenset({"e.g", "i.e", "etc", "vs", "cf"})
_TITLE_NAMES = frozenset({"PostgreSQL", "Python", "Bash"})  # the manuals' own names


def _named(name: str, question: str) -> bool:
    """Whether ``question`` writes ``name`` (as a whole word; case ignored except for an option,
    ``-n`` not being ``-N``), or ``name`` is a dotted name whose last part it writes."""
    return any(_names(n, question) for n in {name, name.rsplit(".", 1)[-1]} if len(n) > 1)


def _is_name(word: str) -> bool:
    """Whether the word ``word`` of prose is written as a name (module docstring, step 2)."""
    if word.startswith("-"):
        return len(word) > 1
    if word.lower() in _PROSE or word in _TITLE_NAMES or _ROMAN.match(word):
        return False
    return bool("_" in word or "." in word or _HYPHENATED.fullmatch(word) or _CAPS.fullmatch(word)
                or ("-" not in word and _MIXED.match(word)))


def written_names(text: str) -> list[str]:
    """The names written in the prose ``text``, in order, repeats included (module docstring, step
    2); a run of upper-case words ("COMMIT PREPARED") is a name, then each of its words."""
    found = [(m.start(), m.end(), m.group(0)) for m in _WORD.finditer(text) if _is_name(m.group(0))]
    out: list[str] = []
    i = 0
    while i < len(found):
        j = i + 1  # found[i:j]: a run of upper-case words with nothing but blanks between them
        while (_CAPS.fullmatch(found[i][2]) and j < len(found) and _CAPS.fullmatch(found[j][2])
               and not text[found[j - 1][1]:found[j][0]].strip(" \t")):
            j += 1
        if j - i > 1:
            out.append(" ".join(w for _, _, w in found[i:j]))
        out += [w for _, _, w in found[i:j]]
        i = j
    return out


def name_candidates(question: str, sources: Sequence[ScoredNode], limit: int = MAX_NAMES) -> list[str]:
    """The names a name question's answer is chosen among: those of the entries of ``sources`` (the
    leaves or excerpts the generator reads) and those their text writes, in reading order, first
    occurrences only, none that ``question`` writes; at most ``limit``."""
    entries = split_entries(sources)
    keys: dict[int, list[str]] = {}
    for e in entries:  # an entry's keys come first among its leaf's names
        keys.setdefault(e.leaf, []).extend(e.keys[:1])
    out: list[str] = []
    for i, s in enumerate(sources):
        for name in [*keys.get(i, []), *written_names(s.node.text)]:
            if name not in out and not _named(name, question):
                out.append(name)
    return out[:limit]
