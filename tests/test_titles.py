"""Titles as an exact-match channel: normalisation, longest-match lookup, and routing that
follows titles named by the question and by the best candidates."""

from __future__ import annotations

from dataclasses import replace

import pytest
from h2mt import H2MT, H2MTConfig, RouteConfig
from h2mt.eval.datasets.registry import sections_document
from h2mt.index.titles import TitleIndex, split_number, strip_title, title_keys, unnumbered
from h2mt.query.routing import route
from h2mt.types import Node, NodeKind

from tests._docs import TOPICS


@pytest.mark.parametrize(
    ("title", "keys"),
    [
        ("19.4. Resource Consumption", [("resource", "consumption")]),
        ("3.6.7 Here Strings", [("here", "strings")]),
        ("work_mem (integer)", [("work", "mem", "integer"), ("work", "mem")]),
        ("Boston, Lincolnshire", [("boston", "lincolnshire"), ("boston",)]),
        ("Big Stone Gap (film)", [("big", "stone", "gap", "film"), ("big", "stone", "gap")]),
        ("PIPESTATUS", [("pipestatus",)]),
        ("Chapter 20. Server Configuration", [("server", "configuration")]),
        ("Appendix F. Additional Supplied Modules", [("additional", "supplied", "modules")]),
        ("F.3. auto_explain", [("auto", "explain")]),
        ("2to3", [("2to3",)]),
    ],
)
def test_title_keys(title, keys):
    assert title_keys(title) == keys


@pytest.mark.parametrize(
    ("title", "number", "rest"),
    [
        ("Chapter 20. Server Configuration", "Chapter 20.", "Server Configuration"),
        ("Appendix F. Additional Supplied Modules", "Appendix F.", "Additional Supplied Modules"),
        ("20.5. Write Ahead Log", "20.5.", "Write Ahead Log"),
        ("3.2.1 Pipelines", "3.2.1", "Pipelines"),
        ("F.3. auto_explain", "F.3.", "auto_explain"),
        ("B.1 Implementation Differences", "B.1", "Implementation Differences"),
        ("  19.4.  Resource Consumption ", "19.4.", "Resource Consumption"),
        ("CHAPTER 3: Basics", "CHAPTER 3:", "Basics"),
        ("Part II. Tutorial", "Part II.", "Tutorial"),
        ("Section 3.2 Scope", "Section 3.2", "Scope"),
        ("Chapter 20", "Chapter 20", ""),  # a labelled number may stand alone
        # not numbered: a number glued to a word, a bare letter, a lowercase word after a label,
        # a number with nothing after it, a colon without a label
        ("2to3", "", "2to3"),
        ("3D graphics", "", "3D graphics"),
        ("A Note on Style", "", "A Note on Style"),
        ("A. Smith", "", "A. Smith"),
        ("Part of speech", "", "Part of speech"),
        ("Chapterhouse", "", "Chapterhouse"),
        ("20.3.", "", "20.3."),
        ("2001: A Space Odyssey", "", "2001: A Space Odyssey"),
        ("work_mem (integer)", "", "work_mem (integer)"),
        ("", "", ""),
    ],
)
def test_split_number(title, number, rest):
    assert split_number(title) == (number, rest)


@pytest.mark.parametrize(
    ("title", "plain"),
    [
        ("Chapter 20. Server Configuration", "Server Configuration"),
        ("Appendix F. Additional Supplied Modules", "Additional Supplied Modules"),
        ("20.5. Write Ahead Log", "Write Ahead Log"),
        ("3.2.1 Pipelines", "Pipelines"),
        ("F.3. auto_explain", "auto_explain"),
        ("Chapter 20", "Chapter 20"),  # only a number: kept whole, it is the name
        ("2to3", "2to3"),
        ("3D graphics", "3D graphics"),
        (" Introduction ", "Introduction"),
    ],
)
def test_unnumbered(title, plain):
    assert unnumbered(title) == plain


def test_strip_title_drops_the_number_and_the_parenthetical():
    assert strip_title("Appendix B. Date/Time Support (overview)") == "Date/Time Support"
    assert strip_title("19.4.1. work_mem (integer)") == "work_mem"


def _section(i: int, title: str, kind: NodeKind = NodeKind.SECTION) -> Node:
    return Node(i, kind, title, 0, [], 0, 0, 0, 1, 1, (title,))


def test_named_in_prefers_the_longest_title_and_skips_generic_ones():
    titles = ["Kirton", "Kirton End", "Boston, Lincolnshire", "Examples", "Examples", "Examples", "Examples",
              "The", "Ed"]
    idx = TitleIndex([_section(i, t) for i, t in enumerate(titles)], stopwords={"the"})
    assert idx.named_in("Kirton End is a hamlet near Boston.") == [1, 2]
    assert idx.named_in("the village of Kirton") == [0]
    assert idx.named_in("Examples of the shell: Ed") == []  # shared by 4 sections, a stopword, too short
    assert idx.named_in("") == []
    leaf = Node(9, NodeKind.LEAF, "Kirton", 0, [], 0, 0, 0, 1, 1, ("Kirton",), text="x")
    assert TitleIndex([leaf]).named_in("Kirton") == []  # leaves carry no titles of their own


def _filler(topic: str, n: int, seed: int) -> str:
    import random

    rng = random.Random(seed)
    words = TOPICS[topic].split()
    return " ".join(" ".join(rng.choice(words) for _ in range(8)).capitalize() + "." for _ in range(n))


@pytest.fixture(scope="module")
def linked_engine(encoder, counter):
    """Sections on several topics; "Signal handling" names "Quuxify", whose text shares no
    word with a question about signals; "Zorblax" is a title no text mentions."""
    parts = [(f"{topic.capitalize()} {k}", _filler(topic, 3, k)) for k in range(4) for topic in TOPICS]
    # (its text says "signal handling": a heading its text supports keeps the full title bonus, h2mt.index.agreement)
    parts.insert(5, ("Signal handling", _filler("signals", 3, 99) + " Signal handling calls Quuxify on exit."))
    parts.insert(11, ("Quuxify", _filler("config", 3, 7)))
    parts.insert(17, ("Zorblax", _filler("history", 3, 8)))
    return H2MT.build(
        [sections_document("<mem>", "haystack", parts)], H2MTConfig(), encoder=encoder, token_counter=counter
    )


def _kept(eng: H2MT, question: str, budget: int, **overrides: float) -> set[str]:
    cfg = replace(eng.config.route, budget=budget, **overrides)
    return {k.node.path[-1] for k in route(eng.index, question, cfg, eng.encoder).kept}


def test_a_title_the_question_names_is_kept(linked_engine):
    q = "What does Zorblax do to a trap kill signal?"
    budget = 3 * max(n.tokens for n in linked_engine.index.leaves())
    assert "Zorblax" in _kept(linked_engine, q, budget)
    assert "Zorblax" not in _kept(linked_engine, q, budget, title_bonus=0.0)


def test_a_section_named_by_the_best_leaf_is_followed(linked_engine):
    q = "Signal handling: trap kill signal fatal exit status"
    budget = 3 * max(n.tokens for n in linked_engine.index.leaves())
    with_links = _kept(linked_engine, q, budget)
    assert {"Signal handling", "Quuxify"} <= with_links
    assert "Quuxify" not in _kept(linked_engine, q, budget, link_weight=0.0)
    r = linked_engine.route(q, budget=budget)
    assert r.tokens_kept <= budget
    assert [k.node.id for k in r.kept] == sorted(k.node.id for k in r.kept)


def test_title_following_keeps_full_context_parity(linked_engine):
    big = linked_engine.index.tokens_total
    r = linked_engine.route("Signal handling Zorblax", budget=big)
    assert [k.node.id for k in r.kept] == [n.id for n in linked_engine.index.leaves()]


def test_title_options_are_validated():
    from h2mt import ConfigError

    with pytest.raises(ConfigError):
        RouteConfig(link_weight=1.0)
    with pytest.raises(ConfigError):
        RouteConfig(title_bonus=-0.1)


def test_one_word_titles_must_match_case_and_be_specific():
    nodes = [_section(0, "INDEX"), _section(1, "string"), _section(2, "globstar"), _section(3, "Silene"),
             _section(4, "Full Text Search")]
    spec = {"INDEX": 0.9, "string": 0.3, "globstar": 0.9, "Silene": 0.4, "Full Text Search": 0.1}
    idx = TitleIndex(nodes, specificity=spec.__getitem__)
    assert idx.named_in("Which index type is preferred?") == []  # case differs
    assert idx.named_in("the INDEX command") == [0]
    assert idx.named_in("a string of text") == []  # a plain, common word names nothing
    assert idx.named_in("shopt -s globstar") == [2]  # a plain but rare word does
    assert idx.named_in("Are Silene and silene plants?") == [3]
    assert idx.named_in("full text search basics") == [4]  # a phrase names its section in any case
    strict = TitleIndex(nodes, specificity=spec.__getitem__, min_specificity=0.5)
    assert strict.named_in("Silene") == []


@pytest.mark.parametrize(
    ("title", "names"),
    [
        ("socket.setKeepAlive([enable][, initialDelay])", [("socket", "setkeepalive"), ("setkeepalive",)]),
        ("fs.readFile(path[, options], callback)", [("fs", "readfile"), ("readfile",)]),
        ("createServer([options][, connectionListener])", [("createserver",)]),
        ("os.path.join(a, *p)", [("os", "path", "join"), ("join",)]),
    ],
)
def test_signature_titles_are_named_by_their_identifier(title, names):
    keys = title_keys(title)
    assert all(k in keys for k in names), keys


API_DOC = """# net API

## Class: net.Socket

A socket is an abstraction of a TCP socket or a streaming IPC endpoint. A socket emits events.

### socket.setKeepAlive([enable][, initialDelay])

Enable or disable keep-alive functionality, and optionally set the initial delay before the first
keepalive probe is sent on an idle connection. Returns the object itself.

### socket.setNoDelay([noDelay])

Enable or disable the use of Nagle's algorithm. By default TCP connections use Nagle's algorithm,
they buffer data before sending it off. Returns the socket.

### socket.setTimeout(timeout[, callback])

Sets the socket to time out after timeout milliseconds of inactivity on the socket. By default
net.Socket objects do not have a timeout. Returns the socket.

### socket.setEncoding([encoding])

Set the encoding for the socket as a Readable Stream. Returns the socket.

### socket.connect(options[, connectListener])

Initiate a connection on a given socket. Normally this method is not needed, the socket should be
created and opened with net.createConnection(). Returns the socket.

### socket.destroy([error])

Ensures that no more I/O activity happens on this socket. Destroys the stream and closes the
connection. Returns the socket.

### socket.write(data[, encoding][, callback])

Sends data on the socket. The second parameter specifies the encoding in the case of a string.
Returns true if the entire data was flushed successfully to the kernel buffer.

### socket.end([data[, encoding]][, callback])

Half-closes the socket, it sends a FIN packet. It is possible the server will still send some data.
Returns the socket.
"""


def test_a_signature_titled_section_the_question_names_is_kept(encoder, counter, tmp_path):
    from h2mt import ChunkConfig

    md = tmp_path / "net.md"
    md.write_text(API_DOC)
    eng = H2MT.build([md], H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=4)), encoder=encoder,
                     token_counter=counter)
    budget = 2 * max(n.tokens for n in eng.index.leaves())
    r = eng.route("How do I use socket.setKeepAlive() on a socket connection?", budget=budget)
    assert any("keep-alive" in k.node.text for k in r.kept), [k.node.path for k in r.kept]
    r = eng.route("What does setKeepAlive return for the socket?", budget=budget)
    assert any("keep-alive" in k.node.text for k in r.kept), [k.node.path for k in r.kept]
