"""Chunking, hierarchy and aggregation invariants (docs/architecture.md, house rule 8)."""

from __future__ import annotations

import numpy as np
import pytest
from h2mt import H2MT, ChunkConfig, H2MTConfig, HierarchyConfig, NodeKind
from h2mt.config import AggregateStrategy
from h2mt.index.aggregate import aggregate_children
from h2mt.index.chunking import SimpleTokenCounter, chunk_document
from h2mt.index.encoders.base import HashingEncoder
from h2mt.index.hierarchy import segment_consecutive
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests._docs import TOPICS, make_doc, manual


def check_tree_invariants(engine: H2MT, docs, cfg: H2MTConfig) -> None:
    idx = engine.index
    nodes = idx.nodes
    # pre-order ids, parents before children, children listed in document order
    for n in nodes:
        assert n.id == nodes.index(n) if len(nodes) < 300 else True
        for c in n.children:
            assert nodes[c].parent == n.id and c > n.id
        assert n.children == sorted(n.children)
    # every leaf reaches the root
    for leaf in idx.leaves():
        p, hops = leaf.parent, 0
        while p != 0:
            p = nodes[p].parent
            hops += 1
            assert hops < 100 and p >= 0
    # leaves tile each document: in order, no overlap, text is the exact slice, bounded tokens
    for d, doc in enumerate(docs):
        leaves = [n for n in idx.leaves() if n.doc == d]
        covered = np.zeros(len(doc.text), dtype=bool)
        for a, b in zip(leaves, leaves[1:], strict=False):
            assert a.end <= b.start
        for lf in leaves:
            assert doc.text[lf.start : lf.end] == lf.text
            assert lf.tokens <= cfg.chunk.max_tokens
            covered[lf.start : lf.end] = True
        for s in doc.sections:  # every non-space body character belongs to a leaf
            body = np.array([not c.isspace() for c in doc.text[s.start : s.end]], dtype=bool)
            assert not (body & ~covered[s.start : s.end]).any()
    # internal tokens are sums; internal embeddings are the aggregate of their children (+ title)
    titles = {n.id: engine.encoder.encode([n.title])[0] for n in nodes if n.kind != NodeKind.LEAF and n.title}
    for n in nodes:
        if n.kind == NodeKind.LEAF:
            continue
        assert n.tokens == sum(nodes[c].tokens for c in n.children)
        want = aggregate_children(
            idx.embeddings[n.children],
            np.array([nodes[c].tokens for c in n.children]),
            titles.get(n.id),
            cfg.hierarchy.aggregate,
            cfg.hierarchy.title_weight,
        )
        np.testing.assert_allclose(idx.embeddings[n.id], want, atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(idx.embeddings[n.id]), 1.0, atol=1e-5)


def test_structural_tree_follows_headings(manual_engine, small_cfg):
    idx = manual_engine.index
    hist = idx.find("2.1.1 history")[0]
    assert [a.title for a in idx.ancestors(hist.id)] == ["corpus", "Manual", "2 Advanced", "2.1 signals"]
    assert hist.path == ("Manual", "2 Advanced", "2.1 signals", "2.1.1 history")
    check_tree_invariants(manual_engine, [manual()], small_cfg)


def test_long_runs_of_leaves_get_semantic_groups(encoder, counter):
    # one heading-less document: 6 topic blocks, no structure at all
    text_spec = [(1, "Manual", 0)]
    doc = make_doc(text_spec)
    blocks = [make_doc([(1, name, 24)], seed=i).text for i, name in enumerate(TOPICS)]
    doc.text = "\n\n".join(b.split("\n", 1)[1] for b in blocks)
    doc.sections[0].start, doc.sections[0].end = 0, len(doc.text)
    cfg = H2MTConfig(
        chunk=ChunkConfig(max_tokens=40, min_tokens=4), hierarchy=HierarchyConfig(branching=4, semantic_min_leaves=6)
    )
    eng = H2MT.build([doc], cfg, encoder=encoder, token_counter=counter)
    groups = [n for n in eng.index.nodes if n.kind == NodeKind.GROUP]
    assert groups, "no semantic groups were formed"
    assert all(
        len(n.children) <= 4
        for n in eng.index.nodes
        if n.kind != NodeKind.LEAF and n.kind != NodeKind.SECTION and n.kind != NodeKind.DOCUMENT
    )
    depth = max(n.depth for n in eng.index.nodes)
    assert depth >= 4  # corpus > doc > group levels > leaf
    check_tree_invariants(eng, [doc], cfg)


def test_segment_cuts_at_topic_shift():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=16), rng.normal(size=16)
    rows = np.stack(
        [a + 0.05 * rng.normal(size=16) for _ in range(5)] + [b + 0.05 * rng.normal(size=16) for _ in range(5)]
    )
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    spans = segment_consecutive(rows, branching=8)
    assert spans == [(0, 5), (5, 10)]
    assert all(e - s <= 8 for s, e in segment_consecutive(np.tile(rows, (7, 1)), 8))


def test_chunks_respect_max_tokens_and_split_long_lines(counter):
    doc = make_doc([(1, "Only", 1)])
    doc.text = "x" * 5000 + " " + "word " * 3000
    doc.sections[0].start, doc.sections[0].end = 0, len(doc.text)
    leaves = chunk_document(doc, 0, counter, ChunkConfig(max_tokens=64, min_tokens=8))
    assert all(0 < lf.tokens <= 64 for lf in leaves)
    assert "".join(lf.text for lf in leaves).replace(" ", "") == doc.text.replace(" ", "")


@pytest.mark.parametrize("strategy", list(AggregateStrategy))
def test_aggregate_strategies(strategy):
    kids = np.eye(3, dtype=np.float32)
    v = aggregate_children(kids, np.array([1, 1, 2]), None, strategy, 0.0)
    assert np.isclose(np.linalg.norm(v), 1.0)
    if strategy == AggregateStrategy.LENGTH_WEIGHTED:
        assert v[2] > v[0] == pytest.approx(v[1])
    elif strategy == AggregateStrategy.MEAN:
        assert np.allclose(v, v[0])


section_spec = st.lists(
    st.tuples(st.integers(1, 4), st.sampled_from(sorted(TOPICS)), st.integers(0, 25)), min_size=1, max_size=12
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=section_spec, seed=st.integers(0, 1000), max_tokens=st.integers(16, 80), branching=st.integers(2, 6))
def test_tree_invariants_property(spec, seed, max_tokens, branching):
    # levels may skip (1 -> 4); titles repeat; sections may be empty
    spec2 = [(lvl, f"{i} {name}", n) for i, (lvl, name, n) in enumerate(spec)]
    spec2[0] = (1, spec2[0][1], max(spec2[0][2], 1))
    docs = [make_doc(spec2, seed=seed), make_doc(spec2[::-1], seed=seed + 1, title="Second")]
    for s in docs[1].sections:
        s.level = 1
    cfg = H2MTConfig(
        chunk=ChunkConfig(max_tokens=max_tokens, min_tokens=4),
        hierarchy=HierarchyConfig(branching=branching, semantic_min_leaves=max(branching, 3)),
    )
    eng = H2MT.build(docs, cfg, encoder=HashingEncoder(64), token_counter=SimpleTokenCounter())
    check_tree_invariants(eng, docs, cfg)


def test_continuation_text_returns_to_its_section(encoder, counter, small_cfg):
    doc = make_doc([(1, "A redirections", 3), (2, "A1 variables", 3), (1, "A redirections", 3), (1, "B signals", 3)])
    doc.sections[2].meta["kind"] = "continuation"
    eng = H2MT.build([doc], small_cfg, encoder=encoder, token_counter=counter)
    a = eng.index.find("A redirections")
    assert len(a) == 1
    kinds = [eng.index.nodes[c].kind for c in a[0].children]
    assert kinds == [NodeKind.LEAF, NodeKind.SECTION, NodeKind.LEAF]
    check_tree_invariants(eng, [doc], small_cfg)


def test_external_leaves_keep_their_ids_and_structure(encoder, counter, small_cfg):
    from h2mt import LeafInput

    words = {k: v for k, v in TOPICS.items()}
    inputs = [
        LeafInput("Intro text " + words["config"], "n0", doc="d1", doc_title="Guide"),
        LeafInput(words["redirections"], "n1", doc="d1", path=("Shell", "Redirections")),
        LeafInput(words["redirections"] + " again", "n2", doc="d1", path=("Shell", "Redirections")),
        LeafInput(words["variables"], "n3", doc="d1", path=("Shell", "Variables")),
        LeafInput(words["signals"], "n4", doc="d1", path=("Shell",)),
        LeafInput(words["history"], "n5", doc="d2", path=("History",), doc_title="Other"),
        LeafInput("   ", "blank", doc="d2"),
    ]
    eng = H2MT.from_leaves(inputs, small_cfg, encoder=encoder, token_counter=counter)
    idx = eng.index
    leaves = idx.leaves()
    assert [n.ref for n in leaves] == ["n0", "n1", "n2", "n3", "n4", "n5"]
    assert [n.text for n in leaves] == [x.text for x in inputs[:6]]
    red = idx.find("Redirections")[0]
    assert [idx.nodes[c].ref for c in red.children] == ["n1", "n2"]
    shell = idx.find("Shell")
    assert len(shell) == 1
    assert [idx.nodes[c].title or idx.nodes[c].ref for c in shell[0].children] == ["Redirections", "Variables", "n4"]
    assert [d["title"] for d in idx.documents] == ["Guide", "Other"]
    assert idx.nodes[leaves[0].parent].kind == NodeKind.DOCUMENT
    r = eng.route("trap kill signal", budget=counter([inputs[4].text])[0])
    assert [k.node.ref for k in r.kept] == ["n4"]
