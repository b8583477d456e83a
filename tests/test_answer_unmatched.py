"""``quote_unmatched``: a question no task rule recognises, written in the first person and asking for
neither a name nor a symbol, is answered by the kept sentences ranked best in their places where the
generator would write its answer."""

from __future__ import annotations

import pytest
from h2mt import H2MT, H2MTConfig, PrefillConfig
from h2mt.query.task import UNMATCHED_REASON, choose_task, in_first_person

from .test_answer_task import ENTRIES, ScriptedBackend, _engine

SNAPSHOTS = "Database snapshots are taken nightly and kept for 35 days."
MINE = "My nightly job takes a snapshot; what becomes of it after five weeks?"
THEIRS = "The nightly job takes a snapshot; what becomes of it after five weeks?"


@pytest.mark.parametrize(("question", "first"), [
    (MINE, True),
    ("If I run the backup twice, what ends up on disk?", True),
    ("I'm restoring a snapshot; what state is the cache in?", True),
    ("What does the backup give me?", True),
    ("When Bash starts, I see a prompt; why?", True),
    (THEIRS, False),
    ("The director of Big Stone Gap is based in what New York city?", False),
    ("Which country did World War I start in?", False),  # a numeral after a name
    ("What does the -i option of rm do?", False),
    ("Is MY_VAR exported?", False),
])
def test_a_question_in_the_first_person_is_told_from_one_about_something_else(question, first):
    assert in_first_person(question) is first


def test_both_questions_are_ones_no_task_rule_recognises():
    assert choose_task(MINE).reason == choose_task(THEIRS).reason == UNMATCHED_REASON


def test_an_unmatched_question_in_the_first_person_is_answered_by_the_kept_sentences(tmp_path, encoder, counter):
    be = ScriptedBackend("never asked")
    ans = _engine(tmp_path, encoder, counter, be).answer(MINE)
    assert be.calls == 0 and ans.accounting.answer_kind == "quoted"
    assert ans.text.startswith(SNAPSHOTS)
    reason = str(ans.accounting.task_reason)
    assert reason.startswith(f"{UNMATCHED_REASON}; quoted the ") and "no rule recognises" in reason
    assert [s.node.text.strip() for s in ans.sources][0] == SNAPSHOTS  # what the quote stands on


def test_the_same_question_about_someone_else_or_with_the_option_off_is_generated(tmp_path, encoder, counter):
    ans = _engine(tmp_path, encoder, counter, ScriptedBackend("Deleted.")).answer(THEIRS)
    assert ans.text == "Deleted." and ans.accounting.answer_kind == "generated"
    off = _engine(tmp_path, encoder, counter, ScriptedBackend("Deleted."), quote_unmatched=False).answer(MINE)
    assert off.text == "Deleted." and off.accounting.answer_kind == "generated"  # the option, not the question


def test_a_name_question_in_the_first_person_is_not_quoted(tmp_path, encoder, counter):
    """"Which variable..." asks for an entry's name: the kept entries answer it, never a quote."""
    (tmp_path / "vars.md").write_text(ENTRIES["vars.md"], encoding="utf-8")
    eng = H2MT.build([tmp_path], H2MTConfig(), encoder=encoder, token_counter=counter, backend=ScriptedBackend("x"))
    ans = eng.answer("In my setup, which variable sets how many days database snapshots are kept?", budget=400)
    assert ans.text == "KEEP_DAYS" and "no rule recognises" not in str(ans.accounting.task_reason)


def test_a_question_naming_an_entry_is_quoted_instead_of_generated_from_the_entry(tmp_path, encoder, counter):
    """An unmatched question naming a kept entry ("the KEEP_DAYS setting") would be answered by the
    generator reading that entry; it is quoted instead."""
    (tmp_path / "vars.md").write_text(ENTRIES["vars.md"], encoding="utf-8")
    question = "I rely on the KEEP_DAYS setting; what is it counted in?"
    assert choose_task(question).reason == UNMATCHED_REASON
    be = ScriptedBackend("never asked")
    eng = H2MT.build([tmp_path], H2MTConfig(), encoder=encoder, token_counter=counter, backend=be)
    ans = eng.answer(question, budget=400)
    assert be.calls == 0 and ans.accounting.answer_kind == "quoted"
    assert "The number of days database snapshots are kept." in ans.text
    off = H2MT.build([tmp_path], H2MTConfig(prefill=PrefillConfig(quote_unmatched=False)), encoder=encoder,
                     token_counter=counter, backend=ScriptedBackend("Days.")).answer(question, budget=400)
    assert off.text == "Days." and "read KEEP_DAYS's entry" in str(off.accounting.task_reason)
