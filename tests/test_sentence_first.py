"""Sentence-first selection (``PrefillConfig.sentence_pool``): the route gathers more than the budget and the
budget goes to the leaves of the best-ranked sentences first.

:func:`h2mt.query.select.by_sentences` on hand-made pools, then the engine: the budget is kept, the leaves come
from the wider route, and the leaf of the best-ranked sentence is kept (a re-ranking of the
sentences moving the budget to another leaf: tests/test_cross_ranker.py)."""

from __future__ import annotations

import pytest
from h2mt import H2MT, H2MTConfig, PrefillConfig
from h2mt.errors import ConfigError
from h2mt.query.evidence import rank_sentences
from h2mt.query.select import by_sentences
from h2mt.types import Node, NodeKind, ScoredNode

from .test_answer_task import ScriptedBackend

DOC = ("# Operations\n\n## Snapshots\n\nThe panel lists each database snapshot with its size, its owner and the time "
       "it was taken. Names are shown in the panel.\n\n"
       "## Jobs\n\nThe cleanup job runs at night. Old database snapshots are deleted after 35 days.\n\n"
       "## Logging\n\nEvery job writes a log line when it starts and when it ends.\n")
QUESTION = "What happens to old database snapshots?"


def _leaf(i: int, tokens: int, score: float) -> ScoredNode:
    return ScoredNode(Node(id=i, kind=NodeKind.LEAF, title="", parent=0, children=[], doc=0, start=0, end=0, depth=1,
                           path=(), text=f"leaf {i}", tokens=tokens), score)


def test_by_sentences_takes_the_given_order_then_the_scores_within_the_budget():
    pool = [_leaf(10, 40, 0.9), _leaf(11, 30, 0.8), _leaf(12, 30, 0.7), _leaf(13, 20, 0.1)]
    # the sentences rank leaf 12 first, then leaf 13 (repeated and out-of-range indices are ignored)
    kept = by_sentences(pool, [2, 3, 2, 9], 60)
    assert [k.node.id for k in kept] == [12, 13]  # 30 + 20 = 50; leaf 10 (40) no longer fits, leaf 11 (30) neither
    kept = by_sentences(pool, [2], 100)
    assert [k.node.id for k in kept] == [10, 11, 12]  # then by score: 10 (40), 11 (30); 13 would pass 100
    assert by_sentences(pool, [], 75) == sorted(pool[:2], key=lambda k: k.node.id)  # no order: the route's scores
    # a leaf too large for what is left is skipped and a smaller one tried; the result is in document order
    kept = by_sentences(pool, [0, 1, 3], 65)
    assert [k.node.id for k in kept] == [10, 13]
    assert sum(k.node.tokens for k in kept) <= 65
    assert by_sentences(pool, [0], 10) == []


def _engine(tmp_path, encoder, counter, **prefill) -> H2MT:
    (tmp_path / "ops.md").write_text(DOC, encoding="utf-8")
    cfg = H2MTConfig(prefill=PrefillConfig(task="auto", **prefill))
    return H2MT.build([tmp_path], cfg, encoder=encoder, token_counter=counter, backend=ScriptedBackend("never asked"))


def test_the_config_rejects_a_pool_below_the_budget():
    with pytest.raises(ConfigError, match="sentence_pool"):
        PrefillConfig(sentence_pool=0.5)


def test_the_budget_goes_to_the_leaf_of_the_best_ranked_sentence(tmp_path, encoder, counter):
    from h2mt.engine import _Signals

    eng = _engine(tmp_path, encoder, counter, sentence_pool=8.0)
    wide = eng.route(QUESTION, budget=8 * 20)
    assert len(wide.kept) == 3  # the whole document fits the wider route
    signals = _Signals(eng, QUESTION, wide.kept, True, 0, True)
    ranked = rank_sentences(QUESTION, [s.node.text for s in wide.kept], **signals.placed(wide.kept, always=True))
    best_leaf = wide.kept[ranked[0].leaf].node.id
    ans = eng.answer(QUESTION, budget=20)  # one leaf fits
    assert [s.node.id for s in ans.sources] == [best_leaf]
    assert "Old database snapshots are deleted after 35 days." in ans.text
    assert ans.accounting.tokens_total == wide.tokens_total
    assert ans.accounting.kept_ratio <= 20 / wide.tokens_total
