"""Entries of reference docs (h2mt.query.entries): a "which option ... <description>?" question is
answered with the name of the entry whose text matches, a "what does X do?" question with X's own
opening sentences, a value of X is read from X's entry alone."""

from __future__ import annotations

import pytest
from h2mt import H2MT, ChunkConfig, H2MTConfig, PrefillConfig
from h2mt.query.entries import (
    Entry,
    asks_for_default,
    asks_for_name,
    described_entries,
    detail_sentence,
    entry_keys,
    entry_source,
    named_entry,
    opening,
    option_sentence,
    sentence_default,
    signature_default,
    split_entries,
    stated_default,
    whole_entries,
)
from h2mt.query.evidence import rank_sentences
from h2mt.types import Node, NodeKind, ScoredNode

from .test_answer_symbols import LogitBackend, ServerBackend
from .test_answer_task import ScriptedBackend


def _leaf(text: str, path: tuple[str, ...], i: int = 0) -> ScoredNode:
    return ScoredNode(Node(i, NodeKind.LEAF, path[-1], -1, [], 0, 0, len(text), len(text.split()), len(path), path,
                           text), 1.0)


SHOPT = _leaf("The list of shopt options is:\n\nautocd\n\nIf set, a command name that is the name of a directory is "
              "executed as if it were the argument to the cd command.\n\ncdspell\n\nIf set, minor errors in the "
              "spelling of a directory component in a cd command will be corrected.\n\nglobstar\n\nIf set, the "
              "pattern ‘**’ used in a filename expansion context will match all files and zero or more "
              "directories and subdirectories.", ("Bash", "4.3.2 The Shopt Builtin"))
INDEX = _leaf("Bash Variables\n\nMAIL: Bourne Shell Variables\n\nMAILCHECK: Bash Variables\n\nMAILPATH: Bourne Shell "
              "Variables", ("Bash", "D.3 Parameter and Variable Index"), 1)
SET = _leaf("set [-abefhkmnptuvxBCEHPT] [-o option-name] [--] [-] [argument …]\n\nThis builtin is so complicated that "
            "it deserves its own section.\n\n-f\n\nDisable filename expansion (globbing).\n\n-n\n\nRead commands but "
            "do not execute them.", ("Bash", "4.3 Modifying Shell Behavior", "4.3.1 The Set Builtin"), 2)
TEST = _leaf("-N file\n\nTrue if file exists and has been modified since it was last read.\n\n-n string\n\nTrue if the "
             "length of string is non-zero.", ("Bash", "6.4 Bash Conditional Expressions"), 3)


@pytest.mark.parametrize("name, keys", [
    ("functools.reduce(function, iterable[, initializer])", ("functools.reduce", "reduce")),
    ("exception NameError", ("NameError",)),
    ("class int(x=0)", ("int",)),
    ("random_page_cost (floating point)", ("random_page_cost",)),
    ("RESTART IDENTITY", ("RESTART IDENTITY",)),
    ("7.10. The continue statement", ("continue",)),
    ("@functools.singledispatch", ("functools.singledispatch", "singledispatch")),
    ("hash [-r] [-p filename] [-dt] [name]", ("hash",)),
    ("-f", ("-f",)),
    ("Synopsis", ()),
    ("3.7 Executing Commands", ()),
    ("The list of shopt options is:", ()),
])
def test_the_keys_an_entry_answers_to(name, keys):
    assert entry_keys(name) == keys


def test_a_definition_list_is_cut_at_its_terms_and_index_lines_are_no_entries():
    entries = split_entries([SHOPT, INDEX])
    assert [e.name for e in entries] == ["autocd", "cdspell", "globstar"]  # no heading entry: "Shopt" is a title
    cdspell = entries[1]
    assert (cdspell.leaf, cdspell.first, cdspell.last, cdspell.term) == (0, 3, 5, True)
    assert entry_source(cdspell, [SHOPT]).node.text.startswith("cdspell\nIf set, minor errors")


def test_a_leaf_that_starts_inside_an_entry_belongs_to_the_term_that_closed_the_leaf_before():
    head, tail = SHOPT.node.text.rsplit("\n\nIf set, the pattern", 1)
    rest = _leaf("If set, the pattern" + tail, ("Bash", "4.3.2 The Shopt Builtin", "shopt"))
    assert [e.name for e in split_entries([rest])] == ["shopt"]  # alone: the heading's
    (e,) = split_entries([rest], before=[head])
    assert e.name == "globstar" and e.term and (e.first, e.last) == (0, 1)
    assert entry_source(e, [rest]).node.text.startswith("globstar\nIf set, the pattern")  # the name travels with it


@pytest.mark.parametrize("question, asks", [
    ("Which shopt option corrects minor errors in the spelling of a directory component?", True),
    ("Which exception is raised when a local or global name is not found?", True),
    ("Which built-in function returns the identity of an object?", True),
    ("Which parameter sets the planner's estimate of the cost of a random page fetch?", True),
    ("Which pickle protocol version is the default?", False),
    ("Which TCP port does the server listen on by default?", False),
    ("What variable holds the history size?", True),
    ("What inputrc setting lets a dash and an underscore match each other?", True),
    ("Which contextlib helper sends what gets written to sys.stdout into another file?", True),
    ("What is the default value of HISTSIZE?", False),
    ("Which magazine was started first?", False),
])
def test_which_questions_describe_an_entry(question, asks):
    assert asks_for_name(question) is asks


def test_a_described_entry_is_found_by_its_text_never_its_neighbour_nor_the_name_asked():
    q = "Which shopt option corrects minor errors in the spelling of a directory component in a cd command?"
    assert [e.keys[0] for e in described_entries(q, [SHOPT])] == ["cdspell"]  # not autocd, which also says "cd"
    q = "Which shopt option, other than autocd, runs a directory name as if it were the argument to cd?"
    assert "autocd" not in [e.keys[0] for e in described_entries(q, [SHOPT])]
    assert described_entries("Which option lists the shopt options?", [SHOPT]) == []  # the best sentence is no entry's


def test_a_described_entry_matching_little_of_a_long_question_is_taken_only_from_the_leading_leaf():
    q = ("My scripts keep failing in odd places after I typo a folder name in cd and I would rather the shell "
         "fix small spelling errors in the directory part for me; which shopt option is it?")
    assert described_entries(q, [SHOPT]) == []  # its best sentence holds too little of the question's words
    assert [e.keys[0] for e in described_entries(q, [SHOPT], lead=0)] == ["cdspell"]  # ...but sits in the best leaf
    assert described_entries(q, [TEST, SHOPT], lead=0) == []  # another leaf leads: no name taken


def test_the_entry_a_question_names_is_the_most_specific_one_that_holds_its_code():
    e = named_entry("What does `set -n` do?", [TEST, SET])
    assert e is not None and e.name == "-n" and e.leaf == 1  # not "-N file", not test's "-n string"
    assert named_entry("What does `set -n` do?", [TEST]) is None  # set's entry not kept: no entry to read
    assert named_entry("What does the cdspell option do?", [SHOPT]).name == "cdspell"  # type: ignore[union-attr]
    module = _leaf("In general, any callable object can be treated as a function.", ("functools — Higher-order",))
    assert named_entry("What does functools.lru_cache do?", [module]) is None  # a dotted name names its own entry


def test_the_opening_quotes_prose_sentences_not_syntax_lines():
    hash_ = _leaf("hash [-r] [-p filename] [-dt] [name]\n\nEach time hash is invoked, it remembers the full pathnames "
                  "of the commands. The -r option causes the shell to forget all remembered locations. The return "
                  "status is zero.", ("Bash", "4.1 Bourne Shell Builtins"))
    (e,) = split_entries([hash_])
    assert opening(e, [hash_]) == ("Each time hash is invoked, it remembers the full pathnames of the commands. "
                                   "The -r option causes the shell to forget all remembered locations.")
    cont = _leaf('continue_stmt ::= "continue"\n\ncontinue may only occur nested in a loop. It continues with the '
                 "next cycle of the nearest enclosing loop.", ("Reference", "7.10. The continue statement"))
    (e,) = split_entries([cont])
    assert opening(e, [cont]).endswith("next cycle of the nearest enclosing loop.") and "::=" not in opening(e, [cont])


VARS = {"vars.md": "# Variables\n\n## CACHE_TTL\n\nMinutes before session entries expire. The default is 30.\n\n"
                   "## KEEP_DAYS\n\nThe number of days database snapshots are kept. The default is 35.\n\n"
                   "## LOG_DIR\n\nWhere the server writes its logs. The default is /var/log/app.\n"}


@pytest.fixture
def build(tmp_path, encoder, counter):
    def make(backend, files=VARS, task: str = "auto", **prefill) -> H2MT:
        for name, text in files.items():
            (tmp_path / name).write_text(text, encoding="utf-8")
        cfg = H2MTConfig(prefill=PrefillConfig(task=task, **prefill))
        return H2MT.build([tmp_path], cfg, encoder=encoder, token_counter=counter, backend=backend)

    return make


def test_a_described_entry_is_answered_by_its_name_without_generating(build):
    be = ScriptedBackend("CACHE_TTL")  # a small model's neighbouring entry
    ans = build(be).answer("Which variable sets how many days database snapshots are kept?", budget=400)
    assert ans.text == "KEEP_DAYS" and be.calls == 0 and ans.accounting.completion_tokens == 0
    assert ans.accounting.task == "short" and "the entry whose text matches best" in str(ans.accounting.task_reason)
    assert [s.node.path[-1] for s in ans.sources] == ["KEEP_DAYS"]  # what the answer stands on
    forced = build(be, task="short").answer("Which variable sets how many days database snapshots are kept?")
    assert forced.text == "CACHE_TTL" and be.calls == 1  # a forced task generates as before


def test_of_close_entries_the_best_matching_ones_name_is_the_answer_and_all_are_its_sources(build):
    modes = {"modes.md": "# Modes\n\n## FAST_MODE\n\nIf set, queries run in parallel.\n\n"
                         "## QUICK_MODE\n\nIf set, queries run in parallel too.\n\n"
                         "## SLOW_MODE\n\nIf set, logs grow.\n"}
    question = "Which option makes queries run in parallel?"
    for be in (LogitBackend("SLOW_MODE", favour="Q"), ServerBackend("QUICK_MODE")):  # neither is asked
        ans = build(be, modes).answer(question, budget=400)
        assert ans.text == "FAST_MODE" and be.calls == 0 and getattr(be, "forwards", 0) == 0
        assert ans.accounting.answer_kind == "quoted" and ans.accounting.completion_tokens == 0
        assert "the entry whose text matches best (2 close)" in str(ans.accounting.task_reason)
        assert [s.node.path[-1] for s in ans.sources] == ["FAST_MODE", "QUICK_MODE"]  # both read, document order


def test_what_an_entry_is_is_its_own_opening_quoted(build):
    be = ScriptedBackend("KEEP_DAYS does not keep snapshots.")  # an inversion the quote cannot make
    ans = build(be).answer("What is KEEP_DAYS?", budget=400)
    assert ans.text == "The number of days database snapshots are kept. The default is 35."
    assert be.calls == 0 and ans.accounting.prefill_ms == 0.0 and ans.accounting.task == "brief"
    assert "quoted the opening of KEEP_DAYS's entry" in str(ans.accounting.task_reason)
    assert ans.accounting.answer_kind == "quoted" and ans.accounting.as_dict()["answer_kind"] == "quoted"
    assert ans.context.strip().endswith("The default is 35.") and "CACHE_TTL" not in ans.context
    does = build(be).answer("What does KEEP_DAYS do?", budget=400)  # the sentences ranked best in their places
    assert does.text.startswith("The number of days database snapshots are kept.") and be.calls == 0
    assert "the 3 sentences ranked best in their places" in str(does.accounting.task_reason)


def test_a_value_of_a_named_entry_is_read_from_that_entry_alone(build):
    be = ScriptedBackend("/var/log/app")
    ans = build(be).answer("What is the value of the LOG_DIR variable?", budget=400)
    assert ans.text == "/var/log/app" and be.calls == 1
    context = be.prompts[0].split("Context:")[1].split("Question:")[0]
    assert "/var/log/app" in context and "CACHE_TTL" not in context and "35" not in context
    assert "read LOG_DIR's entry" in str(ans.accounting.task_reason) and ans.accounting.answer_kind == "generated"


def test_a_leaf_continuing_its_section_has_no_opening_to_quote():
    rest = _leaf("If the -a option is used, type returns all of the places. The return status is zero.",
                 ("Bash", "4.2 Bash Builtin Commands", "type"))
    (alone,) = split_entries([rest], before=[None])
    (continued,) = split_entries([rest], before=["type [-afptP] [name …]\n\nFor each name, indicate how it would be"
                                                 " interpreted if used as a command name."])
    assert opening(alone, [rest]).startswith("If the -a option") and opening(continued, [rest]) == ""


def test_an_opening_may_hold_an_equals_sign_or_a_colon():
    leaf = _leaf("When on, expressions of the form expr = NULL are treated as expr IS NULL. The default is off.\n\n"
                 "SKIP_LOCKED\n\nSpecifies that VACUUM should not wait for locks: the relation is skipped.",
                 ("Config", "transform_null_equals (boolean)"))
    first, second = split_entries([leaf])
    assert opening(first, [leaf]).startswith("When on, expressions of the form expr = NULL")
    assert opening(second, [leaf]) == "Specifies that VACUUM should not wait for locks: the relation is skipped."


def test_the_kind_noun_after_a_subject_names_no_entry():
    builtins = _leaf("builtin [shell-builtin [args]]\n\nRun a shell builtin, passing it args.\n\n"
                     "command [-pVv] command [arguments …]\n\nRuns command with arguments ignoring any shell function "
                     "named command.", ("Bash", "4.2 Bash Builtin Commands"))
    assert named_entry("What does the command builtin do?", [builtins]).name.startswith("command")  # type: ignore[union-attr]
    assert named_entry("What does the builtin builtin do?", [builtins]).name.startswith("builtin")  # type: ignore[union-attr]


@pytest.mark.parametrize("text, value", [
    ("Sets the memory. The default is 64 megabytes (64MB). Note that more is better.", "64 megabytes (64MB)"),
    ("If set to ‘audible’ (the default), Readline rings the bell. If set to ‘none’, it never does.", "‘audible’"),
    ("The default value is ~/.bash_history.", "~/.bash_history"),
    ("The default is three.", "three"),
    ("By default, this variable is set to ‘off’.", "‘off’"),
    ("The default is 100 connections, but might be less if the kernel will not support it.", "100 connections"),
    ("Return an iterator whose start defaults to 0.", "0"),
    ("The default is to use the setting of the operating system for everything that matters.", ""),  # a sentence
    ("The default is on. If the default is off, nothing happens.", ""),  # two defaults: no single value
    ("Sets the memory used by sorts.", ""),
])
def test_the_default_an_entry_states(text, value):
    leaf = _leaf(text, ("Config", "some_setting (integer)"))
    (e,) = split_entries([leaf])
    assert stated_default(e, [leaf]) == value


def test_a_default_the_entry_states_is_the_answer_without_generating(build):
    be = ScriptedBackend("30")  # the neighbouring entry's default
    ans = build(be).answer("What is the default value of KEEP_DAYS?", budget=400)
    assert ans.text == "35" and be.calls == 0
    assert "the default stated in KEEP_DAYS's entry" in str(ans.accounting.task_reason)


def test_a_default_asked_of_one_part_of_an_entry_comes_from_the_sentence_naming_that_part():
    leaf = _leaf("Return an array of bytes representing an integer. The integer is represented using length bytes, and "
                 "defaults to 1. The byteorder argument determines the byte order, and defaults to \"big\".",
                 ("Built-in Types", "int.to_bytes(length=1, byteorder='big')"))
    (e,) = split_entries([leaf])
    assert stated_default(e, [leaf]) == ""  # two defaults: none is the answer
    assert stated_default(e, [leaf], "What is the default byteorder of int.to_bytes()?") == '"big"'
    assert stated_default(e, [leaf], "What is the default length of int.to_bytes()?") == "1"


def test_a_whole_entry_is_preferred_to_a_leaf_continuing_it():
    start = _leaf("type [-afptP] [name …]\n\nFor each name, indicate how it would be interpreted.",
                  ("Bash", "4.2 Bash Builtin Commands", "type"), 0)
    rest = _leaf("If the -f option is used, type does not look up functions.",
                 ("Bash", "4.2 Bash Builtin Commands", "type"), 1)
    e = named_entry("What does the type builtin do?", [start, rest], before=[None, start.node.text])
    assert e is not None and e.leaf == 0
    assert opening(e, [start, rest]) == "For each name, indicate how it would be interpreted."


def test_what_an_entry_is_for_is_its_opening_quoted(build):
    be = ScriptedBackend("LOG_DIR is for logs, not for anything else.")
    ans = build(be).answer("What is LOG_DIR for?", budget=400)
    assert be.calls == 0 and ans.text.startswith("Where the server writes its logs.")


@pytest.mark.parametrize("question, asks", [
    ("What is the default value of PS2?", True),
    ("By default, how many lines does the history keep?", True),
    ("What does lpad() pad with if no fill is given? (the default)", True),
    ("What fillfactor does a table get when I don't set one?", True),  # what users write for "the default"
    ("How similar must a match be if I leave the cutoff argument alone?", True),
    ("If I never change log_destination, where do the messages go?", True),
    ("Which category does PostgreSQL assume without saying anything about volatility?", True),
    ("Which weekday do the weeks start on unless I change it?", True),
    ("Out of the box, what level is client_min_messages set to?", True),
    ("What does the timer do if I keep it as is?", True),
    ("What happens unless I quote the variable?", False),  # no setting changed
    ("What is the value of PS2?", False),
    ("Which variable sets the history size?", False),
    ("What happens if I don't quote the variable?", False),  # not a setting left alone
])
def test_a_question_asks_for_a_default_when_it_says_so(question, asks):
    assert asks_for_default(question) is asks


DIFFLIB = _leaf("Return a list of the best good enough matches.\nOptional argument n (default 3) is the maximum "
                "number of close matches to return; n must be greater than 0.\nOptional argument cutoff (default 0.6) "
                "is a float in the range [0, 1]. Possibilities that don't score at least that similar to word are "
                "ignored.", ("difflib", "difflib.get_close_matches(word, possibilities, n=3, cutoff=0.6)"))


@pytest.mark.parametrize("question, value", [
    ("What cutoff does get_close_matches use if I leave the cutoff argument alone?", "0.6"),
    ("How many close matches come back if I don't pass n?", "3"),
    ("Which checkpoint mode is requested if I don't pass --checkpoint?", None),  # no sentence states it here
])
def test_a_default_stated_in_the_sentence_matching_best(question, value):
    got = sentence_default(question, [DIFFLIB])
    assert (got[0] if got else None) == value


def test_a_default_no_named_entry_states_is_quoted_from_its_sentence(build):
    files = {"matching.md": "# Matching\n\n## Close matches\n\nReturn a list of the best good enough matches. "
                            "Optional argument n (default 3) is the maximum number of close matches to return. "
                            "Optional argument cutoff (default 0.6) is a float in the range [0, 1].\n"}
    be = ScriptedBackend("3")  # a neighbouring sentence's number
    q = "What cutoff is used if I leave the cutoff argument alone?"
    ans = build(be, files, quote_defaults=False).answer(q, budget=400)
    assert be.calls == 0 and ans.text == "0.6"
    assert "the default stated in the sentence matching best" in str(ans.accounting.task_reason)
    quoted = build(be, files).answer(q, budget=400)  # quote_defaults: the sentence itself, not n's "default 3"
    assert be.calls == 0 and quoted.text == "Optional argument cutoff (default 0.6) is a float in the range [0, 1]."
    assert "state a default" in str(quoted.accounting.task_reason)


def test_the_stated_default_patterns():
    src = [_leaf("Sets checkpoint mode to fast (immediate) or spread (the default).\n100 (complete packing) is the "
                 "default.\nIf none of these appear, VOLATILE is the default assumption.\nThis is the default "
                 "behaviour.", ("Doc", "Entry"))]
    assert sentence_default("Which checkpoint mode is the default?", src) == ("spread", 0)
    assert sentence_default("What fillfactor is the default, complete packing?", src) == ("100", 0)
    assert sentence_default("Which volatility category is the default assumption?", src) == ("VOLATILE", 0)
    this = [_leaf("This is the default behaviour.", ("Doc", "Entry"))]
    assert sentence_default("What is the default behaviour?", this) is None  # "This" is no value



def test_a_default_stated_a_few_sentences_after_the_best_match_in_its_entry():
    entry = [_leaf("The maximum number of seconds to wait when attempting connection before returning that the server "
                   "is not responding. Setting to 0 disables. The default is 3 seconds.", ("pg_isready", "-t seconds"))]
    q = "How long does pg_isready wait for the connection before giving up if I don't pass a timeout?"
    assert sentence_default(q, entry) == ("3 seconds", 0)
    far = [_leaf(entry[0].node.text.replace("Setting to 0 disables.", "One. Two. Three."), ("pg_isready", "-t"))]
    assert sentence_default(q, far) is None  # four sentences on: another entry's default, maybe


WAIT = _leaf("wait [-fn] [-p varname] [jobspec or pid …]\nWait until the child process specified by each process ID "
             "pid exits and return the exit status of the last command waited for. If the -n option is supplied, "
             "wait waits for a single job from the list of pids or jobspecs, to complete and returns its exit "
             "status.", ("Bash", "Job Control", "wait"))


@pytest.mark.parametrize("question", ["What does wait -n do?", "What does `wait -n` do?"])
def test_a_named_option_is_answered_by_its_sentence_not_the_opening(question):
    e = named_entry(question, [WAIT])
    assert e is not None and e.keys == ("wait",)
    assert option_sentence(e, [WAIT], question).startswith("If the -n option is supplied, wait waits for a single job")
    assert opening(e, [WAIT]).startswith("Wait until the child process")
    assert option_sentence(e, [WAIT], "What does wait do?") == ""  # no option named
    assert option_sentence(e, [WAIT], "What does `wait -q` do?") == ""  # an option the entry never mentions
    assert option_sentence(e, [WAIT], "What does `kill -n` do?") == ""  # another command's option


def test_an_option_on_its_own_term_line_is_answered_by_the_line_after():
    src = [_leaf("set [-abx]\nSet or unset values of shell options.\n-a\nMark variables for export.\n-x\n"
                 "Print a trace of commands.", ("Bash", "set"))]
    entry = Entry("set [-abx]", ("set",), 0, 0, 99, ("Bash", "set"), True)
    assert option_sentence(entry, src, "What does `set -x` do?") == "Print a trace of commands."


SKIP = _leaf("skip-completed-text\n\nIf set to ‘on’, this alters the default completion behavior when inserting a "
             "single match into the line. It’s only active when performing completion in the middle of a word. "
             "If enabled, Readline does not insert characters from the completion that match characters after point "
             "in the word being completed, so portions of the word following the cursor are not duplicated.",
             ("Bash", "8.3.1 Readline Init File Syntax"))


def test_a_detail_the_question_asks_beyond_the_entry_gets_the_entry_sentence_on_it():
    (e,) = split_entries([SKIP])
    shown = opening(e, [SKIP])
    assert shown.endswith("in the middle of a word.")  # the opening stops before the detail
    q = "What does turning on readline's skip-completed-text option change when I complete in the middle of a word?"
    assert detail_sentence(e, [SKIP], q, shown).startswith("If enabled, Readline does not insert characters")
    assert detail_sentence(e, [SKIP], "What does skip-completed-text do?", shown) == ""  # asks only about the entry
    assert detail_sentence(e, [SKIP], "What does skip-completed-text change for the cursor?", SKIP.node.text) == ""


READLINE_A = ("enable-keypad\n\nWhen set to ‘on’, Readline will try to enable the application keypad.\n\n"
              "horizontal-scroll-mode\n\nThis variable can be set to either ‘on’ or ‘off’.")
READLINE_B = ("Setting it to ‘on’ means that the text of the lines being edited will scroll horizontally. "
              "By default, this variable is set to ‘off’.\n\ninput-meta\n\nIf set to ‘on’, Readline will enable "
              "eight-bit input.")


def test_an_entry_cut_by_a_leaf_boundary_is_made_whole_from_either_side():
    path = ("Bash", "8.3.1 Readline Init File Syntax", "Variable Settings")
    a, b = _leaf(READLINE_A, path, 0), _leaf(READLINE_B, path, 1)
    (joined_b,) = whole_entries([b], before=[READLINE_A])
    assert joined_b.node.text.startswith("horizontal-scroll-mode\nThis variable can be set to either ‘on’ or ‘off’.\n"
                                         "Setting it to ‘on’")
    assert joined_b.node.tokens > b.node.tokens and (joined_b.node.id, joined_b.score) == (b.node.id, b.score)
    e = next(e for e in split_entries([joined_b]) if e.keys == ("horizontal-scroll-mode",))
    assert stated_default(e, [joined_b]) == "‘off’"
    assert [e.keys[0] for e in split_entries([b])] == ["input-meta"]  # alone, the cut entry has no name
    (joined_a,) = whole_entries([a], after=[READLINE_B])  # the rest, up to the next leaf's first term line
    assert joined_a.node.text.endswith("By default, this variable is set to ‘off’.") and "input-meta" not in \
        joined_a.node.text
    assert stated_default(split_entries([joined_a])[-1], [joined_a]) == "‘off’"


def test_a_leaf_with_nothing_cut_is_returned_as_it_is():
    path = ("Bash", "Variable Settings")
    starts_with_term = _leaf(READLINE_A, path)
    assert whole_entries([starts_with_term], before=[READLINE_B])[0] is starts_with_term  # it starts at a term
    assert whole_entries([SHOPT], before=[None], after=[None])[0] is SHOPT  # no neighbours
    prose = _leaf("Readline is customized by putting commands in an init file.", ("Bash", "8.3 Readline Init File"))
    assert whole_entries([prose], after=[READLINE_B])[0] is prose  # no entry of its own runs to its end


def test_a_default_in_the_leaf_after_its_entrys_term_is_quoted(tmp_path, encoder, counter):
    doc = ("# Readline\n\n## Variable Settings\n\n" + "\n\n".join(
        f"{name}\n\n{text}" for name, text in (
            ("bell-style", "Controls what happens when Readline wants to ring the terminal bell. If set to ‘none’, "
                           "Readline never rings the bell."),
            ("comment-begin", "The string to insert at the beginning of the line when the insert-comment command is "
                              "executed."),
            ("enable-keypad", "When set to ‘on’, Readline will try to enable the application keypad when it is "
                              "called. Some systems need this to enable the arrow keys."),
            ("horizontal-scroll-mode", "This variable can be set to either ‘on’ or ‘off’. Setting it to ‘on’ means "
                                       "that the text of the lines being edited will scroll horizontally on a single "
                                       "screen line when they are longer than the width of the screen, instead of "
                                       "wrapping onto a new screen line. By default, this variable is set to ‘off’."),
            ("input-meta", "If set to ‘on’, Readline will enable eight-bit input."))))
    (tmp_path / "readline.md").write_text(doc, encoding="utf-8")
    cfg = H2MTConfig(chunk=ChunkConfig(max_tokens=60, min_tokens=8), prefill=PrefillConfig(task="auto"))
    be = ScriptedBackend("on")  # what a small model reads in the cut entry's first sentence
    eng = H2MT.build([tmp_path], cfg, encoder=encoder, token_counter=counter, backend=be)
    leaves = eng.index.leaves()
    rest = next(n for n in leaves if "By default, this variable is set to ‘off’." in n.text)
    assert "horizontal-scroll-mode" not in rest.text  # the premise: the entry is cut by a leaf boundary
    start = eng.index.next_leaf(rest.id, -1)
    assert start is not None and "horizontal-scroll-mode" in start.text and eng.index.next_leaf(start.id) == rest
    ans = eng.answer("My long lines wrap; unless I change it, what is the default of horizontal-scroll-mode?",
                     budget=400)
    assert ans.text == "‘off’" and be.calls == 0
    assert "the default stated in horizontal-scroll-mode's entry" in str(ans.accounting.task_reason)


COMPILE = _leaf("Byte-compile all the .py files found along sys.path. Note that unlike the other compile functions, "
                "maxlevels defaults to 0.",
                ("compileall", "compileall.compile_path(skip_curdir=True, maxlevels=0, force=False, "
                 "rx=re.compile('a,b'), quiet=0, optimize=-1)"))


@pytest.mark.parametrize("question, value", [
    ("When I call compileall.compile_path() without passing maxlevels, how deep does it recurse?", "0"),
    ("What is the default optimize level of compile_path()?", "-1"),
    ("What is the default rx of compile_path()?", "re.compile('a,b')"),  # a comma inside a call does not split
    ("What does compile_path() use by default for maxlevels and quiet?", None),  # two parameters: not one value
    ("What is the default maxlevels of compile_dir()?", None),  # another function
    ("What is the default value of skip_curdir?", None),  # the function is not named
])
def test_the_default_a_kept_signature_writes_for_the_parameter_asked(question, value):
    got = signature_default(question, [COMPILE])
    assert (got[0] if got else None) == value


def test_a_signature_in_the_docs_notation_with_an_optional_group_still_gives_its_defaults():
    mmap = _leaf("class mmap.mmap(fileno, length, flags=MAP_SHARED, prot=PROT_WRITE|PROT_READ, "
                 "access=ACCESS_DEFAULT[, offset])\n\nMaps length bytes from the file.", ("mmap", "x"))
    assert signature_default("Which flags does mmap.mmap() use by default?", [mmap]) == ("MAP_SHARED", 0)
    telnet = _leaf("class telnetlib.Telnet(host=None, port=0[, timeout])\n\nTelnet represents a connection.",
                   ("t", "z"))
    assert signature_default("Which port does telnetlib.Telnet() use by default?", [telnet]) == ("0", 0)
    empty = _leaf("heapq.merge(key=None, reverse=False, seen=[])\n\nMerge.", ("h", "w"))
    assert signature_default("What does heapq.merge() use for seen by default?", [empty]) == ("[]", 0)
    none = _leaf("concurrent.futures.ThreadPoolExecutor(max_workers=None)\n\nAn Executor subclass.", ("cf", "y"))
    assert signature_default("What is the default max_workers of ThreadPoolExecutor()?", [none]) is None


def test_a_term_line_signature_counts_and_disagreeing_signatures_give_none():
    term = _leaf("textwrap.fill(text, width=70, **kwargs)\n\nWraps the single paragraph in text.", ("textwrap", "x"))
    assert signature_default("What width does textwrap.fill() wrap to by default?", [term]) == ("70", 0)
    other = _leaf("textwrap.fill(text, width=80)\n\nAn older signature.", ("textwrap", "y"), 1)
    assert signature_default("What width does textwrap.fill() wrap to by default?", [term, other]) is None


def test_a_signatures_default_is_quoted_without_generating(build):
    files = {"compileall.md": "# compileall\n\n## compileall.compile_dir(dir, maxlevels=10, force=False)\n\n"
                              "Recursively descend the directory tree named by dir.\n\n"
                              "## compileall.compile_path(skip_curdir=True, maxlevels=0, force=False)\n\n"
                              "Byte-compile all the .py files found along sys.path.\n"}
    be = ScriptedBackend("10")  # the neighbouring function's default
    ans = build(be, files).answer("When I call compileall.compile_path() without passing maxlevels, how deep "
                                  "does it recurse?", budget=400)
    assert ans.text == "0" and be.calls == 0
    assert ans.accounting.task_reason is not None and "the default its signature writes" in ans.accounting.task_reason


def test_an_example_call_is_no_entry_so_the_text_after_it_joins_no_name():
    howto = ("Defining Networks\n\n>>> ipaddress.ip_network('2001:db8::0/96')\n\nIPv6Network('2001:db8::/96')")
    rest = _leaf("Network objects cannot have any host bits set. To request that the additional bits instead be "
                 "coerced to zero, the flag strict=False can be passed to the constructor:",
                 ("Python HOWTOs", "Defining Networks"))
    assert split_entries(whole_entries([rest], before=[howto])) == []
    sig = _leaf("ipaddress.ip_network(address, strict=True)\n\nReturn an IPv4Network or IPv6Network object.",
                ("ipaddress", "Module functions"))
    assert [e.keys[0] for e in split_entries([sig])] == ["ipaddress.ip_network"]  # a signature still is one


def test_sentence_default_reads_a_given_order_instead_of_bm25():
    src = [_leaf("Sets checkpoint mode to fast (immediate) or spread (the default).\n100 (complete packing) is the "
                 "default.", ("Doc", "Entry"))]
    question = "Which checkpoint mode is the default?"
    bm25 = rank_sentences(question, [src[0].node.text])
    assert sentence_default(question, src) == ("spread", 0)
    assert sentence_default(question, src, bm25) == ("spread", 0)  # the same order: the same value
    assert sentence_default(question, src, bm25[::-1]) == ("100", 0)  # another order: its first value
    assert sentence_default(question, src, []) is None
