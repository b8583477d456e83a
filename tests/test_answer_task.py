"""task="auto" (issue 25): the task chooser on a table of questions, the retry of a short answer
that echoes the question or is not in the kept text, "not found" when the evidence is not kept,
and no answer ever carrying the instruction."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
from h2mt import H2MT, H2MTConfig, PrefillConfig
from h2mt.config import TASK_SYSTEM_PROMPTS, AnswerTask
from h2mt.query.answer import (
    LEAK_RUN,
    NOT_FOUND,
    clean_answer,
    rank_passages,
    retry_reason,
    supported_by,
    with_unit,
    with_verdict,
)
from h2mt.query.prompt import build_messages
from h2mt.query.task import choose_task, plain_question, resolve_task
from h2mt.types import GenerationStats

S, B = AnswerTask.SHORT, AnswerTask.BRIEF


@pytest.mark.parametrize("question, task", [
    # a name or a value: short
    ("Which variable limits function nesting?", S),
    ("Which shopt option makes empty globs expand to nothing?", S),
    ("What is the default value of PS2?", S),
    ("What default value does the shell give HISTSIZE?", S),
    ("what's the default port?", S),
    ("What is the maximum size of a WAL segment?", S),
    ("How long are database snapshots kept?", S),
    ("How many connections are allowed by default?", S),
    ("Who is older, Arthur or Bob?", S),
    ("When was the Eiffel Tower built?", S),
    ("Which operator concatenates two strings?", S),
    ("What is the historical PostgreSQL syntax for a type cast?", S),
    ("Name the variable that holds the prompt.", S),
    ("What is the county seat of the county where East Lempster is located?", S),  # not a definition
    ("Paris population", S),  # no rule: short
    ("My prompt uses \\w and paths make it huge; which variable keeps only the last directories?", S),  # its ask
    ("I use cmdhist already. Which shopt option keeps the newlines too?", S),
    ("Which operator tests whether a set contains another, i.e. is a superset of it?", S),  # no sentence ends at i.e.
    # what it does or means, how, why: brief
    ("What does PROMPT_COMMAND do?", B),
    ("What does `set -e` do?", B),
    ("What does `$?` expand to?", B),
    ("What does `shopt -s nullglob` do?", B),
    ("What does deadlock_timeout control?", B),
    ("How does Bash expand aliases?", B),
    ("Why is fsync important?", B),
    ("If nullglob is set and nothing matches, what happens to the word?", B),
    ("In a tuple, list or set display, what does a starred item do?", B),  # the question starts at "what"
    ("As a regular user, am I allowed to raise the soft limit?", B),  # a leading phrase, then yes/no
    ("Using the defaults, can two files with equal stat signatures be taken as equal?", B),  # not "the defaults"
    ("Am I allowed to raise the soft limit?", B),
    ("A manga series about a student, is written by someone born in what year?", S),  # asks "what year"
    ("Explain the difference between VACUUM and VACUUM FULL.", B),
    ("What is the purpose of the pg_hba.conf file?", B),
    ("What effect does turning on globasciiranges have on bracket ranges?", B),
    ("What value does the cume_dist() window function compute for a row?", B),  # what it computes
    ("I added a -v flag with action='count'; what value does that give me?", B),
    ("What value does HISTSIZE default to?", S),  # a value
    ("My workers contend for rows; what does SKIP LOCKED do in SELECT ... FOR UPDATE?", B),
    ("What does the -N file test check in bash conditional expressions?", B),  # what X does, in any verb
    ("What does wrapping an awaitable in asyncio.shield() guard it against?", B),
    ("What does the ending position default to?", S),  # a value
    ("What do I write in place of the fd number?", S),  # a symbol to type
    ("What does it print?", S),  # no subject of its own to explain
    ("What does encodestring() pass as quotetabs when I leave that argument out?", S),  # what is assumed: a value
    ("What changes when I pass strict=False to mimetypes.guess_type()?", B),  # what it does, by its outcome
    ("What do I get when I yank afterwards?", B),
    ("What's the point of the cdable_vars shell option?", B),
    ("What kind of objects end up in the gc.garbage list?", B),
    ("What kind of index does CREATE INDEX build by default?", S),  # a name: not a thing, object or result
    ("What do I write in place of the fd number when I get it wrong?", S),  # a symbol to type
    ("What is a here string?", B),
    ("What is PROMPT_COMMAND?", B),
    ("What is autovacuum used for?", B),
    ("What is the quote_all_identifiers setting for?", B),
    ("Does TRUNCATE scan the tables?", B),
    ("Is the sort stable?", B),
    ("With `set -e`, does the shell exit when an if test fails?", B),
    ("Could I drop a group by assigning a shorter list to the GROUPS array?", B),  # no two things compared
    ("Does a range object take more memory the larger the range?", B),
    # two things compared: a bare yes or no, short
    ("Were Scott Derrickson and Ed Wood of the same nationality?", S),
    ("Are both Elko Regional Airport and Gerald R. Ford International Airport located in Michigan?", S),
    ("Is the Danube longer than the Rhine?", S),
    # "both" or "the same" with no two named things: one behaviour asked about, brief (quoted)
    ("Are both airports located in Michigan?", B),
    ("If I stack the :q and :x modifiers, do both quoting behaviours get applied?", B),
    ("Does DROP GROUP simply do the same thing as DROP ROLE?", B),
    ("Will jsonb hand the keys back in the same order I wrote them?", B),
])
def test_the_chooser_on_a_table_of_questions(question, task):
    assert choose_task(question).task == task


def test_a_forced_task_is_kept():
    assert choose_task("What does PROMPT_COMMAND do?", "short") == choose_task("x", S)
    assert choose_task("Which variable?", "explain").reason == "forced"
    cfg = PrefillConfig(task="chat")
    assert resolve_task("What does X do?", cfg) is cfg


def test_auto_is_the_default_and_resolves_everywhere():
    cfg = PrefillConfig()
    assert cfg.task == AnswerTask.AUTO
    brief = resolve_task("What does PROMPT_COMMAND do?", cfg)
    assert brief.task == B and brief.answer_tokens < resolve_task("x", PrefillConfig(task="explain")).answer_tokens
    assert build_messages("What does PROMPT_COMMAND do?", "ctx", cfg)[1]["content"] == (
        "Context:\nctx\n\nQuestion: What does PROMPT_COMMAND do?")  # the question after the context only
    assert build_messages("Which variable?", "ctx", cfg)[1]["content"].endswith("Short answer:")
    assert build_messages("Which variable?", "ctx", cfg)[0]["content"] == TASK_SYSTEM_PROMPTS[S]


@pytest.mark.parametrize("answer, context, supported", [
    ("35 days", "Snapshots are kept for 35 days.", True),
    ("4 minutes", "Snapshots are kept for 35 days.", False),
    ("‘> ’", "The default value is ‘> ’.", True),
    ("$?", "($?) Expands to the exit status.", True),
    ("FUNCNEST.", "If set, FUNCNEST defines a maximum function nesting level.", True),
    ("the maximum nesting level", "FUNCNEST defines a maximum function nesting level.", True),
    ("", "anything", False),
    (".", "Levels are delimited with '.' as in Archived.2005.", True),  # a mark alone: written in the text
    (",", "No comma here.", False),
])
def test_supported_by(answer, context, supported):
    assert supported_by(answer, context) is supported


@pytest.mark.parametrize("text, question, reason", [
    ("PROMPT_COMMAND", "Which variable is PROMPT_COMMAND?", "echo of the question"),
    ("The context does not say.", "Which variable?", "said not found"),
    ("Reply with the short answer only: the exact name", "Which variable?", "leaked instruction"),
    ("4 minutes", "How long are snapshots kept?", "not in the kept text"),
    ("", "Which variable?", "empty"),
    ("35 days", "How long are snapshots kept?", None),
])
def test_retry_reasons(text, question, reason):
    cfg = PrefillConfig(task="short")
    assert retry_reason(text, question, "Backups: snapshots are kept for 35 days.", cfg) == reason


def _runs(text: str, instruction: str, n: int = LEAK_RUN) -> bool:
    """Whether ``text`` holds ``n`` consecutive words of ``instruction`` (case and punctuation ignored)."""
    norm = [w.strip(".,:;").lower() for w in instruction.split()]
    grams = {" ".join(norm[i:i + n]) for i in range(len(norm) - n + 1)}
    words = [w.strip(".,:;").lower() for w in text.split()]
    return any(" ".join(words[i:i + n]) in grams for i in range(len(words) - n + 1))


@pytest.mark.parametrize("task", ["auto", "short", "brief", "explain"])
@pytest.mark.parametrize("question", ["What does `$?` expand to?", "Which variable limits nesting?",
                                      "Does TRUNCATE scan the tables?"])
def test_the_instruction_never_appears_in_an_answer(task, question):
    cfg = PrefillConfig(task=task)
    for inst in TASK_SYSTEM_PROMPTS.values():
        for reply in (inst, f"{inst} $?", f"The answer: {inst}", f"Short answer: {inst[:80]} FUNCNEST",
                      f"Brief answer: {inst}", inst.upper()):
            out = clean_answer(reply, question, cfg)
            for other in TASK_SYSTEM_PROMPTS.values():
                assert not _runs(out, other), (reply, out)
            assert "Short answer:" not in out and "Brief answer:" not in out


class ScriptedBackend:
    """'Generates' its replies in turn (the last one again when they run out); records each prompt."""

    name = "scripted"
    context_window = 100_000

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.prompts: list[str] = []
        self.cfgs: list[PrefillConfig] = []  # the generation config of each call
        self.calls = 0

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def chat_ids(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        self.prompts.append(messages[-1]["content"])
        return list(range(sum(len(m["content"].split()) for m in messages)))

    def prefill_logits(self, input_ids: Sequence[int]) -> tuple[Any, float]:
        raise NotImplementedError

    def stream(self, input_ids: Sequence[int], cfg: PrefillConfig, stats: GenerationStats) -> Iterator[str]:
        reply = self.replies[min(self.calls, len(self.replies) - 1)]
        self.calls += 1
        self.cfgs.append(cfg)
        stats.prompt_tokens, stats.completion_tokens = len(input_ids), len(reply.split())
        words = reply.split(" ")
        yield words[0]
        for w in words[1:]:
            yield " " + w


NOTES = {
    "backup.md": "# Backup Policy\n\n## Schedule\n\nDatabase snapshots are taken nightly and kept for 35 days.\n",
    "cache.md": "# Cache\n\n## Expiry\n\nSession entries expire after 4 minutes of inactivity.\n",
}


def _engine(tmp_path, encoder, counter, backend: ScriptedBackend, task: str = "auto", **prefill: Any) -> H2MT:
    for name, text in NOTES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    cfg = H2MTConfig(prefill=PrefillConfig(task=task, **prefill))
    return H2MT.build([tmp_path], cfg, encoder=encoder, token_counter=counter, backend=backend)


def test_a_checked_short_answer_counts_its_check_in_ttft(tmp_path, encoder, counter, monkeypatch):
    """A short answer is shown only once it is checked: the check's time (here its passage
    ranking, made slow) is part of the time to the first token the user sees."""
    import time

    be = ScriptedBackend("35")
    eng = _engine(tmp_path, encoder, counter, be)
    ranked = eng._similarity

    def slow(question, sources):
        time.sleep(0.3)
        return ranked(question, sources)

    monkeypatch.setattr(eng, "_similarity", slow)
    ans = eng.answer("How long are database snapshots kept?", budget=400)
    assert be.calls == 1 and ans.text == "35 days"
    assert ans.accounting.ttft_ms >= 300 and ans.accounting.total_ms >= ans.accounting.ttft_ms


def test_an_echoed_question_entity_triggers_the_retry(tmp_path, encoder, counter):
    be = ScriptedBackend("snapshots", "Database snapshots are kept for 35 days.")
    eng = _engine(tmp_path, encoder, counter, be)
    s = eng.stream("How long are database snapshots kept?")
    pieces = list(s)
    ans = s.answer
    assert ans is not None and be.calls == 2
    assert ans.text == "Database snapshots are kept for 35 days." == "".join(pieces)
    assert be.prompts[0].endswith("Short answer:") and be.prompts[1].startswith("Context:")
    assert ans.accounting.task == "brief"
    assert ans.accounting.task_reason == "how-much; short answer 'snapshots' retried as brief: echo of the question"
    assert ans.accounting.completion_tokens == 1 + 7  # both generations count


def test_an_answer_not_in_the_kept_text_is_retried(tmp_path, encoder, counter):
    be = ScriptedBackend("4 weeks", "35 days.")
    ans = _engine(tmp_path, encoder, counter, be).answer("How long are database snapshots kept?")
    assert be.calls == 2 and ans.text == "35 days."
    assert "not in the kept text" in str(ans.accounting.task_reason)


def test_a_supported_short_answer_is_shown_once_without_retry(tmp_path, encoder, counter):
    be = ScriptedBackend("35 days")
    s = _engine(tmp_path, encoder, counter, be).stream("How long are database snapshots kept?")
    assert list(s) == ["35 days"] and be.calls == 1
    assert s.answer is not None and s.answer.accounting.task == "short"
    assert s.answer.accounting.task_reason == "how-much"


def test_not_found_when_the_evidence_is_not_kept(tmp_path, encoder, counter):
    be = ScriptedBackend("12 hours", "The context does not say.")
    ans = _engine(tmp_path, encoder, counter, be).answer("How long are audit logs retained?")
    assert all("audit" not in s.node.text.lower() for s in ans.sources)  # the evidence is nowhere
    assert be.calls == 2 and ans.text == NOT_FOUND


def test_a_forced_short_task_is_not_retried(tmp_path, encoder, counter):
    be = ScriptedBackend("snapshots", "never asked")
    ans = _engine(tmp_path, encoder, counter, be, task="short").answer("How long are database snapshots kept?")
    assert be.calls == 1 and ans.text == NOT_FOUND
    assert ans.accounting.task == "short" and ans.accounting.task_reason == "forced"


def test_a_brief_question_streams_its_pieces(tmp_path, encoder, counter):
    be = ScriptedBackend("Snapshots are taken nightly and kept for 35 days.")
    eng = _engine(tmp_path, encoder, counter, be)
    s = eng.stream("Why does the backup schedule run at night?")
    assert len(list(s)) > 1 and be.calls == 1
    assert s.answer is not None and s.answer.accounting.task == "brief"
    assert s.answer.accounting.as_dict()["task_reason"] == "why"
    assert replace(eng.config.prefill).task == AnswerTask.AUTO  # the engine's config is never changed


@pytest.mark.parametrize("question, reason", [
    ("How does the backup schedule work?", "how"),
    ("How do I find out how long snapshots are kept?", "how"),
    ("What is the purpose of the backup schedule?", "purpose"),
])
def test_a_how_or_purpose_question_is_answered_by_the_kept_sentences_ranked_best(tmp_path, encoder, counter,
                                                                                  question, reason):
    be = ScriptedBackend("never asked")
    ans = _engine(tmp_path, encoder, counter, be).answer(question)
    assert be.calls == 0 and ans.accounting.answer_kind == "quoted"
    assert ans.text.startswith("Database snapshots are taken nightly and kept for 35 days.")
    assert ans.accounting.task_reason.startswith(f"{reason}; quoted the ")
    off = _engine(tmp_path, encoder, counter, ScriptedBackend("Nightly."), placed_sentences=False).answer(question)
    assert off.text == "Nightly." and off.accounting.answer_kind == "generated"  # the rule, not the question


ENTRIES = {
    "vars.md": "# Variables\n\n## CACHE_TTL\n\nMinutes before session entries expire.\n\n"
               "## KEEP_DAYS\n\nThe number of days database snapshots are kept.\n\n"
               "## LOG_DIR\n\nWhere the server writes its logs.\n",
}


def test_a_lookup_answer_from_a_neighbouring_entry_is_retried_over_the_best_passage(tmp_path, encoder, counter):
    """A name that is in the kept text but not in the entry matching the question (a small model's
    favourite mistake) is asked again, over the best-matching entries, the best one last. ("Tell me
    which variable..." is not read as a description of an entry: "Which variable..." is, and gets
    the entry's name without generating, tests/test_answer_entries.py.)"""
    (tmp_path / "vars.md").write_text(ENTRIES["vars.md"], encoding="utf-8")
    be = ScriptedBackend("CACHE_TTL", "KEEP_DAYS sets how many days snapshots are kept.")
    cfg = H2MTConfig(prefill=PrefillConfig(focus_sentences=0))  # whole leaves (focus: tests/test_answer_placed.py)
    eng = H2MT.build([tmp_path], cfg, encoder=encoder, token_counter=counter, backend=be)
    ans = eng.answer("Tell me which variable sets how many days database snapshots are kept.", budget=400)
    assert be.calls == 2 and ans.text.startswith("KEEP_DAYS")
    assert "not in the passage matching the question best" in str(ans.accounting.task_reason)
    retry_context = be.prompts[1].split("Context:")[1].split("Question:")[0]
    assert retry_context.rstrip().endswith("snapshots are kept.")  # the best-matching entry last
    assert "LOG_DIR" not in retry_context  # the two best-matching entries only


def test_a_lookup_answer_from_the_matching_entry_is_shown():
    cfg = PrefillConfig(task="short")
    q = "Which variable sets how many days database snapshots are kept?"
    ctx = ENTRIES["vars.md"]
    assert retry_reason("KEEP_DAYS", q, ctx, cfg) is None  # without sources: the kept text only
    assert retry_reason("CACHE_TTL", q, ctx, cfg) is None


def test_a_brief_answer_reads_the_best_matching_leaves(tmp_path, encoder, counter):
    (tmp_path / "vars.md").write_text(ENTRIES["vars.md"], encoding="utf-8")
    be = ScriptedBackend("It sets how many days database snapshots are kept.")
    cfg = H2MTConfig(prefill=PrefillConfig(placed_sentences=False, focus_sentences=0))  # generated from whole leaves
    eng = H2MT.build([tmp_path], cfg, encoder=encoder, token_counter=counter, backend=be)
    q = "What does the retention policy do for database snapshots?"  # names no entry (else its entry is quoted)
    ans = eng.answer(q, budget=400)
    assert be.calls == 1 and len(ans.sources) == 2 and ans.sources[-1].node.path[-1] == "KEEP_DAYS"
    forced = H2MT(eng.index, H2MTConfig(prefill=PrefillConfig(task="brief")), encoder=encoder, backend=be)
    assert len(forced.answer(q, budget=400).sources) == 3


RANKED = ["Database snapshots. Days are counted. Many things are kept.",  # most question words, spread out
          "Snapshots are kept for days.",  # fewer words, one sentence holding them
          "Cache entries expire after four minutes."]


def test_passages_without_similarity_are_ranked_by_question_words():
    q = "How many days are database snapshots kept?"
    assert rank_passages(q, RANKED) == [0, 1, 2]


def test_similarity_decides_between_the_word_and_the_sentence_orders():
    """Passage 0 leads the word order, passage 1 the best-sentence order; of the two, the one the
    embeddings rank higher leads the fused order. Meaning alone does not lift a passage sharing no
    question word past them."""
    q = "How many days are database snapshots kept?"
    assert rank_passages(q, RANKED, [0.2, 0.8, 0.1]) == [1, 0, 2]
    assert rank_passages(q, RANKED, [0.8, 0.2, 0.1]) == [0, 1, 2]
    assert rank_passages(q, RANKED, [0.1, 0.2, 0.9]) == [1, 0, 2]
    with pytest.raises(ValueError, match="2 similarities for 3 passages"):
        rank_passages(q, RANKED, [0.1, 0.2])


def test_a_brief_answer_reads_the_passages_the_fused_order_ranks_first(tmp_path, encoder, counter):
    (tmp_path / "vars.md").write_text(ENTRIES["vars.md"], encoding="utf-8")
    be = ScriptedBackend("It sets how many days database snapshots are kept.")
    cfg = H2MTConfig(prefill=PrefillConfig(placed_sentences=False, focus_sentences=0))  # generated from whole leaves
    eng = H2MT.build([tmp_path], cfg, encoder=encoder, token_counter=counter, backend=be)
    q = "What does the retention policy do for database snapshots?"
    kept = eng.route(q, budget=400).kept
    sim = eng._similarity(q, kept)
    assert sorted(sim) == sorted(s.node.id for s in kept)  # every kept leaf of the index, by its node id
    qv = eng.encoder.encode([q])[0]
    assert all(abs(sim[s.node.id] - float(eng.index.embeddings[s.node.id] @ qv)) < 1e-6 for s in kept)
    order = rank_passages(q, [" ".join([*s.node.path, s.node.text]) for s in kept], [sim[s.node.id] for s in kept])
    ans = eng.answer(q, budget=400)
    assert be.calls == 1 and ans.accounting.task == "brief"
    assert ans.sources[-1].node.id == kept[order[0]].node.id  # the best of the fused order, nearest the question


@pytest.mark.parametrize("answer, context, question, out", [
    ("60", "The default value is 60 seconds.", "How long before the primary drops it?", "60 seconds"),
    ("5.", "Default five seconds.", "How long does connect() wait?", "five seconds"),
    ("200", "The default is 200 milliseconds (200ms).", "How long does the writer sleep?", "200 milliseconds"),
    ("64", "The default is 64MB, set at server start.", "How much memory?", "64MB"),
    ("1", "Waits 0.1 seconds, then 1 s more.", "How long?", "1 s"),  # not the 1 of 0.1
    ("500", "The default is 500.", "What is the default history size?", "500"),  # no unit given: as is
    ("3", "Three retries, 3 seconds apart.", "How many retries are made?", "3"),  # a count takes none
    ("PS1", "PS1 is 60 seconds.", "Which variable?", "PS1"),  # not a number
])
def test_a_bare_number_takes_the_unit_the_context_gives_it(answer, context, question, out):
    assert with_unit(answer, context, question) == out


def test_a_short_duration_answer_is_shown_with_its_unit(tmp_path, encoder, counter):
    be = ScriptedBackend("35")
    eng = _engine(tmp_path, encoder, counter, be)
    ans = eng.answer("How long are database snapshots kept?", budget=400)
    assert be.calls == 1 and ans.text == "35 days" and ans.accounting.task == "short"


@pytest.mark.parametrize("question, plain", [
    ("My prompt uses \\w and paths make it huge; which variable keeps only the last directories?",
     "which variable keeps only the last directories?"),
    ("I use cmdhist already. Which shopt option keeps the newlines too?", "which shopt option keeps the newlines too?"),
    ("Hitting Tab just beeps: does Readline have a setting to list the matches?",
     "does readline have a setting to list the matches?"),
    ("Which operator tests whether a set contains another, i.e. is a superset of it?",
     "which operator tests whether a set contains another, i.e. is a superset of it?"),  # an abbreviation
    ("If nullglob is set, what happens to the word?", "what happens to the word?"),  # a leading condition
    ("When I write `for x; do ...; done` with no list, what does it loop over?",
     "what does it loop over?"),  # the semicolons of quoted code end no clause
    ("As a regular user, am I allowed to raise the soft limit, up to the hard one?",
     "am i allowed to raise the soft limit, up to the hard one?"),  # a phrase before a yes/no clause
    ("Which option, is it -P or -L?", "which option, is it -p or -l?"),  # the phrase asks itself
])
def test_the_rules_read_the_asking_clause(question, plain):
    assert plain_question(question) == plain


@pytest.mark.parametrize("answer, question, out", [
    ("glob.glob('*') does not pick up dotfiles such as .bashrc.",
     "Does glob.glob('*') pick up dotfiles such as .bashrc?",
     "No, glob.glob('*') does not pick up dotfiles such as .bashrc."),
    ("The range object doesn't take more memory the larger the range.", "Does a range object take more memory the "
     "larger the range?", "No, the range object doesn't take more memory the larger the range."),
    ("When you pass neither -H nor -S, both the hard and soft limits are changed.",  # negations of a condition
     "When I pass neither -H nor -S, are both the hard and soft limits changed?",
     "Yes, when you pass neither -H nor -S, both the hard and soft limits are changed."),
    ("The history file is not truncated when histappend is set.", "Is the history file not truncated when "
     "histappend is set?", "Yes, the history file is not truncated when histappend is set."),  # both negate
    ("Python rounds to the even one.", "Does round() pick the even one?", "Yes, Python rounds to the even one."),
    ("y is evaluated only once.", "In x < y <= z, is y evaluated twice?", "y is evaluated only once."),  # says
    # something else than the question
    ("No, the order does not matter.", "Does the order of redirections matter?",
     "No, the order does not matter."),  # has one, and its clause agrees
    ("No, the order matters.", "Does the order of redirections matter?", "Yes, the order matters."),  # its clause
    # says the other verdict: the clause it copied wins over the habit of saying "no"
    ("Based on the context provided, os.walk does not descend into symlinked directories.",  # "provided"
     "Does os.walk descend into symlinked directories?",  # opens no subordinate clause here
     "No, based on the context provided, os.walk does not descend into symlinked directories."),
    ("No, bash will not look in the current directory if it is not found.",  # a subordinate clause asserts
     "If it is not found, will bash also look in the current directory?",  # nothing: "not" there counts not
     "No, bash will not look in the current directory if it is not found."),
    ("It is kept for 35 days.", "Is it kept for 35 days or 30 days?", "It is kept for 35 days."),  # a choice
    ("The snapshot is kept for 35 days.", "How long is the snapshot kept?", "The snapshot is kept for 35 days."),
    (NOT_FOUND, "Does the snapshot expire?", NOT_FOUND),
])
def test_a_yes_no_answer_says_its_own_verdict_first(answer, question, out):
    assert with_verdict(answer, question) == out
