"""h2mt.index.update: document subtrees copied into a new layout equal a fresh build.

The facade's add/remove/replace/save paths are covered in tests/reliability/test_incremental.py;
these tests drive :func:`combine` and :func:`document_range` directly.
"""

from __future__ import annotations

import numpy as np
import pytest
from h2mt import H2MT
from h2mt.index.index import Index
from h2mt.index.update import combine, document_range

from tests._docs import make_doc

DOCS = [
    make_doc([(1, "1 redirections", 12), (2, "1.1 variables", 10)], seed=11, title="A", source="a.md"),
    make_doc([(1, "1 signals", 14)], seed=12, title="B", source="b.md"),
    make_doc([(1, "1 config", 8), (1, "2 history", 16)], seed=13, title="C", source="c.md"),
]


def assert_same(a: Index, b: Index) -> None:
    def key(n):
        return (n.id, n.kind, n.title, n.parent, n.children, n.doc, n.start, n.end, n.tokens, n.depth, n.path, n.text)

    assert [key(n) for n in a.nodes] == [key(n) for n in b.nodes]
    np.testing.assert_allclose(a.embeddings, b.embeddings, atol=1e-6)
    assert a.lexical.vocab == b.lexical.vocab
    assert abs(a.lexical.matrix - b.lexical.matrix).max() == 0
    np.testing.assert_allclose(a.lexical.idf, b.lexical.idf)
    assert [d["source"] for d in a.documents] == [d["source"] for d in b.documents]


@pytest.fixture(scope="module")
def build(encoder, counter, small_cfg):
    return lambda docs: H2MT.build(docs, small_cfg, encoder=encoder, token_counter=counter)


def test_add_then_remove_equals_a_fresh_build_of_the_rest(build, counter):
    a, b, c = DOCS
    eng = build([a])
    eng.add([b, c], token_counter=counter)
    eng.remove(["b.md"])
    assert_same(eng.index, build([a, c]).index)
    eng.add([b], token_counter=counter)  # back in, now last
    assert_same(eng.index, build([a, c, b]).index)


def test_document_ranges_partition_the_tree(build):
    index = build(DOCS).index
    ranges = [document_range(index, index.nodes[d]) for d in index.root.children]
    assert ranges[0][0] == 1 and ranges[-1][1] == len(index.nodes)
    assert all(prev[1] == nxt[0] for prev, nxt in zip(ranges, ranges[1:], strict=False))
    for d, (s, e) in enumerate(ranges):
        assert {n.doc for n in index.nodes[s:e]} == {d}
        assert all(s <= c < e for n in index.nodes[s:e] for c in n.children)  # a subtree is self-contained


def test_combine_reorders_and_merges_documents(build, encoder, small_cfg):
    a, b, c = DOCS
    abc, b_only = build([a, b, c]).index, build([b]).index
    assert_same(combine([(abc, [2, 0])], encoder, small_cfg.hierarchy), build([c, a]).index)
    merged = combine([(abc, [0]), (b_only, [0]), (abc, [2])], encoder, small_cfg.hierarchy)
    assert_same(merged, build([a, b, c]).index)


def test_combine_copies_documents_without_re_encoding_them(build, encoder, small_cfg):
    index = build(DOCS).index
    before = [(n.id, n.parent, list(n.children), n.doc) for n in index.nodes]
    emb = index.embeddings.copy()
    calls: list[list[str]] = []

    class Counting:
        name, dim, kind = encoder.name, encoder.dim, encoder.kind

        def encode(self, texts, *, progress=False):
            calls.append(list(texts))
            return encoder.encode(texts)

    out = combine([(index, [1, 2])], Counting(), small_cfg.hierarchy)
    assert calls == ([[index.root.title]] if index.root.title else [])  # at most the root's title is encoded
    s, _ = document_range(index, index.nodes[index.root.children[1]])
    np.testing.assert_array_equal(out.embeddings[1:], index.embeddings[s:])  # documents B and C, copied
    # the source index is left as it was
    assert [(n.id, n.parent, list(n.children), n.doc) for n in index.nodes] == before
    np.testing.assert_array_equal(index.embeddings, emb)
