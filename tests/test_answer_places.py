"""A quote shown in its places (``PrefillConfig.quote_places``, h2mt.query.evidence.quote_text): each
quoted sentence after the heading and entry name the sentence ranking read it with, once for a run
of sentences sharing them."""

from __future__ import annotations

from h2mt.query.entries import sentence_contexts
from h2mt.query.evidence import Sentence, quote_text, rank_sentences, split_sentences

from .test_answer_entries import _leaf
from .test_answer_placed import BARRIER, QUESTION


def _s(text: str, context: str) -> Sentence:
    return Sentence(0, 0, text, 1.0, 0.5, context)


def test_each_sentence_after_its_place_once_per_run():
    quote = [_s("Exit immediately if a pipeline fails.", "set -e"), _s("A trap on ERR is run first.", "set -e"),
             _s("Same as -e.", "set errexit"), _s("Bash has no such option.", "")]
    assert quote_text(quote) == ("set -e: Exit immediately if a pipeline fails. A trap on ERR is run first. "
                                 "set errexit: Same as -e. Bash has no such option.")
    assert quote_text(quote, places=False) == " ".join(s.text for s in quote)
    assert quote_text([]) == ""
    # a place shown again after another one's run
    again = [_s("One.", "a"), _s("Two.", "b"), _s("Three.", "a")]
    assert quote_text(again) == "a: One. b: Two. a: Three."


def test_a_ranked_sentence_carries_the_place_it_was_read_in():
    contexts = sentence_contexts([BARRIER])
    ranked = rank_sentences(QUESTION, [BARRIER.node.text], contexts)
    units = split_sentences(BARRIER.node.text)
    assert len(ranked) == len(units)
    assert all(s.context == contexts[s.leaf][s.index] for s in ranked)
    best = ranked[0]
    assert best.text.startswith("Any tasks waiting") and best.context == "Barrier reset()"
    assert all(s.context == "" for s in rank_sentences(QUESTION, [BARRIER.node.text]))  # no contexts given


def test_the_engine_shows_a_quote_in_its_places_only_when_asked(tmp_path, encoder, counter):
    from .test_answer_task import ScriptedBackend, _engine

    question = "Are database snapshots kept for 35 days?"
    plain = _engine(tmp_path, encoder, counter, ScriptedBackend("Made up.")).answer(question)
    shown = _engine(tmp_path, encoder, counter, ScriptedBackend("Made up."), quote_places=True).answer(question)
    for a in (plain, shown):
        assert a.accounting.answer_kind == "quoted" and a.accounting.completion_tokens == 0
    assert plain.text.startswith("Database snapshots are taken nightly and kept for 35 days.")
    assert shown.text.startswith("Schedule: Database snapshots are taken nightly and kept for 35 days.")
    assert shown.accounting.task_reason == plain.accounting.task_reason  # the same sentences, only shown placed
    assert [s.node.id for s in shown.sources] == [s.node.id for s in plain.sources]


def test_a_heading_that_is_the_entry_is_named_once():
    head = _leaf("The default is 64MB. It is a soft limit.", ("Resource Consumption", "work_mem (integer)"))
    ranked = rank_sentences("What is the default of work_mem?", [head.node.text], sentence_contexts([head]))
    text = quote_text(ranked)
    assert text.startswith("work_mem (integer): ") and text.count("work_mem") == 1
    assert text.removeprefix("work_mem (integer): ") == " ".join(s.text for s in ranked)
