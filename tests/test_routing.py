"""Coarse-to-fine routing: budget, order, pruning, parity with the full context, errors."""

from __future__ import annotations

import pytest
from h2mt import H2MT, BudgetError, FusionMode, InputError, NodeKind, RouteConfig
from h2mt.query.prompt import format_context

from tests._docs import make_doc


def test_route_keeps_budget_and_document_order(manual_engine):
    r = manual_engine.route("trap kill signal exit status", budget=120)
    assert 0 < r.tokens_kept <= 120
    ids = [k.node.id for k in r.kept]
    assert ids == sorted(ids)
    assert all(k.node.kind == NodeKind.LEAF for k in r.kept)
    assert r.tokens_total == manual_engine.index.tokens_total
    assert r.kept_ratio == pytest.approx(r.tokens_kept / r.tokens_total)
    assert r.route_ms > 0


def test_route_finds_the_topical_section(manual_engine):
    r = manual_engine.route("history event designator recall", budget=100)
    titles = {k.node.path[-1] for k in r.kept}
    assert titles == {"2.1.1 history"}
    r = manual_engine.route("server configuration memory buffer", budget=100)
    assert {k.node.path[-1] for k in r.kept} == {"2.2 config"}


def test_keep_everything_equals_full_context(manual_engine):
    big = manual_engine.index.tokens_total
    r = manual_engine.route("anything at all", budget=big)
    assert [k.node.id for k in r.kept] == [n.id for n in manual_engine.index.leaves()]
    full = format_context([k.node for k in manual_engine.full_context()])
    assert format_context([k.node for k in r.kept]) == full
    assert r.tokens_kept == big


def test_pruning_scores_a_fraction_of_a_wide_tree(encoder, counter, small_cfg):
    spec = []
    for ch in range(12):
        spec.append((1, f"{ch} chapter", 0))
        for sec, topic in enumerate(["redirections", "variables", "signals", "config"]):
            spec.append((2, f"{ch}.{sec} {topic}", 12))
    eng = H2MT.build([make_doc(spec)], small_cfg, encoder=encoder, token_counter=counter)
    r = eng.route("trap kill signal fatal", budget=96, beam_width=2)
    assert r.nodes_scored < 0.5 * r.nodes_total
    assert r.pruned and all(p.node.kind != NodeKind.LEAF for p in r.pruned)
    scores = [p.score for p in r.pruned]
    assert scores == sorted(scores, reverse=True)  # best pruned branch first
    pruned = {p.node.id for p in r.pruned}
    for k in r.kept:  # a kept leaf never comes from a branch that was not descended into
        assert not pruned & {a.id for a in eng.index.ancestors(k.node.id)}
    assert all("signals" in k.node.path[-1] for k in r.kept)


@pytest.mark.parametrize("mode", list(FusionMode))
def test_every_fusion_mode_routes(manual_engine, mode):
    from dataclasses import replace

    from h2mt.query.routing import route

    cfg = replace(manual_engine.config.route, fusion=mode, budget=150)
    r = route(manual_engine.index, "redirect output file descriptor", cfg, manual_engine.encoder)
    assert 0 < r.tokens_kept <= 150


def test_route_is_deterministic(manual_engine):
    a = manual_engine.route("export environment variable", budget=200)
    b = manual_engine.route("export environment variable", budget=200)
    assert [(k.node.id, k.score) for k in a.kept] == [(k.node.id, k.score) for k in b.kept]


@pytest.mark.parametrize("question", ["", "   \n\t"])
def test_empty_question_is_an_input_error(manual_engine, question):
    with pytest.raises(InputError, match="empty"):
        manual_engine.route(question)


@pytest.mark.parametrize("budget", [0, -5])
def test_zero_budget_is_a_budget_error(manual_engine, budget):
    with pytest.raises(BudgetError):
        manual_engine.route("signals", budget=budget)


def test_budget_smaller_than_any_leaf(manual_engine):
    smallest = min(n.tokens for n in manual_engine.index.leaves())
    assert smallest > 2  # sentences of 5+ words
    with pytest.raises(BudgetError, match="at least"):
        manual_engine.route("signals", budget=2)


def test_question_in_another_script_and_huge_question(manual_engine):
    r = manual_engine.route("сигнал ловушка 信号", budget=100)  # no shared terms: dense-only still routes
    assert r.tokens_kept > 0
    r = manual_engine.route("signal trap " * 5000, budget=100)
    assert r.tokens_kept > 0


def test_route_config_validation():
    from h2mt import ConfigError

    with pytest.raises(ConfigError):
        RouteConfig(beam_width=0)
    with pytest.raises(ConfigError):
        RouteConfig(lexical_weight=2)
