"""Issue 26 rules: headings weighed by agreement with their text, one lexical tokenizer for h2mt's BM25
and the flat baseline (identifiers kept), leaf-level lexical pull-up, table headers on every table leaf,
novelty re-ranking, surname aliases, and the misleading-titles dataset."""

from __future__ import annotations

from dataclasses import replace

import pytest
from h2mt import H2MT, ChunkConfig, H2MTConfig, RouteConfig
from h2mt.eval.datasets.hotpot import derange_titles
from h2mt.eval.datasets.types import sections_document
from h2mt.index.agreement import dense_support, lexical_support, plain_title
from h2mt.index.lexical import analyze, query_terms
from h2mt.index.parse import parse_text
from h2mt.index.titles import TitleIndex, surname
from h2mt.types import Node, NodeKind, ParsedDocument, Section

FILLER = [
    ("Kansas City jazz", "Kansas City jazz is a style of jazz that developed in Kansas City, Missouri."),
    ("Big Stone Gap", "Big Stone Gap is a town in Wise County, Virginia, in the Appalachian mountains."),
    ("Teen Titans", "The Teen Titans are a team of superheroes appearing in American comic books."),
]
AGREEING = ("Ed Wood", "Ed Wood was an American filmmaker, actor and author of low-budget films.")
CONTRADICTED = ("Scott Derrickson", "Ayr United Football Club is a Scottish football club based in Ayr.")
QUESTION = "Were Scott Derrickson and Ed Wood of the same nationality?"
PLAIN = RouteConfig(budget=10_000, novelty=0.0, mmr=0.0, lexical_leaves=0)


def _engine(encoder, counter, parts):
    doc = sections_document("<mem>", "haystack", parts)
    cfg = H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8))
    return H2MT.build([doc], cfg, encoder=encoder, token_counter=counter)


def _scores(eng, cfg: RouteConfig) -> dict[str, float]:
    return {k.node.path[-1]: k.score for k in eng.route(QUESTION, cfg).kept}


def test_agreement_parts():
    assert lexical_support("Ed Wood", "Ed Wood was a filmmaker") == 1.0
    assert lexical_support("Scott Derrickson", "a football club") == 0.0
    assert lexical_support("Big Stone Gap (film)", "Big Stone Gap is a town") == 1.0  # parenthetical dropped
    assert plain_title("Scott Derrickson") and plain_title("3.7.5 Exit Status")
    assert not plain_title("work_mem (integer)") and not plain_title("REPLY") and not plain_title("-P --pwprompt")
    assert not plain_title("Zorblax")  # a bare one-word name: nothing to judge it by
    assert dense_support(0.05) == 0.0 and dense_support(0.5) == 1.0 and 0 < dense_support(0.25) < 1


def test_contradicted_heading_scores_below_an_agreeing_one(encoder, counter):
    eng = _engine(encoder, counter, [*FILLER, AGREEING, CONTRADICTED])
    agree = eng.index.agreement
    sec = {n.title: n.id for n in eng.index.nodes if n.kind == NodeKind.SECTION}
    got = agree.of([sec["Ed Wood"], sec["Scott Derrickson"]], eng.encoder)
    assert got[sec["Ed Wood"]] == 1.0 and got[sec["Scott Derrickson"]] < 0.5
    weighed = _scores(eng, PLAIN)
    trusted = _scores(eng, replace(PLAIN, title_agreement=False))
    assert weighed["Scott Derrickson"] < weighed["Ed Wood"]
    assert weighed["Scott Derrickson"] < trusted["Scott Derrickson"]  # the contradicted heading lost its bonus
    assert weighed["Ed Wood"] == pytest.approx(trusted["Ed Wood"])  # the agreeing one kept it


def test_one_tokenizer_keeps_identifiers():
    assert analyze("set -o pipefail") == ["set", "-o", "pipefail"]
    assert analyze("max_wal_size") == ["max_wal_size", "max", "wal", "size"]
    assert "**" in analyze("makes `**` match directories") and "$?" in analyze("the value of $?")
    assert analyze("os.path.join") == ["os.path.join", "os", "path", "join"]
    assert query_terms("Which option sets pipefail?") == ["option", "sets", "pipefail"]


def test_flat_bm25_uses_the_same_terms(encoder, counter):
    from h2mt.eval.methods.base import GroupView
    from h2mt.eval.methods.flat import BM25TopK

    parts = [*FILLER, ("Special Parameters", "? ($?) Expands to the exit status of the most recent pipeline."),
             ("Globbing", "globstar: the pattern ** used in a filename expansion context matches all files.")]
    eng = _engine(encoder, counter, parts)
    view = GroupView(eng)
    terms = {t for text in view.chunk_texts for t in analyze(text)}
    assert set(view.bm25.vocab_dict) - {""} == terms  # (bm25s adds ""); the flat baseline indexes exactly h2mt's terms
    for question, title in (("What does $? expand to?", "Special Parameters"),
                            ("Which option makes ** match directories?", "Globbing")):
        scores = list(view.bm25.get_scores(query_terms(question)))
        assert view.leaves[scores.index(max(scores))].path[-1] == title
        kept = BM25TopK().select(view, question, 20).nodes or []
        assert [n.path[-1] for n in kept] == [title]
        qids, _ = eng.index.lexical.query(question)
        assert len(qids) == len(set(query_terms(question)) & set(eng.index.lexical.vocab))


def _nested(chapters: list[tuple[str, list[tuple[str, str]]]]) -> ParsedDocument:
    text, secs = "", []
    for ch, subs in chapters:
        text += ch + "\n"
        secs.append(Section(ch, (ch,), 1, len(text), len(text)))
        text += "\n"
        for t, body in subs:
            text += t + "\n"
            start = len(text)
            text += body
            secs.append(Section(t, (ch, t), 2, start, len(text)))
            text += "\n\n"
    return ParsedDocument("<mem>", "Manual", text, secs)


def test_leaf_lexical_scores_pull_a_leaf_up(encoder, counter):
    hist = "History list command recall expansion event designator. " * 3
    sig = "Signal trap kill exit status fatal number process terminate. "
    chapters = [(f"Chapter {i} history", [(f"{i}.{j} history", hist) for j in range(2)]) for i in range(8)]
    chapters[5] = ("Chapter 5 signals", [(f"5.{j} signals", sig * 6) for j in range(8)]
                   + [("5.9 misc", sig + "The zorbification threshold defaults to 17.")])
    eng = H2MT.build([_nested(chapters)], H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8)),
                     encoder=encoder, token_counter=counter)
    q = "recall history zorbification threshold"
    base = RouteConfig(budget=60, beam_width=1, overfetch=1.0, title_bonus=0.0, link_weight=0.0, novelty=0.0, mmr=0.0)
    off = eng.route(q, replace(base, lexical_leaves=0))  # the beam prunes the signals chapter (weak aggregate)
    on = eng.route(q, replace(base, lexical_leaves=2))
    assert not any("zorbification" in k.node.text for k in off.kept)
    assert any("zorbification" in k.node.text for k in on.kept)
    assert on.nodes_scored > off.nodes_scored  # the pulled leaf (and its parent) are scored and counted


TABLE = (
    "<html><body><h1>Functions</h1><p>Intro text of the page.</p>"
    "<div class='table'><p class='title'><b>Table 9.66. Session Information Functions</b></p>"
    "<table><thead><tr><th>Function</th><th>Description</th></tr></thead><tbody>"
    + "".join(f"<tr><td>func_{i} () &#8594; name</td><td>Returns the name number {i} of the current "
              f"thing, with enough words to make the row long.</td></tr>" for i in range(20))
    + "</tbody></table></div><p>Text after the table.</p></body></html>"
)


def test_a_table_cell_leaf_carries_its_header(encoder, counter):
    (doc,) = [parse_text(TABLE, source="t.html", format="html")]
    kinds = [(s.title, s.meta["kind"]) for s in doc.sections]
    title = "Table 9.66. Session Information Functions: Function, Description"
    assert (title, "table") in kinds and kinds[-1] == ("Functions", "continuation")
    table = next(s for s in doc.sections if s.title == title)
    assert "Function" not in doc.text[table.start:table.end].split("func_0")[0]  # the header is the heading
    eng = H2MT.build([doc], H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8)), encoder=encoder,
                     token_counter=counter)
    cells = [n for n in eng.index.leaves() if "func_" in n.text]
    assert len(cells) > 2  # the table is cut into several leaves...
    assert all(n.path[-1] == title and n.titled_text.startswith(title) for n in cells)  # ...each with the header


def test_short_or_headless_tables_stay_body_text():
    short = "<h1>A</h1><table><tr><th>x</th></tr><tr><td>1</td></tr></table>"
    headless = "<h1>A</h1><table>" + "<tr><td>cell</td><td>" + "word " * 200 + "</td></tr></table>"
    for html in (short, headless):
        doc = parse_text(html, source="t.html", format="html")
        assert [s.meta["kind"] for s in doc.sections] == ["heading"]


def test_novelty_demotes_a_leaf_that_adds_no_question_term(encoder, counter):
    parts = [("Colorado 2011", "The 2011 Colorado Buffaloes football team played in the conference."),
             ("Colorado 2012", "The 2012 Colorado Buffaloes football team played in the conference."),
             ("Big 12 season", "The 2009 Big 12 season was the fourteenth season of the league."), *FILLER]
    eng = _engine(encoder, counter, parts)
    q = "Colorado Buffaloes football team conference fourteenth season"
    cfg = RouteConfig(budget=10_000, lexical_leaves=0, mmr=0.0, title_bonus=0.0, link_weight=0.0)

    def order(c: RouteConfig) -> list[str]:
        return [k.node.path[-1] for k in sorted(eng.route(q, c).kept, key=lambda k: -k.score)]

    plain, novel = order(replace(cfg, novelty=0.0)), order(replace(cfg, novelty=0.9))
    assert plain.index("Big 12 season") > 1 and novel.index("Big 12 season") == 1


def _section(i: int, title: str) -> Node:
    return Node(i, NodeKind.SECTION, title, -1, [], 0, 0, 0, 0, 1, (title,))


def test_surname_names_a_person_section():
    assert surname("Richard Nixon") == "Nixon" and surname("Roger O. Egeberg") == "Egeberg"
    assert surname("work_mem (integer)") == "" and surname("The Prince of Tennis") == ""
    idx = TitleIndex([_section(0, "Richard Nixon"), _section(1, "Ed Wood")])
    assert idx.named_in("during the Nixon administration") == [0]
    assert idx.named_in("a nixon of sorts") == []  # one-word names match case-sensitively


def test_derange_titles_moves_every_title_and_keeps_bodies():
    doc = sections_document("x", "haystack", [(f"T{i}", f"body {i}") for i in range(7)])
    new, moved = derange_titles(doc, "0")
    assert [new.text[s.start:s.end] for s in new.sections] == [f"body {i}" for i in range(7)]
    assert all(moved[f"T{i}"] != f"T{i}" for i in range(7))
    assert sorted(moved.values()) == sorted(moved) and [s.title for s in new.sections] == list(moved.values())
    assert derange_titles(doc, "0")[1] == moved  # deterministic


def test_ruler_tasks_are_deterministic_and_hold_their_needles():
    from h2mt.eval.datasets.ruler import RULER_TASKS, RulerSpec, make_ruler
    from h2mt.index.chunking import SimpleTokenCounter

    from tests._docs import manual

    spec = RulerSpec(length=2048, depths=(0.0, 0.5))
    ds = make_ruler([manual()], SimpleTokenCounter(), spec)
    again = make_ruler([manual()], SimpleTokenCounter(), spec)
    assert [q.question for q in ds.questions] == [q.question for q in again.questions]
    assert {q.meta["part"] for q in ds.questions} == set(RULER_TASKS) and len(ds.questions) == 2 * len(RULER_TASKS)
    for q in ds.questions:
        text = ds.groups[q.group].sources[0].text  # type: ignore[union-attr]
        assert q.evidence and all(e in text for e in q.evidence)
        need = {"niah-multivalue": 4, "niah-multiquery": 4, "vt": 4}.get(q.meta["part"], 1)
        assert len(q.evidence) == need and len(q.answers) == need
    vt = next(q for q in ds.questions if q.meta["part"] == "vt")
    assert vt.evidence[0].startswith("VAR ") and vt.evidence[1] == f"VAR {vt.answers[1]} = VAR {vt.answers[0]}."


def test_ruler_aggregation_tasks_count_what_they_ask_for():
    import collections
    import re

    from h2mt.eval.datasets.ruler import AGGREGATION_TASKS, RulerSpec, make_ruler
    from h2mt.index.chunking import SimpleTokenCounter

    from tests._docs import manual

    counter = SimpleTokenCounter()
    spec = RulerSpec(length=4096, tasks=AGGREGATION_TASKS, depths=(0.0, 0.5))
    ds = make_ruler([manual()], counter, spec)
    assert [q.question for q in ds.questions] == [q.question for q in make_ruler([manual()], counter, spec).questions]
    for q in ds.questions:
        doc = ds.groups[q.group].sources[0]
        body = "\n".join(doc.text[s.start:s.end] for s in doc.sections)  # type: ignore[union-attr]
        assert sum(counter([doc.text])) <= 4096  # type: ignore[union-attr]
        freq = collections.Counter(re.findall(r"[a-z]+", body))
        k = len(q.answers)
        assert set(q.answers) == {w for w, _ in freq.most_common(k)}  # the answer is what the text says most
        assert min(freq[w] for w in q.answers) > freq.most_common(k + 1)[-1][1]  # ... with no tie at the edge
        if q.meta["part"] == "cwe":
            assert k == 10 and all(freq[w] == 30 for w in q.answers)
        else:
            assert k == 3 and q.answers == [w for w, _ in freq.most_common(3)]
    with pytest.raises(Exception, match="Unknown RULER task"):
        make_ruler([manual()], counter, RulerSpec(length=4096, tasks=("qa",)))


def test_a_list_question_keeps_the_parallel_matches_novelty_would_sink(encoder, counter):
    parts = [("Note A", "One of the codes for amber glacier is 111."),
             ("Note B", "One of the codes for amber glacier is 222."),
             ("Note C", "One of the codes for amber glacier is 333."),
             ("League", "The league met near the glacier every spring."),
             ("Cup", "The cup final of the league was held in May."), *FILLER]
    eng = _engine(encoder, counter, parts)
    q = "What are all the codes for amber glacier in the league?"
    cfg = RouteConfig(budget=10_000, lexical_leaves=0, mmr=0.0, title_bonus=0.0, link_weight=0.0, novelty=0.9,
                      coverage=0.0)

    def order(c: RouteConfig) -> list[str]:
        return [k.node.path[-1] for k in sorted(eng.route(q, c).kept, key=lambda k: -k.score)]

    plain = order(replace(cfg, novelty=0.0, list_questions=False))
    novel, listed = order(replace(cfg, list_questions=False)), order(cfg)
    assert set(plain[:3]) == {"Note A", "Note B", "Note C"}
    assert novel[0] == "Note A" and novel[1] not in ("Note B", "Note C")  # novelty sinks the notes after the first
    assert set(listed[:3]) == {"Note A", "Note B", "Note C"}  # parallel matches of a list question keep their rank


@pytest.mark.parametrize(("question", "every"), [
    ("What are all the special magic numbers for plain-maple mentioned in the provided text?", True),
    ("Find all variables that are assigned the value 87970 in the text above.", True),
    ("List every option that changes globbing.", True),
    ("Which shopt option makes the pattern ‘**’ match all files and directories?", False),
    ("Is all() True for an empty iterable?", False),
    ("Which setting logs every checkpoint?", False),
])
def test_asks_for_every(question, every):
    from h2mt.query.routing import asks_for_every

    assert asks_for_every(question) is every


def test_phrases_pointing_at_the_context_are_no_query_terms():
    assert query_terms("What is the magic number for amber-glacier mentioned in the provided text?") == [
        "magic", "number", "amber", "glacier"]
    assert query_terms("Find all variables assigned the value 8 in the text above.") == [
        "find", "variables", "assigned", "value", "8"]
    assert query_terms("According to the passage, who wrote Hamlet?") == ["wrote", "hamlet"]
    # "text" that is content stays a term
    assert "text" in query_terms("Which builtin reads a line of text from standard input?")


@pytest.mark.parametrize(("question", "want"), [
    ("What does `set -x` do?", [("set", ["-x"])]),
    ("What does `shopt -s nullglob` do?", [("shopt", ["-s", "nullglob"])]),
    ("What does set -e do?", [("set", ["-e"])]),
    ("What is the block size set at build time with --with-blocksize?", []),  # "with" is no command
    ("What does set do?", []),
])
def test_command_options(question, want):
    from h2mt.query.routing import command_options

    assert command_options(question) == want


def test_an_option_named_with_its_command_lifts_its_leaf_from_a_long_entry(encoder, counter):
    options = "abcdefghijklmnopqrstuvw"
    opts = "\n\n".join(f"-{o}\n\nWhen this option is on, the shell changes how it treats case {o} of its input "
                       f"and writes a note about case {o}." for o in options)
    trace = "-x\n\nPrint a trace of simple commands and their arguments after they are expanded."
    text = (f"# Builtins\n\n## set\n\nset [-abcdefx] [argument ...]\n\n{opts}\n\n{trace}\n\n"
            "## PS4\n\nThe value of PS4 is printed before each command during an execution trace (-x). "
            "Use set -x to start the trace and PS4 to change what set -x prints.\n")
    doc = parse_text(text, source="m.md", format="markdown")
    eng = H2MT.build([doc], H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8)),
                     encoder=encoder, token_counter=counter)
    option = next(n.id for n in eng.index.leaves() if "Print a trace" in n.text)
    entry = {n.id for n in eng.index.leaves() if "set" in n.path}
    cfg = RouteConfig(budget=10_000, beam_width=1, overfetch=1.0)

    def ranked(c: RouteConfig) -> list[int]:
        return [k.node.id for k in sorted(eng.route("What does `set -x` do?", c).kept, key=lambda k: -k.score)]

    lifted, plain = ranked(cfg), ranked(replace(cfg, title_bonus=0.0))
    assert min(lifted.index(c) for c in entry) == lifted.index(option)  # the option's leaf leads its entry
    assert min(plain.index(c) for c in entry) < plain.index(option)  # ... which the entry's aggregate alone does not
    # "-e" ends a leaf as its term line: the leaf after it, holding its description, is lifted too
    desc = next(n.id for n in eng.index.leaves() if n.text.startswith("When this option is on") and "case e " in n.text)

    def score(c: RouteConfig, leaf: int) -> float:
        return next(k.score for k in eng.route("What does `set -e` do?", c).kept if k.node.id == leaf)

    assert score(cfg, desc) > score(replace(cfg, title_bonus=0.0), desc) + 0.1
