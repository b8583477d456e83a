"""``quote_non_names`` (off by default): a question about the user's own work or about code (first person, or a
code form) that asks for neither a name nor a symbol, and that the generator would answer, is answered by the
kept sentences ranked best in their places; a trivia question and a question asking for a name keep their
generated or entry answers."""

from __future__ import annotations

import pytest
from h2mt.engine import NON_NAME_WHY, UNMATCHED_WHY
from h2mt.query.task import about_own_work, choose_task, in_first_person, names_code

from .test_answer_task import ENTRIES, ScriptedBackend, _engine

SNAPSHOTS = "Database snapshots are taken nightly and kept for 35 days."
CODE = "After `backup --full` finishes, how long are database snapshots kept?"  # a code form, third person
PLAIN = "How long are database snapshots kept?"  # neither: a trivia-style question


@pytest.mark.parametrize(("question", "code"), [
    (CODE, True),
    ("What does hmac.digest(key, msg) return?", True),  # a dotted name and a call
    ("Which bit of a bytea is bit number 0 under get_bit?", True),  # snake_case
    ("What happens when a redirection names /dev/stdout?", True),  # a path
    ("What does $? expand to?", True),
    ("Does -e stop the script?", True),  # an option
    ("What is printed for x=1?", True),  # an assignment
    (r"What does \n mean in a format?", True),  # an escape
    (PLAIN, False),
    ("Who is older, Annie Morton or Terry Richardson?", False),
    ("The 2011–12 VCU Rams men's basketball team was founded in what year?", False),  # a dash between digits
    ("Are both Elko Regional Airport and Gerald R. Ford International Airport located in Michigan?", False),
    ("What city is Rabat-Salé-Kénitra's ambassador to China based in?", False),  # a hyphenated name
])
def test_a_code_form_in_the_question_is_told_from_prose(question, code):
    assert names_code(question) is code
    assert about_own_work(question) is (code or in_first_person(question))


def test_the_user_s_own_work_is_the_first_person_or_code():
    assert about_own_work("My nightly job runs; how long are the snapshots kept?")  # first person, no code
    assert not about_own_work(PLAIN)


def test_a_question_about_code_is_answered_by_the_kept_sentences(tmp_path, encoder, counter):
    assert choose_task(CODE).reason == "how-much"  # a short answer the generator would write
    be = ScriptedBackend("never asked")
    ans = _engine(tmp_path, encoder, counter, be, quote_non_names=True).answer(CODE)
    assert be.calls == 0 and ans.accounting.answer_kind == "quoted"
    assert ans.text.startswith(SNAPSHOTS)
    reason = str(ans.accounting.task_reason)
    assert reason.startswith("how-much; quoted the ") and reason.endswith(NON_NAME_WHY)
    assert [s.node.text.strip() for s in ans.sources][0] == SNAPSHOTS  # what the quote stands on
    assert ans.accounting.completion_tokens == 0 and ans.accounting.prompt_tokens == 0  # nothing prefilled


def test_a_trivia_style_question_or_the_option_off_is_generated(tmp_path, encoder, counter):
    ans = _engine(tmp_path, encoder, counter, ScriptedBackend("35 days"), quote_non_names=True).answer(PLAIN)
    assert ans.text == "35 days" and ans.accounting.answer_kind == "generated"
    off = _engine(tmp_path, encoder, counter, ScriptedBackend("35 days")).answer(CODE)  # the default: off
    assert off.text == "35 days" and off.accounting.answer_kind == "generated"  # the option, not the question


def test_the_first_person_rule_for_unmatched_questions_comes_first(tmp_path, encoder, counter):
    """An unmatched question in the first person is quoted under ``quote_unmatched`` (its own note); with
    that rule off, ``quote_non_names`` quotes it the same way."""
    mine = "My nightly job takes a snapshot; what becomes of it after five weeks?"
    on = _engine(tmp_path, encoder, counter, ScriptedBackend("never asked"), quote_non_names=True).answer(mine)
    assert str(on.accounting.task_reason).endswith(UNMATCHED_WHY)
    alone = _engine(tmp_path, encoder, counter, ScriptedBackend("never asked"), quote_unmatched=False,
                    quote_non_names=True).answer(mine)
    assert str(alone.accounting.task_reason).endswith(NON_NAME_WHY) and alone.text == on.text


def test_a_name_question_in_the_first_person_is_not_quoted(tmp_path, encoder, counter):
    """"Which variable..." asks for an entry's name: the entry answers it, never a quote without the name."""
    (tmp_path / "vars.md").write_text(ENTRIES["vars.md"], encoding="utf-8")
    be = ScriptedBackend("never asked")
    eng = _engine(tmp_path, encoder, counter, be, quote_non_names=True)
    ans = eng.answer("In my setup, which variable sets how many days database snapshots are kept?", budget=400)
    assert ans.text == "KEEP_DAYS" and NON_NAME_WHY not in str(ans.accounting.task_reason)


def test_a_question_no_generator_would_answer_is_untouched(tmp_path, encoder, counter):
    """A yes/no question about code is quoted by its own rule (``placed_sentences``), before this one."""
    be = ScriptedBackend("never asked")
    ans = _engine(tmp_path, encoder, counter, be, quote_non_names=True).answer(
        "Are `backup` snapshots kept for 35 days?")
    assert be.calls == 0 and ans.accounting.answer_kind == "quoted"
    assert NON_NAME_WHY not in str(ans.accounting.task_reason)
