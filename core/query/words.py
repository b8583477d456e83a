"""The words the answer rules compare a question with a kept text by (issue 25).

:mod:`h2mt.query.answer` (which kept leaf a question's name or value sits in),
:mod:`h2mt.query.evidence` (which kept sentence states the answer) and :mod:`h2mt.query.symbols`
compare a question with the kept text word by word: lower-cased runs of letters, digits and
underscores, without :data:`STOP_WORDS` and one-character words, each cut to its first
:data:`STEM_CHARS` characters (a stemmer for "concatenates" ~ "concatenation").
"""

from __future__ import annotations

import re

__all__ = ["GLUE_WORDS", "STOP_WORDS", "STEM_CHARS", "stem_list", "stems"]

STEM_CHARS = 5  # words are compared by their first five characters
GLUE_WORDS = frozenset({"is", "are", "was", "the", "a", "an", "of", "to", "and", "or", "that", "this", "it", "as",
                        ":", "-"})
"""Words that only join others: dropped at the edges of a cut (:func:`h2mt.query.answer.leaked_instruction_cut`)."""
STOP_WORDS = GLUE_WORDS | {"what", "which", "who", "how", "does", "do", "did", "in", "on", "for", "by", "with", "be",
                           "if", "when", "where", "why", "its", "their", "from", "at"}
"""Words that carry no content of a question or an answer."""
_WORD = re.compile(r"[a-z0-9_]+")


def stem_list(text: str) -> list[str]:
    """The content words of ``text`` in order, repeats kept, each cut to :data:`STEM_CHARS` characters."""
    return [w[:STEM_CHARS] for w in _WORD.findall(text.lower()) if w not in STOP_WORDS and len(w) > 1]


def stems(text: str) -> set[str]:
    """The distinct content words of ``text`` (:func:`stem_list` as a set)."""
    return set(stem_list(text))
