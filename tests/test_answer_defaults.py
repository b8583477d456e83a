"""What holds when something is left out, quoted from the kept sentences that state a default
(h2mt.query.entries.asks_what_is_assumed, h2mt.query.entries.default_quote, the engine's
``quote_defaults``)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from h2mt import PrefillConfig
from h2mt.query.entries import asks_what_is_assumed, default_quote, sentence_contexts
from h2mt.query.evidence import rank_sentences, split_sentences

from .test_answer_entries import _leaf


@pytest.mark.parametrize(("question", "asks"), [
    ("If I call codeop.compile_command() without the symbol argument, which compile mode is used?", True),
    ("I'm defining a custom aggregate and leave out INITCOND; what value does its state start with?", True),
    ("If I write a redirection such as <file with no file descriptor number in front of it, which descriptor?", True),
    ("If I run IMPORT FOREIGN SCHEMA with neither LIMIT TO nor EXCEPT, which objects get imported?", True),
    ("I never set active-region-start-color in my inputrc; what display mode does Readline use?", True),
    ("Our environment exports BASH_COMPAT but with an empty value; which level does bash use?", True),
    ("What is the default value of PS2?", True),  # asks_for_default
    ("Which option prints absolute paths?", False),
    ("What port does the server listen on?", False),
    ("Does TRUNCATE scan the tables?", False),
])
def test_questions_asking_what_holds_when_something_is_left_out(question, asks):
    assert asks_what_is_assumed(question) is asks


# One leaf of two entries: the answer's sentence names neither the class nor what the port is for
IMAP = _leaf("IMAP4_SSL\n\nThis is a subclass derived from IMAP4 that connects over an SSL encrypted socket. "
             "If port is "
             "omitted, the standard IMAP4-over-SSL port (993) is used. If host is not specified, the local host is "
             "used.\n\nIMAP4\n\nThis class implements the actual IMAP4 protocol. The connection is created when the "
             "instance is initialized.", ("imaplib", "IMAP4 Objects"))
PORT_QUESTION = "If I create an IMAP4_SSL connection without specifying a port, which port does it use?"


def test_the_quote_is_the_best_ranked_sentences_that_state_a_default_best_first():
    contexts = sentence_contexts([IMAP])
    ranked = [s.text for s in rank_sentences(PORT_QUESTION, [IMAP.node.text], contexts)]
    assert ranked[0] == "The connection is created when the instance is initialized."  # first, but states no default
    got = default_quote(PORT_QUESTION, [IMAP], contexts)
    assert got is not None
    sentences, cut = got
    assert [s.text for s in sentences] == ["If port is omitted, the standard IMAP4-over-SSL port (993) is used.",
                                           "If host is not specified, the local host is used."]
    assert ranked.index(sentences[0].text) < ranked.index(sentences[1].text)  # best first
    assert [c.node.text for c in cut] == [" ".join(s.text for s in sentences)]  # the leaf cut to them, in order
    one = default_quote(PORT_QUESTION, [IMAP], contexts, k=1)
    assert one is not None and [s.text for s in one[0]] == [sentences[0].text]
    near = default_quote(PORT_QUESTION, [IMAP], contexts, candidates=1)
    assert near is None  # the one sentence read states no default


def test_no_quote_without_a_sentence_stating_a_default_or_when_the_kept_text_is_about_something_else():
    plain = _leaf("Database snapshots are taken nightly and kept for 35 days.", ("Backup", "Schedule"))
    assert default_quote("If I don't set a retention, how long are database snapshots kept?", [plain]) is None
    assert default_quote("If I leave out the compression level, which zstd level is used?", [IMAP]) is None
    assert default_quote(PORT_QUESTION, [IMAP], min_coverage=0.99) is None


def test_a_later_sentence_stating_another_value_is_left_out_and_each_text_is_quoted_once():
    # Two neighbouring entries: "The default value is ..." alone says nothing of whose value it is
    prompts = _leaf("PS1\n\nThe primary prompt string. The default value is ‘\\s-\\v\\$ ’.\n\nPS2\n\nThe secondary "
                    "prompt string. The default value is ‘> ’.", ("Bash", "Bash Variables"))
    q = "What is the default value of the secondary prompt string PS2?"
    got = default_quote(q, [prompts], sentence_contexts([prompts]))
    assert got is not None
    said = [s.text for s in got[0]]
    assert said == ["The default value is ‘> ’."]  # PS1's value would contradict it
    again = _leaf("If port is omitted, the standard IMAP4-over-SSL port (993) is used.", ("imaplib", "Notes"), 1)
    got = default_quote(PORT_QUESTION, [IMAP, again], k=3)
    assert got is not None
    said = [s.text for s in got[0]]
    assert said.count("If port is omitted, the standard IMAP4-over-SSL port (993) is used.") == 1 and len(said) == 2


def test_quote_defaults_is_on_by_default_and_can_be_turned_off():
    assert PrefillConfig().quote_defaults is True
    assert PrefillConfig(quote_defaults=False).quote_defaults is False


SERVER = {
    "server.md": "# Server\n\n## Listening\n\nThe server accepts connections on the TCP port given with --port. "
                 "If --port is omitted, the server listens on port 8080.\n",
    "cache.md": "# Cache\n\n## Expiry\n\nSession entries expire after 4 minutes of inactivity.\n",
}


def _server_engine(tmp_path, encoder, counter, backend, files=SERVER, **prefill):
    from h2mt import H2MT, H2MTConfig

    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return H2MT.build([tmp_path], H2MTConfig(prefill=PrefillConfig(**prefill)), encoder=encoder,
                      token_counter=counter, backend=backend)


def test_the_engine_quotes_the_default_and_generates_nothing_unless_turned_off(tmp_path, encoder, counter):
    from .test_answer_task import ScriptedBackend

    q = "If I start the server without --port, which port does it listen on?"
    eng = _server_engine(tmp_path, encoder, counter, ScriptedBackend("443"))
    a = eng.answer(q)
    assert a.text == "If --port is omitted, the server listens on port 8080."
    assert "state a default" in a.accounting.task_reason and a.accounting.completion_tokens == 0
    assert [s.node.text for s in a.sources] == [a.text]  # what the quote stands on: its leaf cut to it
    off = _server_engine(tmp_path, encoder, counter, ScriptedBackend("443"))
    off.config = replace(off.config, prefill=replace(off.config.prefill, quote_defaults=False))
    b = off.answer(q)
    assert "state a default" not in b.accounting.task_reason and b.accounting.completion_tokens > 0


def test_a_question_about_something_else_is_generated_as_before(tmp_path, encoder, counter):
    from .test_answer_task import ScriptedBackend

    cache = {"cache.md": SERVER["cache.md"],
             "queue.md": "# Queue\n\n## Workers\n\nEach worker takes one job at a time.\n"}
    eng = _server_engine(tmp_path, encoder, counter, ScriptedBackend("4 minutes"), files=cache)
    a = eng.answer("How long do session entries last without activity?")  # asks what is assumed; none stated
    assert "state a default" not in a.accounting.task_reason
    assert a.text == "4 minutes" and a.accounting.completion_tokens > 0
    assert any(split_sentences(s.node.text) == ["Session entries expire after 4 minutes of inactivity."]
               for s in a.sources)  # the generator read the kept text, not a cut


FINDER = {
    "finder.md": "# Finder\n\n## Classes\n\nModuleFinder(path=None)\n\nThis class determines the set of modules a "
                 "script imports. If the path argument is not given, the directories in sys.path are searched."
                 "\n\nScriptRunner(path=None)\n\nThis class runs a script in a fresh interpreter. Otherwise the "
                 "directories to search are found from the Python executable by default.\n",
    "cache.md": SERVER["cache.md"],
}


def test_the_default_is_quoted_from_the_entry_the_question_names_first(tmp_path, encoder, counter):
    from h2mt.query.entries import named_entry, whole_entries

    from .test_answer_task import ScriptedBackend

    q = "If I construct ModuleFinder() without a path argument, which directories does it search?"
    eng = _server_engine(tmp_path, encoder, counter, ScriptedBackend("PYTHONPATH"), files=FINDER)
    kept = eng.route(q).kept
    entry = named_entry(q, whole_entries(kept))
    assert entry is not None and entry.keys[0] == "ModuleFinder"
    a = eng.answer(q)
    assert a.text == "If the path argument is not given, the directories in sys.path are searched."
    assert a.accounting.completion_tokens == 0
    everywhere = default_quote(q, kept)  # over all the kept sentences, ScriptRunner's comes in too
    assert everywhere is not None and any(s.text.startswith("Otherwise") for s in everywhere[0])
    assert "Otherwise" not in a.text
    assert [s.node.text for s in a.sources] == [a.text]


def test_an_options_sentence_naming_what_it_replaces_states_the_default():
    mapfile = _leaf("Read lines into the indexed array variable array.\n-u fd\nRead lines from file descriptor fd "
                    "instead of the standard input.\n-t\nRemove a trailing delim from each line read.",
                    ("Bash", "Bash Builtins", "mapfile"))
    q = "When I run mapfile without giving -u, where does it read the lines from?"
    got = default_quote(q, [mapfile], sentence_contexts([mapfile]))
    assert got is not None
    assert [s.text for s in got[0]] == ["Read lines from file descriptor fd instead of the standard input."]
    wal = _leaf("-w path\n\nTry to parse WAL files stored in the specified directory, rather than in pg_wal.",
                ("pg_verifybackup", "Options"))
    got = default_quote("If I don't give pg_verifybackup a WAL directory, where does it look for WAL?", [wal],
                        sentence_contexts([wal]))
    assert got is not None and [s.text for s in got[0]] == [
        "Try to parse WAL files stored in the specified directory, rather than in pg_wal."]
    printf = _leaf("The -v option causes the output to be assigned to the variable var rather than being printed to "
                   "the standard output.", ("Bash", "Bash Builtins", "printf"))
    assert default_quote("If I run printf without -v, where does the output go?", [printf]) is None  # an action
