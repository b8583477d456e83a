"""With ``quote_retries``, a short answer that fails its check is replaced by the kept sentences
ranked best in their places, unless the question asks for a symbol or an entry's name."""

from __future__ import annotations

from dataclasses import replace

from h2mt import PrefillConfig
from h2mt.query.answer import NOT_FOUND
from h2mt.query.evidence import split_sentences

from .test_answer_task import NOTES, ScriptedBackend, _engine

SNAPSHOTS = "Database snapshots are taken nightly and kept for 35 days."


def test_quote_retries_is_off_by_default():
    assert PrefillConfig().quote_retries is False
    assert PrefillConfig(quote_retries=True).quote_retries is True


def test_an_echoed_short_answer_is_replaced_by_the_best_placed_sentences(tmp_path, encoder, counter):
    be = ScriptedBackend("snapshots", "never asked")
    s = _engine(tmp_path, encoder, counter, be, quote_retries=True).stream("How long are database snapshots kept?")
    pieces = list(s)
    ans = s.answer
    assert ans is not None and be.calls == 1  # nothing generated after the short answer
    assert ans.text == "".join(pieces) and ans.text.startswith(SNAPSHOTS)  # the best sentence first
    assert "never asked" not in ans.text
    said = split_sentences(ans.text)
    assert len(said) == 2 and all(any(x in t for t in NOTES.values()) for x in said)  # the documents' own words
    reason = ans.accounting.task_reason
    assert reason.startswith("how-much; short answer 'snapshots' replaced by the 2 sentences ranked best")
    assert reason.endswith(": echo of the question")
    assert ans.accounting.task == "brief" and ans.accounting.completion_tokens == 1  # the short answer's only
    assert sorted(x for src in ans.sources for x in split_sentences(src.node.text)) == sorted(said)  # cut to them


def test_an_answer_not_in_the_kept_text_is_replaced_too(tmp_path, encoder, counter):
    be = ScriptedBackend("4 weeks", "never asked")
    ans = _engine(tmp_path, encoder, counter, be, quote_retries=True).answer("How long are database snapshots kept?")
    assert be.calls == 1 and ans.text.startswith(SNAPSHOTS)
    assert ans.accounting.task_reason.endswith(": not in the kept text")
    assert ans.accounting.answer_kind == "quoted"  # the shown answer: the retry's quote, not the first generation


def test_by_default_the_answer_is_asked_again(tmp_path, encoder, counter):
    be = ScriptedBackend("snapshots", "Kept for 35 days.")
    ans = _engine(tmp_path, encoder, counter, be).answer("How long are database snapshots kept?")  # the default
    assert be.calls == 2 and ans.text == "Kept for 35 days." and ans.accounting.answer_kind == "generated"
    assert "retried as brief: echo of the question" in ans.accounting.task_reason


def test_nothing_is_quoted_when_the_kept_text_is_about_something_else(tmp_path, encoder, counter):
    be = ScriptedBackend("12 hours", "The context does not say.")
    ans = _engine(tmp_path, encoder, counter, be, quote_retries=True).answer("How long are audit logs retained?")
    assert be.calls == 2 and "retried as brief" in ans.accounting.task_reason  # asked again, as before


def test_a_question_asking_for_a_symbol_or_a_name_is_asked_again(tmp_path, encoder, counter):
    for question, echo in (("Which character separates the fields of the snapshot schedule?", "fields"),  # a symbol
                           ("Which setting decides how long database snapshots are kept?", "snapshots")):  # a name
        be = ScriptedBackend(echo, "Kept for 35 days.")
        ans = _engine(tmp_path, encoder, counter, be, quote_retries=True).answer(question)
        assert be.calls == 2, question
        assert "replaced by" not in ans.accounting.task_reason, question


def test_the_peak_memory_of_the_replaced_answer_is_kept(tmp_path, encoder, counter):
    class Measured(ScriptedBackend):
        def stream(self, input_ids, cfg, stats):
            stats.peak_mem_bytes = 123 * 2**20
            yield from super().stream(input_ids, cfg, stats)

    eng = _engine(tmp_path, encoder, counter, Measured("snapshots"), quote_retries=True)
    ans = eng.answer("How long are database snapshots kept?")
    assert "replaced by" in ans.accounting.task_reason and ans.accounting.peak_mem_bytes == 123 * 2**20


def test_the_engine_config_is_not_changed(tmp_path, encoder, counter):
    eng = _engine(tmp_path, encoder, counter, ScriptedBackend("snapshots"), quote_retries=True)
    before = replace(eng.config.prefill)
    eng.answer("How long are database snapshots kept?")
    assert eng.config.prefill == before


def test_a_generated_answer_that_found_nothing_shows_the_best_placed_sentences(tmp_path, encoder, counter):
    """Whatever ``quote_retries`` says: "not found" is no answer when the kept text holds the question."""
    be = ScriptedBackend("snapshots", "The context does not say.")
    eng = _engine(tmp_path, encoder, counter, be)
    s = eng.stream("How long are database snapshots kept?")
    pieces = list(s)
    ans = s.answer
    assert ans is not None and be.calls == 2 and "".join(pieces) == "The context does not say."  # what streamed
    assert ans.text.startswith(SNAPSHOTS) and ans.accounting.answer_kind == "quoted"
    reason = ans.accounting.task_reason
    assert reason.startswith("how-much; short answer 'snapshots' retried as brief: echo of the question; ")
    assert "; the generated answer found nothing: quoted the 2 sentences ranked best in their places (0." in reason
    said = split_sentences(ans.text)
    assert sorted(x for src in ans.sources for x in split_sentences(src.node.text)) == sorted(said)  # cut to them
    assert ans.accounting.completion_tokens == 1 + len("The context does not say.".split())  # both generations count


def test_not_found_stays_when_the_kept_text_is_about_something_else_or_the_task_is_forced(tmp_path, encoder,
                                                                                         counter):
    be = ScriptedBackend("12 hours", "The context does not say.")
    ans = _engine(tmp_path, encoder, counter, be).answer("How long are audit logs retained?")
    assert ans.text == NOT_FOUND and "found nothing" not in ans.accounting.task_reason
    forced = _engine(tmp_path, encoder, counter, ScriptedBackend("The context does not say."), task="brief")
    ans = forced.answer("How long are database snapshots kept?")
    assert ans.text == NOT_FOUND and ans.accounting.answer_kind == "generated"
