"""The learned sentence re-ranking: its features, its order, its weights on disk, its training, and the
engine using it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from h2mt import PrefillConfig
from h2mt.query.evidence import Sentence, rank_sentences, split_sentences
from h2mt.query.sentence_ranker import (
    FEATURES,
    RANKER_TOP,
    SentenceRanker,
    features,
    load_sentence_ranker,
    ranker_path,
)
from h2mt.train.sentence_ranker import Group, RankerTraining, evidence_ranks, train_ranker

from .test_answer_task import ScriptedBackend

FUSED = FEATURES.index("fused_rank")


def _ranker(dim: int, fused_weight: float = 10.0, rank: int = 1, top: int = RANKER_TOP) -> SentenceRanker:
    w = np.zeros(len(FEATURES), np.float32)
    w[FUSED] = fused_weight
    return SentenceRanker(w, 0.0, np.zeros((dim, rank), np.float32), np.zeros((dim, rank), np.float32), top)


def _sentences(n: int) -> list[Sentence]:
    return [Sentence(leaf=i % 3, index=i, text=f"Sentence number {i} says something.", score=float(n - i), coverage=0.5)
            for i in range(n)]


def test_features_follow_the_fused_order_and_the_sentences():
    sents = _sentences(3) + [Sentence(3, 0, "option_name", 0.5, 0.1)]  # a term line: not quotable
    f = features(sents, ["Heading", "", "Heading", "entry"], [0.9, 0.5, 0.1, 0.3])
    assert f.shape == (4, len(FEATURES)) and f.dtype == np.float32
    col = {name: f[:, i] for i, name in enumerate(FEATURES)}
    assert np.allclose(col["fused_rank"], [1 / 5, 1 / 6, 1 / 7, 1 / 8])
    assert np.allclose(col["cosine"], [0.9, 0.5, 0.1, 0.3])
    assert np.allclose(col["bm25_share"], [1.0, 2 / 3, 1 / 3, 0.5 / 3])
    assert list(col["quotable"]) == [1, 1, 1, 0] and list(col["has_context"]) == [1, 0, 1, 1]
    assert np.allclose(col["leaf_position"], [1, 1 / 2, 1 / 3, 1 / 4])


def test_an_untrained_ranker_keeps_the_fused_order_and_a_reversed_one_reverses_only_its_top():
    rng = np.random.default_rng(0)
    n, dim = 20, 8
    feats = features(_sentences(n), [""] * n, list(rng.random(n)))
    asked, placed = rng.normal(size=dim), rng.normal(size=(n, dim))
    assert _ranker(dim).order(feats, asked, placed) == list(range(n))
    reversed_top = _ranker(dim, fused_weight=-10.0, top=5).order(feats, asked, placed)
    assert reversed_top == [4, 3, 2, 1, 0] + list(range(5, n))  # the rest keep the fusion's order


def test_the_bilinear_term_scores_the_question_against_each_sentence():
    dim = 4
    u = np.zeros((dim, 1), np.float32)
    v = np.zeros((dim, 1), np.float32)
    u[0, 0], v[1, 0] = 1.0, 1.0  # a question along axis 0 wants sentences along axis 1
    r = SentenceRanker(np.zeros(len(FEATURES), np.float32), 0.0, u, v)
    placed = np.eye(dim, dtype=np.float32)[:3]  # sentences along axes 0, 1, 2
    feats = np.zeros((3, len(FEATURES)), np.float32)
    assert r.order(feats, np.eye(dim, dtype=np.float32)[0], placed) == [1, 0, 2]
    assert r.order(feats, -np.eye(dim, dtype=np.float32)[0], placed)[-1] == 1  # the opposite question: last
    with pytest.raises(ValueError, match="4-d embeddings"):
        r.scores(feats, np.zeros(3), placed)


def test_weights_round_trip_and_a_mismatch_is_refused(tmp_path):
    rng = np.random.default_rng(1)
    r = SentenceRanker(rng.normal(size=len(FEATURES)).astype(np.float32), 0.5,
                       rng.normal(size=(6, 2)).astype(np.float32), rng.normal(size=(6, 2)).astype(np.float32), 12,
                       {"trained_on": ["a"]})
    r.save(tmp_path / "enc")
    back = load_sentence_ranker("enc", tmp_path / "enc")
    assert back is not None and back.top == 12 and back.card["trained_on"] == ["a"] and back.dim == 6
    assert np.array_equal(back.weights, r.weights) and np.array_equal(back.u, r.u) and back.bias == 0.5
    assert load_sentence_ranker("enc", tmp_path / "missing") is None
    card = (tmp_path / "enc.json").read_text().replace('"cosine"', '"other"')
    (tmp_path / "enc.json").write_text(card)
    with pytest.raises(ValueError, match="retrain"):
        load_sentence_ranker("enc", tmp_path / "enc")
    with pytest.raises(ValueError, match="expected"):
        SentenceRanker(np.zeros(3), 0.0, np.zeros((4, 1)), np.zeros((4, 1)))


def test_weights_are_shipped_for_the_default_encoder_whatever_its_runtime():
    assert ranker_path("all-MiniLM-L6-v2:onnx-int8") == ranker_path("all-MiniLM-L6-v2")
    shipped = load_sentence_ranker("all-MiniLM-L6-v2:onnx-int8")
    assert shipped is not None and shipped.dim == 384 and shipped.card["features"] == list(FEATURES)
    assert load_sentence_ranker("hashing-256") is None  # no weights for another encoder


def test_rank_sentences_applies_a_rerank_after_the_fusion():
    texts = ["Snapshots are taken nightly. Snapshots are kept for 35 days. Old snapshots are deleted."]
    question = "How long are snapshots kept?"

    def meaning(xs):
        return [0.5] * len(xs)

    fused = rank_sentences(question, texts, None, meaning)
    seen = {}

    def backwards(sentences, contexts):
        seen["in"] = [s.text for s in sentences]
        return list(range(len(sentences)))[::-1]

    again = rank_sentences(question, texts, None, meaning, backwards)
    assert seen["in"] == [s.text for s in fused]  # it sees the fused order
    assert [s.text for s in again] == [s.text for s in fused][::-1]
    with pytest.raises(ValueError, match="permutation"):
        rank_sentences(question, texts, None, meaning, lambda s, c: [0, 0, 1])


def _groups(n: int, seed: int) -> list[Group]:
    """Questions whose evidence is the candidate with the highest coverage, not the fusion's first."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = 8
        feats = np.zeros((k, len(FEATURES)), np.float32)
        feats[:, FUSED] = 1 / (5 + np.arange(k))
        feats[:, FEATURES.index("coverage")] = rng.random(k)
        ev = np.zeros(k, bool)
        ev[int(np.argmax(feats[:, FEATURES.index("coverage")]))] = True
        out.append(Group(feats, rng.normal(size=4).astype(np.float32), rng.normal(size=(k, 4)).astype(np.float32), ev))
    return out


def test_training_learns_which_candidate_is_the_evidence():
    train, held = _groups(300, 0), _groups(100, 1)
    ranker = train_ranker(train, RankerTraining(epochs=3), card={"trained_on": ["synthetic"]})
    before = sum(r == 0 for r in evidence_ranks(held, None))
    after = sum(r == 0 for r in evidence_ranks(held, ranker))
    assert after > before + 30 and ranker.card["training"]["groups"] == 300
    assert ranker.weights[FEATURES.index("coverage")] > 0
    with pytest.raises(ValueError, match="nothing to train"):
        train_ranker([replace(g, evidence=np.ones_like(g.evidence)) for g in train[:5]])


NOTE = ("# Backup\n\n## Snapshots\n\nDatabase snapshots are taken nightly by the backup job. "
        "Old database snapshots are deleted by the cleanup job after 35 days. "
        "The cleanup job logs every deleted snapshot.\n")


def _engine(tmp_path, encoder, counter, **prefill):
    from h2mt import H2MT, H2MTConfig

    (tmp_path / "backup.md").write_text(NOTE, encoding="utf-8")
    cfg = H2MTConfig(prefill=PrefillConfig(task="auto", **prefill))
    return H2MT.build([tmp_path], cfg, encoder=encoder, token_counter=counter, backend=ScriptedBackend("never asked"))


def test_the_engine_quotes_in_the_rankers_order_only_when_it_is_on(tmp_path, encoder, counter):
    question = "What happens to old database snapshots?"
    off = _engine(tmp_path, encoder, counter).answer(question)
    on_eng = _engine(tmp_path, encoder, counter, sentence_ranker=True)
    assert on_eng.sentence_ranker is None  # no weights for the hashing encoder: the fused order stands
    assert on_eng.answer(question).text == off.text
    on_eng._sentence_ranker = _ranker(encoder.dim, fused_weight=-10.0, top=2)  # swaps the fused first two
    on = on_eng.answer(question)
    assert "by the learned sentence ranker" in on.accounting.task_reason
    assert "learned" not in off.accounting.task_reason
    first, second, third = split_sentences(off.text)
    assert split_sentences(on.text) == [second, first, third]
