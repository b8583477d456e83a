"""Bounded fuzzing: random Markdown / HTML / text through parse -> build -> route.

Only H2MTError may escape, and the tree invariants of docs/architecture.md (house rule 8) hold for every built tree.
"""

from __future__ import annotations

import os

from h2mt import H2MT, BudgetError, ChunkConfig, H2MTConfig, HierarchyConfig, InputError, ParseError
from h2mt.index.chunking import SimpleTokenCounter
from h2mt.index.encoders.base import HashingEncoder
from h2mt.index.parse import parse_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_tree import check_tree_invariants

EXAMPLES = int(os.environ.get("H2MT_FUZZ_EXAMPLES", "60"))
CFG = H2MTConfig(
    chunk=ChunkConfig(max_tokens=24, min_tokens=2), hierarchy=HierarchyConfig(branching=3, semantic_min_leaves=4)
)
ENC, COUNT = HashingEncoder(32), SimpleTokenCounter()

words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=30)
md_line = st.one_of(
    st.builds(lambda n, t: "#" * n + " " + t, st.integers(1, 7), words),
    st.builds(lambda t, u: f"{t}\n{u * 3}", words, st.sampled_from(["=", "-"])),
    st.just("```"),
    st.just(""),
    words,
)
html_piece = st.one_of(
    st.builds(lambda n, t: f"<h{n}>{t}", st.integers(1, 6), words),
    st.builds(lambda n: f"</h{n}>", st.integers(1, 6)),
    st.sampled_from(["<p>", "</p>", "<dl>", "<dt>", "</dt>", "<dd>", "</dd>", "</dl>", "<pre>", "</pre>",
                     "<div class='toc'>", "</div>", "<br>", "<table><tr><td>", "<script>x<y</script>", "<!--", "-->"]),
    words,
)


def run(text: str, fmt: str) -> None:
    """Parsing may refuse only a text with nothing to index; whatever parses must build; routing
    may refuse only a budget smaller than every leaf."""
    try:
        doc = parse_text(text, "fuzz", format=fmt)  # type: ignore[arg-type]
    except ParseError:
        assert not any(c.isalnum() for c in text) or fmt == "html", f"refused a text with words: {text!r}"
        return
    assert doc.text.strip(), "a parsed document has text"
    try:
        eng = H2MT.build([doc], CFG, encoder=ENC, token_counter=COUNT)
    except InputError:  # only a document that is all headings (no section body) has nothing to index
        assert not any(doc.text[s.start:s.end].strip() for s in doc.sections), "refused a document with a body"
        return
    check_tree_invariants(eng, [doc], CFG)
    for q, budget in (("a", 24), (text[:40] or "x", 100), ("the", 10**6)):
        try:
            r = eng.route(q, budget=budget)
        except BudgetError:
            assert budget < max(n.tokens for n in eng.index.nodes if n.kind.value == "leaf")
            continue
        assert r.tokens_kept <= budget
        assert [k.node.id for k in r.kept] == sorted(k.node.id for k in r.kept)


FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(st.lists(md_line, max_size=25).map("\n".join))
def test_fuzz_markdown(text):
    run(text, "markdown")


@FUZZ
@given(st.lists(html_piece, max_size=30).map("".join))
def test_fuzz_html(text):
    run(text, "html")


@FUZZ
@given(st.text(max_size=600))
def test_fuzz_text(text):
    run(text, "text")
