"""h2mt.index.lexical: term analysis, bottom-up aggregated term counts, BM25 statistics and scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
from h2mt.index.lexical import analyze, build_lexical

# A corpus root (0) with a titled section (1) holding two leaves (2, 3), and a leaf (4) of its own.
TEXTS = ["", "Signals", "trap kill signal", "kill the process", "history list"]
PARENTS = [-1, 0, 1, 1, 0]
DEPTHS = [0, 1, 2, 2, 1]
IS_LEAF = [False, False, True, True, True]


@pytest.fixture(scope="module")
def lex():
    return build_lexical(TEXTS, PARENTS, DEPTHS, IS_LEAF)


def _row(lex, node: int) -> dict[str, float]:
    dense = lex.matrix.toarray()[node]
    return {t: float(dense[j]) for t, j in lex.vocab.items() if dense[j]}


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("max_connections", ["max_connections", "max", "connections"]),  # whole and split
        ("The PIPESTATUS array", ["pipestatus", "array"]),  # lowercased, stopword dropped
        ("_private", ["private"]),  # a term starts with a letter or digit
        ("work_mem=4MB, 2to3!", ["work_mem", "work", "mem", "4mb", "2to3"]),
        ("what is it", []),  # only stopwords
        ("", []),
    ],
)
def test_analyze(text, terms):
    assert analyze(text) == terms


def test_internal_nodes_count_their_title_and_everything_below(lex):
    assert _row(lex, 2) == {"trap": 1, "kill": 1, "signal": 1}  # a leaf: its text, weight 1
    assert _row(lex, 1) == {"signals": 3, "trap": 1, "kill": 2, "signal": 1, "process": 1}  # title x3 + leaves
    assert _row(lex, 0) == {**_row(lex, 1), "history": 1, "list": 1}  # the root: the whole corpus
    heavier = build_lexical(TEXTS, PARENTS, DEPTHS, IS_LEAF, title_weight=5.0)
    assert _row(heavier, 1)["signals"] == 5


def test_idf_comes_from_leaf_document_frequencies(lex):
    n = 3  # leaves

    def bm25_idf(df: int) -> float:
        return math.log1p((n - df + 0.5) / (df + 0.5))

    idf = {t: float(lex.idf[j]) for t, j in lex.vocab.items()}
    assert idf["kill"] == pytest.approx(bm25_idf(2))  # in two leaves
    assert idf["trap"] == pytest.approx(bm25_idf(1))
    assert idf["signals"] == pytest.approx(bm25_idf(0))  # only in a title: no leaf has it
    assert idf["signals"] > idf["trap"] > idf["kill"]


def test_average_length_is_per_depth(lex):
    lengths = lex.matrix.toarray().sum(1)
    np.testing.assert_allclose(lex.lengths, lengths)
    d1, d2 = (lengths[1] + lengths[4]) / 2, (lengths[2] + lengths[3]) / 2  # depths 1 and 2
    np.testing.assert_allclose(lex.avg_len, [lengths[0], d1, d2, d2, d1])


def test_query_keeps_distinct_known_content_terms(lex):
    ids, weights = lex.query("What does kill do to Signals? kill zzz")
    assert [t for j in ids for t, k in lex.vocab.items() if k == j] == ["kill", "signals"]  # first-seen order
    np.testing.assert_allclose(weights, lex.idf[ids])
    ids, weights = lex.query("which is it")
    assert ids.size == 0 and weights.size == 0


def test_bm25_scores_are_normalised_and_rank_by_term_evidence(lex):
    ids, weights = lex.query("trap kill")
    cols = lex.columns(ids)
    assert cols.shape == (len(TEXTS), 2)
    s = lex.scores(cols, weights, [2, 3, 4], k1=1.2, b=0.75)
    assert s.dtype == np.float32 and s.shape == (3,)
    assert s[0] > s[1] > s[2] == 0.0  # both terms > the common one only > neither
    assert np.all((s >= 0) & (s <= 1))
    none = lex.scores(cols[:, :0], weights[:0], [0, 1, 2], k1=1.2, b=0.75)
    np.testing.assert_array_equal(none, np.zeros(3, dtype=np.float32))


def test_bm25_length_normalisation_follows_b():
    texts = ["", "kill", "kill " + " ".join(f"pad{i}" for i in range(20))]
    lex = build_lexical(texts, [-1, 0, 0], [0, 1, 1], [False, True, True])
    ids, weights = lex.query("kill")
    cols = lex.columns(ids)
    short, long = lex.scores(cols, weights, [1, 2], k1=1.2, b=0.75)
    assert short > long  # the same count in a longer leaf is weaker evidence
    flat = lex.scores(cols, weights, [1, 2], k1=1.2, b=0.0)
    assert flat[0] == pytest.approx(flat[1])  # b = 0: no length normalisation
