"""Incremental add/remove equals a fresh build over the same documents."""

from __future__ import annotations

import numpy as np
import pytest
from h2mt import H2MT, InputError

from tests._docs import make_doc


def docs():
    return [
        make_doc([(1, "1 redirections", 20), (2, "1.1 variables", 15)], seed=1, title="A", source="a.md"),
        make_doc([(1, "1 signals", 25)], seed=2, title="B", source="b.md"),
        make_doc([(1, "1 config", 10), (1, "2 history", 30)], seed=3, title="C", source="c.md"),
    ]


def same(a: H2MT, b: H2MT) -> None:
    key = lambda n: (n.id, n.kind, n.title, n.parent, n.children, n.doc, n.start, n.end, n.tokens, n.depth, n.path, n.text)  # noqa: E731
    assert [key(n) for n in a.index.nodes] == [key(n) for n in b.index.nodes]
    np.testing.assert_allclose(a.index.embeddings, b.index.embeddings, atol=1e-6)
    assert a.index.lexical.vocab == b.index.lexical.vocab
    assert abs(a.index.lexical.matrix - b.index.lexical.matrix).max() == 0
    np.testing.assert_allclose(a.index.lexical.idf, b.index.lexical.idf)
    np.testing.assert_allclose(a.index.lexical.avg_len, b.index.lexical.avg_len)
    assert [d["source"] for d in a.index.documents] == [d["source"] for d in b.index.documents]
    for q in ("trap signal", "history event", "export variable"):
        ra, rb = a.route(q, budget=80), b.route(q, budget=80)
        assert [(k.node.id, round(k.score, 6)) for k in ra.kept] == [(k.node.id, round(k.score, 6)) for k in rb.kept]


@pytest.fixture()
def build(encoder, counter, small_cfg):
    return lambda ds: H2MT.build(ds, small_cfg, encoder=encoder, token_counter=counter)


def test_add_equals_fresh_build(build, counter):
    a, b, c = docs()
    eng = build([a, b])
    assert eng.add([c], token_counter=counter) == 1
    same(eng, build([a, b, c]))


def test_remove_equals_fresh_build(build):
    a, b, c = docs()
    eng = build([a, b, c])
    assert eng.remove(["b.md"]) == 1
    same(eng, build([a, c]))


def test_add_replaces_a_document_with_the_same_source(build, counter):
    a, b, c = docs()
    b2 = make_doc([(1, "1 history", 12)], seed=9, title="B", source="b.md")
    eng = build([a, b, c])
    eng.add([b2], token_counter=counter)
    same(eng, build([a, c, b2]))


def test_update_survives_save_and_load(build, counter, tmp_path, encoder):
    a, b, c = docs()
    eng = build([a])
    eng.add([b, c], token_counter=counter)
    eng.save(tmp_path / "i.h2mt")
    same(H2MT.load(tmp_path / "i.h2mt", encoder=encoder), build([a, b, c]))


def test_remove_errors(build):
    a, b, _ = docs()
    eng = build([a, b])
    with pytest.raises(InputError, match="not|None"):
        eng.remove(["nope.md"])
    eng.remove(["a.md"])
    with pytest.raises(InputError, match="empty"):
        eng.remove(["b.md"])
