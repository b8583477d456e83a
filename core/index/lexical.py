"""Per-node lexical statistics (term counts aggregated bottom-up) and BM25 scoring.

Exact identifiers such as ``max_connections`` or ``PIPESTATUS`` defeat small dense
encoders; every node therefore also keeps the term counts of its subtree, so routing
can fuse dense and lexical evidence at every level.

:func:`analyze` and :func:`query_terms` are h2mt's one lexical tokenizer: the per-node BM25 here
and the flat ``bm25`` baseline of the benchmark both use them, so the two channels see the same
terms. Identifiers are terms: ``max_wal_size`` (and its parts), dotted names, command-line
flags (``-o``, ``--posix``), shell parameters (``$?``, ``$#``) and operator runs (``**``, ``&&``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..types import Node, NodeKind

if TYPE_CHECKING:
    import numpy as np

__all__ = ["analyze", "query_terms", "LexicalIndex", "build_lexical", "node_lexical", "LEXICAL_VERSION"]

LEXICAL_VERSION = 2
"""Version of the tokenizer (:func:`analyze`); an index whose lexical statistics were built by another
version has them rebuilt from its node texts on load (:func:`h2mt.index.store.load_index`)."""

_TOKEN = re.compile(
    r"[a-z0-9][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*"  # words, identifiers (max_wal_size), dotted names (os.path)
    r"|(?<![\w-])--?[a-z][a-z0-9]*(?:-[a-z0-9]+)*"  # command-line flags: -o, --posix, --no-edit
    r"|\$[?#@*!$0-9-]"  # shell special parameters: $? $# $@ $1
    r"|[*&|<>=!~^%+]{2,}"  # operator runs: ** && || >> !=
)
_PARTS = re.compile(r"[._-]+")
_QUESTION_WORDS = frozenset(
    "what which who whom whose when where why how does do did is are was were can could "
    "should would will shall may might must there their them they this that these those "
    "it its".split()
)
_CONTEXT_PHRASE = re.compile(
    r"\b(?:(?:mentioned|given|stated|described|provided|listed|found)\s+)?(?:in|from|by)\s+the\s+"
    r"(?:provided|given|above|following|preceding|attached)\s+(?:texts?|context|passages?|documents?|paragraphs?)\b"
    r"|\b(?:mentioned|stated|described|listed)\s+(?:in|by)\s+the\s+(?:texts?|context|passages?|documents?)\b"
    r"|\b(?:in|from)\s+the\s+(?:texts?|context|passages?|documents?)\s+(?:above|below)\b"
    r"|\baccording\s+to\s+the\s+(?:(?:provided|given|above)\s+)?(?:texts?|context|passages?|documents?)\b",
    re.IGNORECASE,
)
"""Phrases by which a question points at the context it is asked over ("mentioned in the provided text",
"according to the passage"): they name no content, so they are no query terms."""


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS)


def analyze(text: str) -> list[str]:
    """Lowercase terms; identifiers are kept whole *and* split into their parts.

    ``"max_connections"`` -> ``["max_connections", "max", "connections"]``; ``"set -o pipefail"``
    -> ``["set", "-o", "pipefail"]``; ``"$?"`` and ``"**"`` are terms of their own.
    """
    stop = _stopwords()
    out: list[str] = []
    for tok in _TOKEN.findall(text.lower()):
        if tok not in stop:
            out.append(tok)
        if tok[0].isalnum() and ("_" in tok or "." in tok) or tok.startswith("-") and len(tok) > 2:
            out.extend(p for p in _PARTS.split(tok) if p and p not in stop)
    return out


def query_terms(question: str) -> list[str]:
    """The distinct content terms of a question (:func:`analyze` without question words and without the
    phrases that only point at the context, :data:`_CONTEXT_PHRASE`), in order."""
    return [t for t in dict.fromkeys(analyze(_CONTEXT_PHRASE.sub(" ", question))) if t not in _QUESTION_WORDS]


@dataclass
class LexicalIndex:
    """Sparse (nodes x vocabulary) term counts with BM25 statistics."""

    vocab: dict[str, int]
    matrix: Any  # scipy.sparse.csr_matrix (N, V) float32: aggregated term counts per node
    idf: np.ndarray  # (V,) BM25 idf from leaf document frequencies
    avg_len: np.ndarray  # (N,) average row length among the nodes of the same depth

    def query(self, question: str) -> tuple[np.ndarray, np.ndarray]:
        """Vocabulary ids of the question's distinct content terms, and their idf weights."""
        import numpy as np

        terms = query_terms(question)
        ids = np.array([self.vocab[t] for t in terms if t in self.vocab], dtype=np.int64)
        return ids, self.idf[ids]

    def columns(self, ids: np.ndarray) -> Any:
        """Term counts of every node for the query terms, as CSR (N, len(ids)): postings only."""
        return self.matrix[:, ids].tocsr()

    def scores(
        self, cols: Any, weights: np.ndarray, rows: Sequence[int], k1: float, b: float
    ) -> np.ndarray:
        """BM25 of ``rows``, divided by the best score any node could reach (so in [0, 1])."""
        import numpy as np

        if weights.size == 0:
            return np.zeros(len(rows), dtype=np.float32)
        r = np.asarray(rows, dtype=np.int64)
        tf = cols[r].toarray()  # (R, Q)
        lengths = self.lengths[r][:, None]
        denom = tf + k1 * (1.0 - b + b * lengths / np.maximum(self.avg_len[r][:, None], 1e-6))
        s = (weights[None, :] * tf * (k1 + 1.0) / np.maximum(denom, 1e-9)).sum(1)
        return (s / (weights.sum() * (k1 + 1.0))).astype(np.float32)

    def top_rows(
        self, cols: Any, weights: np.ndarray, mask: np.ndarray, k: int, k1: float, b: float
    ) -> list[int]:
        """The ``k`` rows with the best BM25 (> 0) among the rows ``mask`` selects, best first. Reads the
        query terms' postings only: rows without any query term are never touched."""
        import numpy as np

        if weights.size == 0 or k <= 0:
            return []
        rows = np.flatnonzero(np.diff(cols.indptr))  # rows holding at least one query term
        rows = rows[mask[rows]]
        if rows.size == 0:
            return []
        s = self.scores(cols, weights, rows.tolist(), k1, b)
        top = np.argsort(-s, kind="stable")[:k]
        return [int(rows[i]) for i in top if s[i] > 0]

    @property
    def lengths(self) -> np.ndarray:
        """Row lengths (sum of term counts)."""
        import numpy as np

        cached = self.__dict__.get("_lengths")
        if cached is None:
            cached = np.asarray(self.matrix.sum(axis=1)).ravel().astype(np.float32)
            self.__dict__["_lengths"] = cached
        return cached


def build_lexical(
    texts: Sequence[str],
    parents: Sequence[int],
    depths: Sequence[int],
    is_leaf: Sequence[bool],
    title_weight: float = 3.0,
) -> LexicalIndex:
    """Term counts for every node: a leaf counts its text, an internal node its title
    (times ``title_weight``) plus everything below it (post-order aggregation).

    ``texts[i]`` is the leaf text for leaves and the title for internal nodes;
    ``parents[i] < i`` for all non-root nodes (pre-order ids).
    """
    import numpy as np
    import scipy.sparse as sp

    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for i, t in enumerate(texts):
        w = 1.0 if is_leaf[i] else title_weight
        for term in analyze(t):
            rows.append(i)
            cols.append(vocab.setdefault(term, len(vocab)))
            vals.append(w)
    n = len(texts)
    base = sp.csr_matrix((vals, (rows, cols)), shape=(n, max(1, len(vocab))), dtype=np.float32)
    leaf_mask = np.asarray(is_leaf, dtype=bool)
    df = np.asarray((base[leaf_mask] > 0).sum(axis=0)).ravel().astype(np.float64)
    n_leaves = max(1, int(leaf_mask.sum()))
    idf = np.log1p((n_leaves - df + 0.5) / (df + 0.5)).astype(np.float32)
    matrix = _aggregate_up(base, parents)
    lengths = np.asarray(matrix.sum(axis=1)).ravel()
    d = np.asarray(depths, dtype=np.int64)
    avg = np.zeros(n, dtype=np.float32)
    for depth in np.unique(d):
        m = d == depth
        avg[m] = lengths[m].mean()
    return LexicalIndex(vocab, matrix, idf, avg)


def node_lexical(nodes: Sequence[Node]) -> LexicalIndex:
    """:func:`build_lexical` over a tree's nodes (pre-order): leaves count their text, internal nodes
    their title."""
    return build_lexical(
        [n.text if n.kind == NodeKind.LEAF else n.title for n in nodes],
        [n.parent for n in nodes],
        [n.depth for n in nodes],
        [n.kind == NodeKind.LEAF for n in nodes],
    )


def _aggregate_up(base: Any, parents: Sequence[int]) -> Any:
    """Sum every row into all its ancestors: M = (I + descendants) @ base, via an ancestor walk."""
    import numpy as np
    import scipy.sparse as sp

    n = base.shape[0]
    rows: list[int] = []
    cols: list[int] = []
    for i in range(n):
        a = i
        while a >= 0:
            rows.append(a)
            cols.append(i)
            a = parents[a]
    desc = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, n))
    return (desc @ base).tocsr().astype(np.float32)
