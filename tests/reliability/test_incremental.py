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
    key = lambda n: (  # noqa: E731
        n.id, n.kind, n.title, n.parent, n.children, n.doc, n.start, n.end, n.tokens, n.depth, n.path, n.text
    )
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


def test_a_file_added_under_another_spelling_replaces_and_is_removed(encoder, counter, small_cfg, tmp_path,
                                                                      monkeypatch):
    """`net.md` and `/abs/net.md` are one document: add replaces it, remove finds it either way."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.md").write_text("# Net\n\nSockets carry bytes between hosts over the network.\n")
    (tmp_path / "other.md").write_text("# Other\n\nThe history list recalls previous commands.\n")
    eng = H2MT.build(["other.md"], small_cfg, encoder=encoder, token_counter=counter)
    eng.add(["net.md"], token_counter=counter)
    eng.add([str(tmp_path / "net.md")], token_counter=counter)  # the same file, spelled absolutely
    eng.add(["./net.md"], token_counter=counter)
    assert len(eng.index.documents) == 2
    r = eng.route("sockets network bytes", budget=10_000)
    assert len([k for k in r.kept if "Sockets" in k.node.text]) == 1  # the leaf is there once
    assert eng.remove([str(tmp_path / "net.md")]) == 1  # absolute removes the relatively added file
    assert [d["title"] for d in eng.index.documents] == ["Other"]
    eng.add([str(tmp_path / "net.md")], token_counter=counter)
    assert eng.remove(["net.md"]) == 1  # and relative removes the absolutely added one


def test_an_identical_document_is_recognised_by_its_content(encoder, counter, small_cfg, tmp_path):
    text = "# Net\n\nSockets carry bytes between hosts over the network.\n"
    (tmp_path / "net.md").write_text(text)
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "net.md").write_text(text)
    eng = H2MT.build([tmp_path / "net.md"], small_cfg, encoder=encoder, token_counter=counter)
    assert eng.index.documents[0]["sha256"] and eng.index.documents[0]["key"] == str((tmp_path / "net.md").resolve())
    eng.add([tmp_path / "copy" / "net.md"], token_counter=counter)
    assert [d["source"] for d in eng.index.documents] == [str(tmp_path / "copy" / "net.md")]


def test_old_index_records_without_a_key_still_match(build, counter, tmp_path, encoder, monkeypatch):
    """Indexes saved before documents had a ``key``/``sha256`` load, and add/remove still find them."""
    monkeypatch.chdir(tmp_path)
    a, b, c = docs()
    eng = build([a, b])
    for d in eng.index.documents:  # as an older h2mt wrote them
        d.pop("key", None)
        d.pop("sha256", None)
    eng.save(tmp_path / "old.h2mt")
    old = H2MT.load(tmp_path / "old.h2mt", encoder=encoder)
    old.add([make_doc([(1, "1 history", 12)], seed=9, title="B", source="b.md")], token_counter=counter)
    assert [d["source"] for d in old.index.documents] == ["a.md", "b.md"]
    assert old.remove([str(tmp_path / "a.md")]) == 1


def test_a_file_given_twice_in_one_build_is_indexed_once(encoder, counter, small_cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.md").write_text("# Net\n\nSockets carry bytes between hosts over the network.\n")
    eng = H2MT.build(["net.md", str(tmp_path / "net.md")], small_cfg, encoder=encoder, token_counter=counter)
    assert len(eng.index.documents) == 1
