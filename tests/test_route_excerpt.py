"""Excerpts (h2mt.query.excerpt): a strong leaf that no longer fits the budget keeps its sentences matching the
question instead of being dropped; needles of the RULER-style sets stay whole in one leaf."""

from __future__ import annotations

from dataclasses import replace

import pytest
from h2mt import H2MT, ChunkConfig, H2MTConfig, RouteConfig
from h2mt.eval.datasets.types import BenchQuestion, sections_document
from h2mt.eval.methods.base import nodes_selection
from h2mt.eval.runner import judge
from h2mt.index.lexical import query_terms
from h2mt.query.excerpt import GAP, QuestionTerms, estimate_tokens, excerpt
from h2mt.query.select import select_leaves
from h2mt.types import Node, NodeKind

FILLER = ("The shell reads its input from a file, from a string, or from the terminal. It breaks the input into "
          "words and operators, obeying the quoting rules. It then parses the tokens into commands. It performs "
          "the expansions and redirections, and executes the command.")
NEEDLE = "One of the special magic numbers for plain-maple is {}."
VALUES = ("4217309", "1801483", "2311255", "8636060")
QUESTION = "What are all the special magic numbers for plain-maple mentioned in the provided text?"


def _leaf(i: int, text: str, tokens: int) -> Node:
    return Node(i, NodeKind.LEAF, "", -1, [], 0, 0, 0, tokens, 1, (f"s{i}",), text=text)


def _terms() -> QuestionTerms:
    return QuestionTerms(dict.fromkeys(query_terms(QUESTION), 1.0))


def test_an_excerpt_keeps_the_matching_sentence_and_fits_the_room(counter):
    text = f"{FILLER} {NEEDLE.format(VALUES[0])} {FILLER}"
    leaf = _leaf(0, text, counter([text])[0])
    terms = _terms()
    cut = excerpt(leaf, terms, room=30, min_share=0.3)
    assert cut is not None and cut.excerpt and not leaf.excerpt
    assert cut.text == NEEDLE.format(VALUES[0]) and cut.id == leaf.id and cut.path == leaf.path
    assert cut.tokens <= 30 and cut.tokens < leaf.tokens
    assert cut.tokens >= counter([cut.text])[0]  # counted from above
    assert excerpt(leaf, terms, room=3, min_share=0.3) is None  # the sentence does not fit
    wider = QuestionTerms({**terms.idf, "keyboard": 1.0, "layout": 1.0})
    assert excerpt(leaf, wider, room=30, min_share=0.95) is None  # no sentence holds 95% of the question
    single = _leaf(1, NEEDLE.format(VALUES[0]), 15)
    assert excerpt(single, terms, room=10, min_share=0.3) is None  # one sentence: nothing to cut


def test_an_excerpt_keeps_several_matching_sentences_in_text_order(counter):
    text = " ".join([NEEDLE.format(VALUES[1]), FILLER, NEEDLE.format(VALUES[0])])
    leaf = _leaf(0, text, counter([text])[0])
    cut = excerpt(leaf, _terms(), room=60, min_share=0.3)
    assert cut is not None and cut.text == NEEDLE.format(VALUES[1]) + GAP + NEEDLE.format(VALUES[0])


def test_token_estimate_is_capped_by_the_leaf():
    leaf = _leaf(0, "a b c d e f g h", 4)
    assert estimate_tokens("a b c d e f g h", leaf) == 4
    assert estimate_tokens("1234567", _leaf(0, "x" * 100, 100)) >= 7  # a digit is a token at worst


def test_select_replaces_a_leaf_that_does_not_fit_by_its_excerpt():
    nodes = [_leaf(0, "big", 50), _leaf(1, "bigger", 60), _leaf(2, "small", 30)]
    cut = _leaf(1, "cut", 8)
    calls: list[tuple[int, int]] = []

    def excerpter(leaf: Node, room: int) -> Node | None:
        calls.append((leaf.id, room))
        return replace(cut, excerpt=True) if leaf.id == 1 else None

    pool = {0: 0.9, 1: 0.8, 2: 0.7}
    out = select_leaves(nodes, pool, 100, excerpt=excerpter)
    assert [(k.node.id, k.node.tokens, k.node.excerpt) for k in out] == [(0, 50, False), (1, 8, True), (2, 30, False)]
    assert calls == [(1, 50)]  # asked only for the leaf that did not fit, with what was left
    assert [k.node.id for k in select_leaves(nodes, pool, 100)] == [0, 2]  # without: skipped as before
    calls.clear()
    select_leaves(nodes, pool, 100, excerpt=excerpter, fill=0.4)
    assert calls[0] == (0, 40)  # fill 0.4: a leaf that would take more than 40% of what is left is offered cut


@pytest.mark.parametrize("budget", [100, 108])  # a needle leaf is 109 tokens
def test_routing_keeps_every_needle_as_excerpts_under_a_small_budget(encoder, counter, budget):
    parts = [(f"Section {i}", f"{FILLER} {NEEDLE.format(v)} {FILLER}") for i, v in enumerate(VALUES)]
    parts += [(f"Other {i}", FILLER.replace("shell", f"tool{i}")) for i in range(6)]
    doc = sections_document("<mem>", "haystack", parts)
    eng = H2MT.build([doc], H2MTConfig(chunk=ChunkConfig(max_tokens=120, min_tokens=8)), encoder=encoder,
                     token_counter=counter)
    cfg = RouteConfig(budget=budget)
    r = eng.route(QUESTION, cfg)
    text = " ".join(k.node.text for k in r.kept)
    assert all(NEEDLE.format(v) in text for v in VALUES)
    assert r.tokens_kept <= budget and any(k.node.excerpt for k in r.kept)
    whole = " ".join(k.node.text for k in eng.route(QUESTION, replace(cfg, excerpt_share=0.0)).kept)
    assert not all(NEEDLE.format(v) in whole for v in VALUES)  # whole leaves: not all of them fit


def test_an_excerpt_does_not_count_as_its_paragraph_kept():
    whole, cut = _leaf(0, "Ed Wood was a filmmaker.", 6), replace(_leaf(1, "Ayr is a town.", 5), excerpt=True)
    whole = replace(whole, path=("Ed Wood",))
    cut = replace(cut, path=("Ayr",))
    q = BenchQuestion("q", "?", ["x"], "g", gold_titles=["Ed Wood", "Ayr"])
    got = judge(q, nodes_selection([whole, cut], 0, 0.0))
    assert got["evidence_any"] and not got["evidence_all"]


def test_ruler_needles_stay_whole_in_one_leaf(encoder, counter):
    from h2mt.eval.datasets.ruler import RulerSpec, make_ruler

    from tests._docs import manual

    ds = make_ruler([manual()], counter, RulerSpec(length=2048, depths=(0.3,), tasks=("niah-multivalue",)))
    q = ds.questions[0]
    assert all(": " not in e for e in q.evidence)  # a chunker may end a unit at ": "
    eng = H2MT.build(ds.groups[q.group].sources, H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8)),
                     encoder=encoder, token_counter=counter)
    leaves = [n.text for n in eng.index.nodes if n.kind == NodeKind.LEAF]
    assert all(any(e in t for t in leaves) for e in q.evidence)


def test_coverage_lifts_a_leaf_that_adds_another_key_of_the_question(encoder, counter):
    parts = [("Amber", "One of the special magic numbers for amber-willow is 1111111."),
             ("Echo", "The special magic numbers for amber-willow: amber-willow has special magic numbers."),
             ("Quiet", "Shell note: the shell also keeps one of the magic numbers for quiet-comet, 2222222."),
             ("Shell", FILLER)]
    doc = sections_document("<mem>", "haystack", parts)
    eng = H2MT.build([doc], H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8)), encoder=encoder,
                     token_counter=counter)
    q = "What are the special magic numbers for amber-willow and quiet-comet?"
    cfg = RouteConfig(budget=10_000, lexical_leaves=0, mmr=0.0, title_bonus=0.0, link_weight=0.0, novelty=0.0)

    def order(c: RouteConfig) -> list[str]:
        return [k.node.path[-1] for k in sorted(eng.route(q, c).kept, key=lambda k: -k.score)]

    plain, covered = order(replace(cfg, coverage=0.0)), order(replace(cfg, coverage=0.5))
    assert plain[0] == covered[0] == "Echo"  # the best match of the first key's words
    assert plain.index("Quiet") > plain.index("Amber")  # the first key's needle scores higher on its own
    assert covered.index("Quiet") < covered.index("Amber")  # but after "Echo" only the other needle adds a term


@pytest.mark.parametrize("bad", [{"excerpt_share": 1.5}, {"excerpt_top": -1}, {"excerpt_fill": 0.0},
                                 {"excerpt_fill": 1.2}, {"coverage": -0.1}])
def test_excerpt_and_coverage_settings_are_checked(bad):
    from h2mt import ConfigError

    with pytest.raises(ConfigError):
        RouteConfig(**bad)


def test_integrations_return_the_excerpt_not_the_whole_document() -> None:
    pytest.importorskip("langchain_core")
    from h2mt.index.encoders.base import HashingEncoder
    from langchain_core.documents import Document

    from h2mt_integrations.langchain._routing import route_documents_engine

    filler = " ".join(f"Unrelated sentence number {i} talks about weather and gardens." for i in range(40))
    docs = [Document(page_content=f"{filler} PIPESTATUS holds the exit statuses of a pipeline. {filler}", id="a"),
            Document(page_content="The trap builtin handles signals.", id="b")]
    count = lambda texts: [len(t.split()) for t in texts]  # noqa: E731
    kept, r, _ = route_documents_engine(docs, "What does PIPESTATUS hold?", encoder=HashingEncoder(64),
                                        token_counter=count, budget=60, beam_width=4)
    assert r is not None
    cut = [d for d in kept if d.metadata.get("excerpt")]
    assert cut and all("PIPESTATUS" in d.page_content and len(d.page_content) < len(docs[0].page_content)
                       for d in cut)
    assert sum(count([d.page_content for d in kept])) <= 60 * 1.5  # within the budget (counts differ by breadcrumbs)
