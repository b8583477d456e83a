"""Kept sentences ranked in their places (h2mt.query.evidence.rank_sentences with ``contexts`` and
``meaning``; h2mt.query.entries.sentence_contexts; h2mt.query.evidence.placed_quote): a sentence
that names neither its subject nor its setting is read with its heading and entry name, and the
BM25 order is fused with the encoder's."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from h2mt import PrefillConfig
from h2mt.query.entries import sentence_contexts
from h2mt.query.evidence import (
    PLACED_QUOTE_SENTENCES,
    SENTENCE_RRF_K,
    focus_sentences,
    is_prose,
    placed,
    placed_quote,
    rank_sentences,
    split_sentences,
)

from .test_answer_entries import _leaf

# Two entries of one leaf: the sentence that answers names neither reset() nor a barrier
BARRIER = _leaf("wait()\n\nPass the barrier. When all the tasks party to the barrier have called this function, "
                "they are all unblocked simultaneously.\n\nreset()\n\nReturn the barrier to the default, empty "
                "state. Any tasks waiting on it will receive the BrokenBarrierError exception.",
                ("asyncio", "Synchronization Primitives", "Barrier"))
QUESTION = "What happens to tasks waiting on an asyncio Barrier when another task calls its reset() method?"


def test_contexts_name_each_sentence_s_heading_and_entry():
    ctx = sentence_contexts([BARRIER])
    units = split_sentences(BARRIER.node.text)
    assert len(ctx) == 1 and len(ctx[0]) == len(units)
    said = dict(zip(units, ctx[0], strict=True))
    assert said["Any tasks waiting on it will receive the BrokenBarrierError exception."] == "Barrier reset()"
    assert said["Pass the barrier."] == "Barrier wait()"
    head = _leaf("The default is 64MB.", ("Resource Consumption", "work_mem (integer)"))
    assert sentence_contexts([head]) == [["work_mem (integer)"]]  # the heading is the entry: named once


def test_a_sentence_read_in_its_place_outranks_one_naming_the_question_s_words_elsewhere():
    texts = [BARRIER.node.text]
    plain = rank_sentences(QUESTION, texts)
    assert not plain[0].text.startswith("Any tasks waiting")  # BM25 alone: another sentence of the leaf
    ranked = rank_sentences(QUESTION, texts, contexts=sentence_contexts([BARRIER]))
    assert ranked[0].text == "Any tasks waiting on it will receive the BrokenBarrierError exception."
    own = {s.text: s.coverage for s in plain}
    assert all(s.coverage == own[s.text] for s in ranked)  # coverage: the sentence's own words only


def test_no_context_and_no_meaning_is_bm25_alone():
    texts = [BARRIER.node.text, "Barriers are new in version 3.11."]
    assert rank_sentences(QUESTION, texts) == rank_sentences(QUESTION, texts, contexts=None, meaning=None)
    assert rank_sentences(QUESTION, texts) == rank_sentences(QUESTION, texts, contexts=[[], []])


def _meaning(prefer: Sequence[str]):
    """A meaning order that ranks sentences by their place in ``prefer`` (first = most similar)."""
    def cosines(texts: Sequence[str]) -> list[float]:
        return [1.0 - next(i for i, p in enumerate(prefer) if t.endswith(p)) / len(prefer) for t in texts]
    return cosines


def test_meaning_is_fused_with_bm25_by_reciprocal_rank():
    texts = ["alpha beta gamma delta.\nalpha beta epsilon.\nalpha zeta."]
    question = "alpha beta gamma delta?"
    bm25 = [s.text for s in rank_sentences(question, texts)]
    assert bm25 == ["alpha beta gamma delta.", "alpha beta epsilon.", "alpha zeta."]
    fused = rank_sentences(question, texts, meaning=_meaning(list(reversed(bm25))))
    # first and last swap their ranks (equal sums, BM25 breaks the tie); the middle one stays middle
    assert 1 / SENTENCE_RRF_K + 1 / (SENTENCE_RRF_K + 2) > 2 / (SENTENCE_RRF_K + 1)
    assert [s.text for s in fused] == ["alpha beta gamma delta.", "alpha zeta.", "alpha beta epsilon."]
    assert {s.text: s.score for s in fused} == {s.text: s.score for s in rank_sentences(question, texts)}
    agree = rank_sentences(question, texts, meaning=_meaning(bm25))
    assert [s.text for s in agree] == bm25  # an order that agrees with BM25 changes nothing


def test_meaning_reads_each_sentence_placed_in_its_context():
    seen: list[str] = []

    def meaning(texts: Sequence[str]) -> list[float]:
        seen.extend(texts)
        return [0.0] * len(texts)

    rank_sentences(QUESTION, [BARRIER.node.text], contexts=sentence_contexts([BARRIER]), meaning=meaning)
    assert placed("Any tasks waiting on it will receive the BrokenBarrierError exception.", "Barrier reset()") in seen
    assert placed("Pass the barrier.", "") == "Pass the barrier."


def test_a_meaning_of_the_wrong_length_is_an_error():
    with pytest.raises(ValueError, match="cosines"):
        rank_sentences(QUESTION, [BARRIER.node.text], meaning=lambda texts: [0.0])


def test_a_one_sentence_placed_quote_cuts_its_leaf_to_that_sentence():
    sources = [BARRIER]
    quoted = placed_quote(QUESTION, sources, sentence_contexts(sources), None, k=1, min_coverage=0.0)
    assert quoted is not None and quoted[0][0].text.startswith("Any tasks waiting on it")
    assert [c.node.text for c in quoted[1]] == [quoted[0][0].text] and quoted[1][0].node.id == BARRIER.node.id

def test_placed_sentences_is_on_by_default_and_can_be_turned_off():
    assert PrefillConfig().placed_sentences is True
    assert PrefillConfig(placed_sentences=False).placed_sentences is False


@pytest.mark.parametrize("on", [True, False])
def test_the_engine_quotes_sentences_ranked_in_their_places_unless_turned_off(tmp_path, encoder, counter,
                                                                              monkeypatch, on):
    from dataclasses import replace

    from .test_answer_task import ScriptedBackend, _engine

    seen: list[dict] = []

    def quote(question, sources, contexts, meaning, **kw):
        seen.append({"contexts": contexts, "meaning": meaning})
        return None

    monkeypatch.setattr("h2mt.engine.placed_quote", quote)
    eng = _engine(tmp_path, encoder, counter, ScriptedBackend("They are kept for 35 days."))
    eng.config = replace(eng.config, prefill=replace(eng.config.prefill, placed_sentences=on))
    eng.answer("What happens to database snapshots after 35 days?")
    if not on:
        assert seen == []  # BM25 alone: no placed quote
        return
    assert len(seen) == 1
    kw = seen[0]
    kept = eng.route("What happens to database snapshots after 35 days?").kept
    assert [len(c) for c in kw["contexts"]] == [len(split_sentences(s.node.text)) for s in kept]
    cos = kw["meaning"](["Database snapshots are taken nightly.", "Session entries expire."])
    assert len(cos) == 2 and cos[0] > cos[1]  # the encoder's own cosines with the question


def test_a_placed_quote_is_the_best_sentences_best_first_and_their_leaves():
    other = _leaf("Barrier objects are new in Python 3.11. They are not thread-safe.",
                  ("asyncio", "Synchronization Primitives", "Notes"), 1)
    sources = [BARRIER, other]
    contexts = sentence_contexts(sources)
    ranked = rank_sentences(QUESTION, [s.node.text for s in sources], contexts)
    got = placed_quote(QUESTION, sources, contexts, None, min_coverage=0.0)
    assert got is not None
    sentences, cut = got
    assert [s.text for s in sentences] == [s.text for s in ranked if is_prose(s.text)][:PLACED_QUOTE_SENTENCES]
    assert len(sentences) == PLACED_QUOTE_SENTENCES == 3
    assert sentences[0].text.startswith("Any tasks waiting on it")
    assert all(any(s.text in c.node.text for c in cut) for s in sentences)  # each quoted leaf, cut to its sentences
    assert [c.node.id for c in cut] == sorted({sources[s.leaf].node.id for s in sentences})
    one = placed_quote(QUESTION, sources, contexts, None, k=1, min_coverage=0.0)
    assert one is not None and [s.text for s in one[0]] == [ranked[0].text]


def test_no_placed_quote_when_the_kept_text_is_about_something_else():
    sources = [BARRIER]
    assert placed_quote("Does frobnicate --purge delete the cache?", sources, sentence_contexts(sources), None) is None
    assert placed_quote(QUESTION, sources, sentence_contexts(sources), None, min_coverage=0.0) is not None
    assert placed_quote(QUESTION, sources, sentence_contexts(sources), None, min_coverage=0.99) is None


def test_the_engine_answers_a_behaviour_question_with_the_placed_quote(tmp_path, encoder, counter):
    from .test_answer_task import ScriptedBackend, _engine

    be = ScriptedBackend("Something the generator made up.")
    eng = _engine(tmp_path, encoder, counter, be)
    a = eng.answer("Are database snapshots kept for 35 days?")
    assert a.text.startswith("Database snapshots are taken nightly and kept for 35 days.")
    assert "ranked best in their places" in a.accounting.task_reason
    assert a.accounting.completion_tokens == 0  # nothing generated
    off = _engine(tmp_path, encoder, counter, ScriptedBackend("Something the generator made up."))
    from dataclasses import replace

    off.config = replace(off.config, prefill=replace(off.config.prefill, placed_sentences=False))
    reason = off.answer("Are database snapshots kept for 35 days?").accounting.task_reason
    assert "ranked best in their places" not in reason


def test_a_placed_quote_is_prose_never_a_term_line_or_heading():
    contexts = sentence_contexts([BARRIER])
    ranked = [s.text for s in rank_sentences(QUESTION, [BARRIER.node.text], contexts)]
    assert "reset()" in ranked[:2]  # the term line itself ranks high in its place...
    got = placed_quote(QUESTION, [BARRIER], contexts, None, min_coverage=0.0)
    assert got is not None and "reset()" not in [s.text for s in got[0]]  # ...but is never quoted
    assert all(is_prose(s.text) for s in got[0]) and len(got[0]) == PLACED_QUOTE_SENTENCES
    assert not is_prose("revert-line (M-r)") and not is_prose(">>> x = 1.") and is_prose("It is closed.")


def test_a_mere_cross_reference_is_never_quoted():
    leaf = _leaf("See the description of shopt in The Shopt Builtin, for a description of the nullglob option.\n"
                 "If set, filename patterns which match no files expand to a null string, rather than themselves.",
                 ("Bash", "Filename Expansion"))
    q = "What does the nullglob option do to filename patterns?"
    contexts = sentence_contexts([leaf])
    assert rank_sentences(q, [leaf.node.text], contexts)[0].text.startswith("See the description")
    got = placed_quote(q, [leaf], contexts, None, min_coverage=0.0)
    assert got is not None and [s.text for s in got[0]] == [
        "If set, filename patterns which match no files expand to a null string, rather than themselves."]


def test_focus_sentences_cut_the_leaves_to_the_best_sentences_and_their_neighbours():
    other = _leaf("Barrier objects are new in Python 3.11. They are not thread-safe. Use them from one event loop.",
                  ("asyncio", "Synchronization Primitives", "Notes"), 1)
    sources = [BARRIER, other]
    contexts = sentence_contexts(sources)
    ranked = rank_sentences(QUESTION, [s.node.text for s in sources], contexts)
    units = [split_sentences(s.node.text) for s in sources]
    cut = focus_sentences(QUESTION, sources, 1, contexts, around=0)
    assert [c.node.text for c in cut] == [ranked[0].text]  # one sentence, its leaf alone
    assert cut[0].node.id == sources[ranked[0].leaf].node.id
    near = focus_sentences(QUESTION, sources, 1, contexts)  # with the sentence before and after it
    best = ranked[0]
    want = units[best.leaf][max(0, best.index - 1):best.index + 2]
    assert [c.node.text for c in near] == ["\n".join(want)]
    every = focus_sentences(QUESTION, sources, 100, contexts, around=0)
    assert [c.node.text.split("\n") for c in every] == units  # all of them: each leaf whole, in document order
    assert [c.node.id for c in every] == [s.node.id for s in sources]


def test_focus_sentences_keep_the_sources_when_no_sentence_matches():
    assert focus_sentences("zzz qqq?", [BARRIER], 4) == [BARRIER]


def test_focus_sentences_is_four_by_default_and_must_not_be_negative():
    from h2mt.errors import ConfigError

    assert PrefillConfig().focus_sentences == 4
    with pytest.raises(ConfigError, match="focus_sentences"):
        PrefillConfig(focus_sentences=-1)


@pytest.mark.parametrize("n", [0, 1])
def test_a_generated_answer_reads_only_the_focus_sentences_when_asked(tmp_path, encoder, counter, n):
    from h2mt import H2MT, H2MTConfig

    from .test_answer_task import ScriptedBackend

    lines = ["Restores are tested every quarter by the operations team.", "Backups go to a separate region.",
             "Database snapshots are kept for 35 days.", "Older snapshots are deleted automatically.",
             "Billing for storage is monthly."]
    text = "# Backup Policy\n\n## Retention\n\n" + " ".join(lines) + "\n"
    (tmp_path / "backup.md").write_text(text, encoding="utf-8")
    be = ScriptedBackend("35 days")
    cfg = H2MTConfig(prefill=PrefillConfig(task="auto", focus_sentences=n))
    eng = H2MT.build([tmp_path], cfg, encoder=encoder, token_counter=counter, backend=be)
    a = eng.answer("How many days are database snapshots kept?")
    assert a.accounting.completion_tokens > 0 and be.prompts  # generated
    read = be.prompts[0]
    assert "Database snapshots are kept for 35 days." in read
    if n == 0:
        assert all(line in read for line in lines)  # the whole leaf
    else:  # the best sentence and its neighbours only
        assert lines[1] in read and lines[3] in read
        assert lines[0] not in read and lines[4] not in read


def test_a_yes_no_question_is_quoted_however_little_of_it_the_best_sentence_holds(tmp_path, encoder, counter):
    from h2mt import H2MT, H2MTConfig
    from h2mt.engine import _Signals
    from h2mt.query.evidence import PLACED_QUOTE_MIN_COVERAGE, REPLACE_MIN_COVERAGE, placed_quote

    from .test_answer_task import ScriptedBackend

    (tmp_path / "opts.md").write_text("# Options\n\n## pipefail\n\nThis option is disabled by default.\n",
                                      encoding="utf-8")
    be = ScriptedBackend("Yes, it is on.")  # what a generated answer would say: the opposite
    eng = H2MT.build([tmp_path], H2MTConfig(prefill=PrefillConfig(task="auto")), encoder=encoder,
                     token_counter=counter, backend=be)
    question = "I never touched pipefail in my old deploy scripts; in a fresh interactive bash, is it enabled?"
    kept = list(eng.route(question, budget=400).kept)
    found = placed_quote(question, kept, **_Signals(eng, question, kept, True, 0).placed(kept), min_coverage=0.0)
    # its own words hold none of the question's; its entry's name does (the sentence is read in its place)
    assert found is not None and found[0][0].coverage < REPLACE_MIN_COVERAGE and found[0][0].score > 0
    assert PLACED_QUOTE_MIN_COVERAGE <= found[0][0].coverage
    ans = eng.answer(question, budget=400)
    assert ans.text == "This option is disabled by default." and be.calls == 0
    assert ans.accounting.answer_kind == "quoted" and ans.accounting.task_reason.startswith("yes-no; quoted")


def test_a_what_does_question_is_quoted_however_little_of_it_the_best_sentence_holds(tmp_path, encoder, counter):
    from h2mt import H2MT, H2MTConfig
    from h2mt.engine import _Signals
    from h2mt.query.evidence import REPLACE_MIN_COVERAGE, placed_quote

    from .test_answer_task import ScriptedBackend

    (tmp_path / "opts.md").write_text(
        "# Options\n\n## pipefail\n\nThis option is disabled by default. When enabled, a pipeline returns the "
        "status of its last command to exit with a non-zero status.\n", encoding="utf-8")
    be = ScriptedBackend("It makes the shell faster.")  # what a generated answer would say
    eng = H2MT.build([tmp_path], H2MTConfig(prefill=PrefillConfig(task="auto")), encoder=encoder,
                     token_counter=counter, backend=be)
    question = "What does pipefail do for the nightly deploy scripts our team keeps in the ops repository?"
    kept = list(eng.route(question, budget=400).kept)
    found = placed_quote(question, kept, **_Signals(eng, question, kept, True, 0).placed(kept), min_coverage=0.0)
    assert found is not None and found[0][0].coverage < REPLACE_MIN_COVERAGE  # little of the question
    ans = eng.answer(question, budget=400)
    assert ans.accounting.answer_kind == "quoted" and be.calls == 0
    reason = ans.accounting.task_reason  # not "quoted the opening of pipefail's entry", as below the former floor
    assert reason.startswith("what-does; quoted the") and "ranked best in their places" in reason
    assert "non-zero status" in ans.text and ans.text == " ".join(s.text for s in found[0])
