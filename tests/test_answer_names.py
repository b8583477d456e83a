"""A name question that no kept entry answers by itself is answered by a name of the kept text,
chosen by the generator under constrained decoding (``h2mt.query.names``)."""

from __future__ import annotations

import pytest
from h2mt import H2MT, H2MTConfig, PrefillConfig
from h2mt.query.names import name_candidates, written_names
from h2mt.types import Node, NodeKind, ScoredNode

from tests.test_answer_symbols import LogitBackend


@pytest.mark.parametrize("text, names", [
    ("The -l option causes the shell to print a list of signal names.", ["-l"]),
    ("Specifies the tablespace with --tablespace=name.", ["--tablespace"]),
    ("max_tasks_per_child is an optional argument.", ["max_tasks_per_child"]),
    ("Unparse it, as ast.unparse() does.", ["ast.unparse"]),
    ("Bind shell-backward-kill-word to a key.", ["shell-backward-kill-word"]),
    ("Use operator.countOf or PQsetSingleRowMode(conn).", ["operator.countOf", "PQsetSingleRowMode"]),
    ("getopts places that argument into the variable OPTARG.", ["OPTARG"]),
    ("DROP USER is simply an alternate spelling of DROP ROLE.",
     ["DROP USER", "DROP", "USER", "DROP ROLE", "DROP", "ROLE"]),
])
def test_names_written_in_prose(text, names):
    assert written_names(text) == names


@pytest.mark.parametrize("text", [
    "A long-running query holds an in-place lock, e.g. on a table.",  # one hyphen is prose
    "See Part VI and Part III of the PostgreSQL documentation.",  # a part's numeral, the manual's name
    "The Shell Is Started (as Title Case words).",
    "Use a vi-style line editing interface.",
])
def test_prose_writes_no_names(text):
    assert written_names(text) == []


def _leaf(path: tuple[str, ...], text: str) -> ScoredNode:
    return ScoredNode(Node(0, NodeKind.LEAF, path[-1], -1, [], 0, 0, 0, 0, len(path), path, text), 1.0)


def test_candidates_are_the_entries_keys_then_the_names_written_none_the_question_writes():
    leaves = [_leaf(("Manual", "Builtins", "trap"), "The -l option prints signal names. With -p, trap shows them."),
              _leaf(("Manual", "Builtins", "kill"), "kill -l lists the signal names as well.")]
    got = name_candidates("Which trap option prints every signal name?", leaves)
    assert got == ["-l", "-p", "kill"]  # "trap" is the question's own name; "-l" once, first occurrence
    assert name_candidates("Which kill option lists signal names, -l?", leaves) == ["trap", "-p"]


TRAP = {"trap.md": "# Builtins\n\n## trap\n\nThe -l option causes the shell to print a list of signal names and "
                   "their corresponding numbers. If -p is given, trap displays the trap commands associated with "
                   "each signal.\n"}


def _engine(tmp_path, encoder, counter, backend, **prefill) -> H2MT:
    (tmp_path / "trap.md").write_text(TRAP["trap.md"], encoding="utf-8")
    cfg = H2MTConfig(prefill=PrefillConfig(task="auto", **prefill))
    return H2MT.build([tmp_path], cfg, encoder=encoder, token_counter=counter, backend=backend)


QUESTION = "Which trap option prints every signal name with its number?"


def test_a_name_question_is_answered_by_the_generators_choice_among_the_kept_names(tmp_path, encoder, counter):
    be = LogitBackend("trap", favour="-l")  # written freely it would echo the question's name
    ans = _engine(tmp_path, encoder, counter, be, constrain_names=True).answer(QUESTION)
    assert ans.text == "-l" and be.calls == 0 and be.forwards == 2  # "-" (both alive), then "l" over "p"
    assert ans.accounting.answer_kind == "constrained" and "a name of the kept text" in ans.accounting.task_reason
    be = LogitBackend("trap", favour="-p")
    ans = _engine(tmp_path, encoder, counter, be, constrain_names=True).answer(QUESTION)
    assert ans.text == "-p"  # the model's choice, not a rule


def test_by_default_the_name_is_written_freely(tmp_path, encoder, counter):
    be = LogitBackend("-l", favour="-p")
    ans = _engine(tmp_path, encoder, counter, be).answer(QUESTION)
    assert ans.text == "-l" and be.calls == 1 and ans.accounting.answer_kind == "generated"


def test_a_question_asking_for_no_name_is_not_constrained(tmp_path, encoder, counter):
    be = LogitBackend("It prints the signal names.", favour="-l")
    eng = _engine(tmp_path, encoder, counter, be, constrain_names=True)
    ans = eng.answer("How many signals are there?")
    assert ans.accounting.answer_kind != "constrained"
