"""How well a section's own text supports its heading: the weight of a title match in routing.

Routing trusts headings as names (:mod:`h2mt.index.titles`): a section the question names joins the
candidates with a bonus. A heading the text under it contradicts (a paragraph about a football
club titled "Scott Derrickson") must earn little, so every title match is weighed by the section's
*agreement* a in [0, 1]:

- lexical support: the share of the title's terms (:func:`h2mt.index.lexical.analyze`, section
  number and trailing parenthetical dropped) that occur in the section's own text (its first
  ``body_leaves`` leaves);
- dense support, for titles of two or more plain words only: the cosine of the title's embedding with the
  embedding of that text (title line excluded), mapped linearly from ``dense_low`` (0) to
  ``dense_high`` (1);
- a = max(lexical, dense). A title that is one word, an identifier, a flag, a number or code
  (``Zorblax``, ``work_mem``, ``REPLY``, ``-P --pwprompt``, ``compat31``) cannot be judged this way
  (text rarely repeats such a name, and small encoders do not know it): it keeps a = 1.

On real HotpotQA paragraphs (MiniLM) the title-body cosine has a 5th percentile of 0.40 and
lexical support is 1 for 90%; under deranged titles the cosine's 90th percentile is 0.17 and
lexical support 0. Agreements are computed on first use, one batch per routing call, and cached
per index.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..types import NodeKind
from .lexical import analyze
from .titles import strip_title

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..types import Node
    from .encoders.base import Encoder

__all__ = ["TitleAgreement", "lexical_support", "dense_support", "plain_title"]

_PLAIN = re.compile(r"[A-Za-z][a-z]*(?:[ '’-][A-Za-z][a-z]*)*(?:,? [A-Za-z][a-z]*)*")


def plain_title(title: str) -> bool:
    """Whether ``title`` (number and parenthetical stripped) is plain words an encoder can judge: at least
    two words of letters (apostrophes, hyphens and commas allowed), none in capitals beyond its first
    letter. A one-word title is a bare name (``Zorblax``, ``Silene``) that text need not repeat."""
    t = strip_title(title)
    return " " in t and _PLAIN.fullmatch(t) is not None


def lexical_support(title: str, body: str) -> float:
    """Share of the title's distinct terms that occur in ``body`` (1.0 for a title without terms)."""
    terms = set(analyze(strip_title(title)))
    if not terms:
        return 1.0
    return len(terms & set(analyze(body))) / len(terms)


def dense_support(cos: float, low: float = 0.15, high: float = 0.35) -> float:
    """A title-body cosine mapped to [0, 1]: 0 at or below ``low``, 1 at or above ``high``."""
    return min(1.0, max(0.0, (cos - low) / (high - low)))


class TitleAgreement:
    """Cached agreement of sections with their titles for one index's ``nodes`` (see the module docstring)."""

    def __init__(self, nodes: Sequence[Node], body_leaves: int = 2, body_chars: int = 1200) -> None:
        self.nodes = nodes
        self.body_leaves = body_leaves  # leaves of the section read as its own text
        self.body_chars = body_chars  # at most this many characters of them
        self.cache: dict[int, float] = {}

    def body(self, section: int) -> str:
        """The first ``body_leaves`` leaves of ``section`` (document order), at most ``body_chars``."""
        nodes = self.nodes
        out: list[str] = []
        stack = [section]
        while stack and len(out) < self.body_leaves:
            n = nodes[stack.pop()]
            if n.kind == NodeKind.LEAF:
                out.append(n.text)
            else:
                stack.extend(reversed(n.children))
        return "\n".join(out)[: self.body_chars]

    def of(self, sections: list[int], encoder: Encoder) -> dict[int, float]:
        """Agreement of each of ``sections``; unknown ones are computed in one encoder batch."""
        todo = [s for s in dict.fromkeys(sections) if s not in self.cache]
        dense: list[tuple[int, str, str]] = []
        for s in todo:
            title, body = self.nodes[s].title, self.body(s)
            lex = lexical_support(title, body)
            if lex >= 1.0 or not plain_title(title) or not body:
                self.cache[s] = 1.0 if not plain_title(title) or not body else lex
            else:
                self.cache[s] = lex
                dense.append((s, strip_title(title), body))
        if dense:
            emb = encoder.encode([t for _, t, _ in dense] + [b for _, _, b in dense])  # (2K, D) unit rows
            k = len(dense)
            for i, (s, _, _) in enumerate(dense):
                cos = float(emb[i] @ emb[k + i])
                self.cache[s] = max(self.cache[s], dense_support(cos))
        return {s: self.cache[s] for s in sections}
