"""Query likelihood (h2mt.query.likelihood): the backend's continuation log-probabilities, the
re-ranking of the fused passage order and the engine's use of it under task="auto"."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from h2mt import H2MT, H2MTConfig, PrefillConfig
from h2mt.backends import load_backend
from h2mt.config import BackendConfig
from h2mt.errors import ConfigError, InputError
from h2mt.query.answer import focus_sources, rank_passages, rerank
from h2mt.query.likelihood import can_score, likelihoods, passage_prompt

from tests._tiny import make_tiny_model_dir
from tests.test_answer_task import ENTRIES, ScriptedBackend


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    return load_backend(BackendConfig(model=str(make_tiny_model_dir(tmp_path_factory.mktemp("tiny"))), device="cpu"))


def _reference(backend, prefix: list[int], tail: list[int]) -> list[float]:
    """One unpadded forward over prefix + tail: log p of each tail token."""
    with torch.inference_mode():
        logits = backend.model(input_ids=torch.tensor([prefix + tail])).logits[0].float()  # (L, V)
    logp = torch.log_softmax(logits[len(prefix) - 1:-1], -1)  # (Q, V): positions predicting the tail
    return logp.gather(1, torch.tensor(tail)[:, None])[:, 0].tolist()


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_padded_batches_score_the_continuation_as_one_unpadded_forward_does(tiny, batch):
    prefixes = [tiny.encode(t) for t in ("The capital of France is Paris.", "Rome",
                                         "Tokens, leaves, sections, documents and a corpus form a tree.")]
    tail = tiny.encode(" Which city is the capital?")
    got, ms = tiny.continuation_logprobs(prefixes, tail, batch=batch)
    assert ms > 0 and [len(r) for r in got] == [len(tail)] * 3
    for p, row in zip(prefixes, got, strict=True):
        assert row == pytest.approx(_reference(tiny, p, tail), abs=1e-4)


def test_continuation_logprobs_refuses_what_it_cannot_score(tiny):
    with pytest.raises(InputError, match="continuation is empty"):
        tiny.continuation_logprobs([[1, 2]], [])
    with pytest.raises(InputError, match="at least one token"):
        tiny.continuation_logprobs([[]], [1])


def test_likelihoods_are_the_mean_log_probability_of_the_question_after_each_passage(tiny):
    passages = ["The capital of France is Paris.", "one two three four five six seven eight"]
    q = "Which city is the capital of France?"
    scores, _ = likelihoods(tiny, q, passages)
    tail = tiny.encode(" " + q)
    for p, s in zip(passages, scores, strict=True):
        ref = _reference(tiny, tiny.encode(passage_prompt(p)), tail)
        assert s == pytest.approx(sum(ref) / len(ref), abs=1e-4)
    assert likelihoods(tiny, q, list(reversed(passages)))[0] == pytest.approx(list(reversed(scores)), abs=1e-4)
    assert likelihoods(tiny, q, []) == ([], 0.0)


def test_a_passage_is_cut_to_its_first_words():
    assert passage_prompt("a b c d e", words=3) == "Passage: a b c\nA question this passage answers:"


def test_only_a_local_model_can_score(tiny):
    assert can_score(tiny)
    assert not can_score(ScriptedBackend("x"))  # no log-probabilities
    tiny.takes_messages = True  # a server's text, not its logits
    try:
        assert not can_score(tiny)
    finally:
        del tiny.takes_messages


def test_rerank_moves_only_the_scored_items_among_their_own_places():
    order = [4, 0, 1, 2, 3]
    # scored 0, 1, 2, 3 (order ranks 0..3); likelihood order 3, 0, 1, 2: RRF (k=5) gives 0, 3, 1, 2
    assert rerank(order, {0: -2.0, 1: -3.0, 2: -4.0, 3: -1.0}) == [4, 0, 3, 1, 2]
    assert rerank(order, {0: -1.0, 1: -2.0, 2: -3.0, 3: -4.0}) == order  # agreement: unchanged
    assert rerank(order, {3: 0.0}) == order  # one scored item has no one to trade places with
    assert rerank(order, {}) == order


def test_a_likelihood_that_agrees_with_the_fused_order_leaves_it_as_is():
    passages = ["Database snapshots are kept for 35 days.", "Cache entries expire after four minutes.",
                "Logs go to the server's log directory."]
    q = "How long are database snapshots kept?"
    fused = rank_passages(q, passages, [0.9, 0.2, 0.1])
    same = {i: -float(r) for r, i in enumerate(fused)}
    assert rank_passages(q, passages, [0.9, 0.2, 0.1], same) == fused
    flipped = {fused[0]: -9.0, fused[1]: -1.0, fused[2]: -0.5}  # the generator's order reversed
    # RRF: first 1/5 + 1/7 ties last 1/7 + 1/5 (the fused order breaks it), both above 1/6 + 1/6
    assert rank_passages(q, passages, [0.9, 0.2, 0.1], flipped) == [fused[0], fused[2], fused[1]]


class LikelihoodBackend(ScriptedBackend):
    """A scripted backend that also 'scores' passages: those naming ``liked`` are likely."""

    def __init__(self, liked: str, *replies: str) -> None:
        super().__init__(*replies)
        self.liked, self.scored = liked, []

    def encode(self, text: str) -> list[int]:
        self.scored.append(text)
        return [1 + (self.liked in text)] * max(1, len(text.split()))

    def continuation_logprobs(self, prefixes: Sequence[Sequence[int]], continuation: Sequence[int],
                              batch: int | None = None) -> tuple[list[list[float]], float]:
        return [[0.0 if 2 in p else -5.0] * len(continuation) for p in prefixes], 1.5


def _vars_engine(tmp_path: Path, encoder, counter, be, rerank_leaves: int) -> H2MT:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "vars.md").write_text(ENTRIES["vars.md"], encoding="utf-8")
    # the generated brief answer's passages (whole leaves), ranked with BM25 sentences (not quoted in their places)
    cfg = H2MTConfig(prefill=PrefillConfig(rerank_leaves=rerank_leaves, placed_sentences=False, focus_sentences=0))
    return H2MT.build([tmp_path], cfg, encoder=encoder, token_counter=counter, backend=be)


def test_a_brief_answer_reads_the_passages_the_generator_reranks_first(tmp_path, encoder, counter):
    q = "What does the retention policy do for database snapshots?"
    be = LikelihoodBackend("Where the server writes its logs", "It keeps them for some days.")
    eng = _vars_engine(tmp_path, encoder, counter, be, rerank_leaves=3)
    kept = eng.route(q, budget=400).kept
    passages = [" ".join([*s.node.path, s.node.text]) for s in kept]
    sim = [eng._similarity(q, kept)[s.node.id] for s in kept]
    fused = rank_passages(q, passages, sim)
    liked = next(i for i, p in enumerate(passages) if be.liked in p)
    scores = {i: (0.0 if i == liked else -5.0) for i in fused[:3]}
    ans = eng.answer(q, budget=400)
    assert ans.accounting.leaves_reranked == min(3, len(kept)) and ans.accounting.rerank_ms == 1.5
    expect = focus_sources(q, kept, similarity=sim, likelihood=scores)
    assert [s.node.id for s in ans.sources] == [s.node.id for s in expect]
    assert liked in fused[:3] and rank_passages(q, passages, sim, scores) != fused  # the generator's order counted


def test_without_rerank_leaves_or_scores_nothing_is_reranked(tmp_path, encoder, counter):
    q = "What does the retention policy do for database snapshots?"
    be = LikelihoodBackend("logs", "It keeps them for some days.")
    ans = _vars_engine(tmp_path, encoder, counter, be, rerank_leaves=0).answer(q, budget=400)
    assert ans.accounting.leaves_reranked == 0 and ans.accounting.rerank_ms == 0.0 and not be.scored
    plain = ScriptedBackend("It keeps them for some days.")  # no log-probabilities: the fused order
    ans = _vars_engine(tmp_path / "b", encoder, counter, plain, rerank_leaves=3).answer(q, budget=400)
    assert ans.accounting.leaves_reranked == 0


def test_rerank_leaves_must_not_be_negative():
    with pytest.raises(ConfigError, match="rerank_leaves"):
        PrefillConfig(rerank_leaves=-1)
