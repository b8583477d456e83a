"""The route's candidates ranked with flat search (h2mt.query.fusion, RouteConfig.flat_fusion)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from h2mt import H2MT, ChunkConfig, H2MTConfig, RouteConfig
from h2mt.query.fusion import RRF_K, flat_ranks, fuse_flat, fused_order

from tests.test_route_evidence import _nested

HIST = "History list command recall expansion event designator. " * 3
SIG = "Signal trap kill exit status fatal number process terminate. "


def _ranks(order: list[int], n: int) -> np.ndarray:
    r = np.full(n, -1)
    r[order] = np.arange(len(order))
    return r


def test_fused_order_is_the_route_order_when_flat_search_agrees():
    pool = {3: 0.9, 5: 0.7, 8: 0.5, 9: 0.1}
    same = _ranks([3, 5, 8, 9], 10)
    assert fused_order(pool, same, same) == [3, 5, 8, 9]


def test_fused_order_lets_both_flat_ranks_outvote_the_route():
    pool = {3: 0.9, 5: 0.7, 8: 0.5}
    flat = _ranks([8, 5, 3], 10)
    assert fused_order(pool, flat, flat) == [8, 5, 3]  # two votes against one
    split = _ranks([8, 3, 5], 10)
    assert fused_order(pool, split, _ranks([5, 3, 8], 10))[0] == 3  # flat search split: the route decides
    # the score: 1/(k + rank) summed over the three rankings
    d, lex = _ranks([5, 8, 3], 10), _ranks([8, 5, 3], 10)
    score = {c: 1 / (RRF_K + r) + 1 / (RRF_K + d[c]) + 1 / (RRF_K + lex[c]) for r, c in enumerate([3, 5, 8])}
    assert fused_order(pool, d, lex) == sorted(score, key=lambda c: -score[c])


def test_the_first_leaves_stay_first_and_scores_keep_their_scale():
    pool = {3: 0.9, 5: 0.7, 8: 0.5, 9: 0.1}
    flat = _ranks([9, 8, 5, 3], 10)
    out = fuse_flat(pool, [3, 8], flat, flat)
    assert list(out) == [3, 8, 9, 5]  # the leaves kept first, then flat search's order of the rest
    assert sorted(out.values(), reverse=True) == list(out.values()) == sorted(pool.values(), reverse=True)
    assert list(fuse_flat(pool, [], flat, flat)) == [9, 8, 5, 3]


@pytest.fixture(scope="module")
def eng(encoder, counter):
    chapters = [(f"Chapter {i} history", [(f"{i}.{j} history", HIST) for j in range(2)]) for i in range(4)]
    chapters[2] = ("Chapter 2 signals", [(f"2.{j} signals", SIG * 4) for j in range(3)]
                   + [("2.9 misc", SIG + "The zorbification threshold defaults to 17 in history recall.")])
    return H2MT.build([_nested(chapters)], H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8)),
                      encoder=encoder, token_counter=counter)


def test_flat_ranks_rank_every_leaf_by_its_own_cosine_and_bm25(eng, encoder):
    q = "zorbification threshold history recall"
    qids, qw = eng.index.lexical.query(q)
    cols = eng.index.lexical.columns(qids)
    dense, lexical = flat_ranks(eng.index, encoder.encode([q])[0], cols, qw, 1.2, 0.75)
    leaves = eng.index.leaf_ids
    assert (dense[~eng.index.leaf_mask] == -1).all() and sorted(dense[leaves]) == list(range(len(leaves)))
    cos = eng.index.embeddings[leaves] @ encoder.encode([q])[0]
    assert leaves[np.argmax(cos)] == np.flatnonzero(dense == 0)[0]
    bm25 = eng.index.lexical.scores(cols, qw, leaves.tolist(), 1.2, 0.75)
    assert leaves[np.argmax(bm25)] == np.flatnonzero(lexical == 0)[0]
    assert "zorbification" in eng.index.nodes[int(np.flatnonzero(lexical == 0)[0])].text


@pytest.mark.parametrize("q", ["zorbification threshold history recall", "signal trap history", "event designator"])
def test_protecting_every_kept_leaf_keeps_the_route(eng, q):
    """With ``flat_keep`` at least the number of kept leaves the fusion only re-orders what the route leaves out."""
    base = RouteConfig(budget=120, excerpt_share=0.0)
    off = eng.route(q, replace(base, flat_fusion=False))
    on = eng.route(q, replace(base, flat_fusion=True, flat_keep=len(off.kept)))
    assert [(k.node.id, k.score) for k in on.kept] == [(k.node.id, k.score) for k in off.kept]


def test_fusion_changes_only_the_order_of_the_reached_leaves(eng):
    q = "zorbification threshold history recall"
    base = RouteConfig(budget=40, excerpt_share=0.0, title_bonus=0.0, link_weight=0.0)
    wide = eng.route(q, replace(base, budget=10_000))
    reached = {k.node.id for k in wide.kept}
    for keep in (0, 1, 2):
        fused = eng.route(q, replace(base, flat_fusion=True, flat_keep=keep))
        assert {k.node.id for k in fused.kept} <= reached
        assert fused.tokens_kept <= 40
