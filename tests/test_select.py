"""h2mt.query.select.select_leaves: the best-scoring leaves that fit the budget, in document order."""

from __future__ import annotations

import pytest
from h2mt.query.select import select_leaves
from h2mt.types import Node, NodeKind


def leaves(*tokens: int) -> list[Node]:
    """Leaves with ids 0..n-1 (document order) and the given token counts."""
    return [Node(i, NodeKind.LEAF, "", -1, [], 0, 0, 0, t, 1, (f"s{i}",), text=f"leaf {i}")
            for i, t in enumerate(tokens)]


def kept(nodes: list[Node], pool: dict[int, float], budget: int, min_score: float | None = None) -> list[int]:
    return [k.node.id for k in select_leaves(nodes, pool, budget, min_score)]


def test_budget_is_respected_and_the_result_is_in_document_order():
    nodes = leaves(30, 20, 40, 10, 50)
    pool = {4: 0.9, 0: 0.8, 3: 0.7, 2: 0.6, 1: 0.5}
    out = select_leaves(nodes, pool, 100)
    assert [k.node.id for k in out] == [0, 3, 4]  # 50 + 30 + 10 (the 40 no longer fits, nor the 20)
    assert sum(k.node.tokens for k in out) <= 100
    assert [k.score for k in out] == [0.8, 0.7, 0.9]  # each keeps its pool score


@pytest.mark.parametrize("budget", [1, 9, 10, 35, 60, 149, 150, 1000])
def test_never_over_budget(budget):
    nodes = leaves(10, 25, 40, 15, 60)
    pool = {i: 1.0 - i / 10 for i in range(5)}
    assert sum(nodes[i].tokens for i in kept(nodes, pool, budget)) <= budget


def test_greedy_by_score_tries_smaller_leaves_after_one_that_does_not_fit():
    nodes = leaves(50, 60, 30, 20)
    pool = {0: 0.9, 1: 0.8, 2: 0.7, 3: 0.6}
    assert kept(nodes, pool, 100) == [0, 2, 3]  # 1 (60) is skipped: 2 (30) and 3 (20) still fit
    assert kept(nodes, pool, 110) == [0, 1]  # 50 + 60 fills it exactly: stop
    assert kept(nodes, {0: 0.1, 1: 0.9}, 60) == [1]  # the better leaf first, even when later


def test_ties_break_by_document_order():
    nodes = leaves(40, 40, 40, 40)
    assert kept(nodes, {3: 0.5, 1: 0.5, 2: 0.5, 0: 0.4}, 80) == [1, 2]
    assert kept(nodes, {2: 0.5, 0: 0.5}, 40) == [0]


def test_min_score_stops_at_the_first_weaker_leaf():
    nodes = leaves(10, 10, 10, 10)
    pool = {0: 0.9, 1: 0.3, 2: 0.5, 3: 0.2}
    assert kept(nodes, pool, 100, min_score=0.5) == [0, 2]  # 0.5 is kept (not below)
    assert kept(nodes, pool, 100) == [0, 1, 2, 3]
    assert kept(nodes, pool, 100, min_score=0.95) == []


def test_empty_pool_or_nothing_fits():
    nodes = leaves(10, 20)
    assert kept(nodes, {}, 100) == []
    assert kept(nodes, {0: 1.0, 1: 0.5}, 5) == []
