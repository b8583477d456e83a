"""The answer says what the kept text supports: a leaked instruction is cut, an echo of the question
(or nothing) becomes "Not found in the indexed documents.", and a real answer passes through untouched."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from h2mt import H2MT, H2MTConfig, PrefillConfig
from h2mt.config import TASK_SYSTEM_PROMPTS, AnswerTask
from h2mt.query.answer import NOT_FOUND, clean_answer, leaked_instruction_cut
from h2mt.types import GenerationStats

from tests._docs import manual

SHORT = PrefillConfig(task="short")
LEAK = "The exact name, value or phrase from the context is $? expand to."


@pytest.mark.parametrize("raw, question, expected", [
    (LEAK, "What does `$?` expand to?", NOT_FOUND),  # seen verbatim: the instruction leaked
    ("PROMPT_COMMAND", "What does PROMPT_COMMAND do?", NOT_FOUND),  # echoes the question's name
    ("`set -e`", "What does `set -e` do?", NOT_FOUND),
    ("The exact name, value or phrase from the context is FUNCNEST.", "Which variable limits nesting?", "FUNCNEST."),
    ("Short answer: 35 days", "How long are snapshots kept?", "35 days"),
    ("FUNCNEST", "Which variable limits function nesting?", "FUNCNEST"),
    ("Arthur", "Who is older, Arthur or Bob?", "Arthur"),  # a choice: the answer is one of the question's words
    ("yes", "Is bash a shell?", "yes"),
    ("", "What is X?", ""),  # nothing generated stays nothing (a stopped stream), not a claim
    # a mark of punctuation answers a question asking for a character, not for a name
    (",", "Which operator, after the name in ${...}, turns uppercase letters into lowercase?", ","),
    ("'.'", "Which character delimits nested folder levels in a Maildir folder's name?", "'.'"),
    (".", "Which variable, when set, limits function nesting?", NOT_FOUND),
    # a mark standing alone is something the question does not say: the builtin ``:``, a closing ``]``
    (":", "I need a placeholder command that does nothing; which builtin is that?", ":"),
    ("The last argument must be a ]", "With the [ form of test, what must the last argument be?",
     "The last argument must be a ]"),
    ("The last argument must be", "With the [ form of test, what must the last argument be?", NOT_FOUND),
    ("The last argument - must be", "With the [ form of test, what must the last argument be?", NOT_FOUND),
])
def test_short_answers(raw, question, expected):
    assert clean_answer(raw, question, SHORT) == expected


def test_explanations_only_lose_a_leak():
    explain = PrefillConfig(task="explain")
    said = "PROMPT_COMMAND holds a command run before each primary prompt."
    assert clean_answer(said, "What does PROMPT_COMMAND do?", explain) == said  # may repeat the name
    leak = TASK_SYSTEM_PROMPTS[AnswerTask.EXPLAIN]
    assert clean_answer(leak, "What does X do?", explain) == NOT_FOUND


def test_a_trailing_sentence_on_what_the_context_lacks_is_dropped_not_cut_to_nonsense():
    brief = PrefillConfig(task="brief")
    said = "No, the shell does not exit on a SIGHUP."
    trailer = " The context does not provide any information about this behavior or any special configuration."
    assert clean_answer(said + trailer, "Will bash exit on a SIGHUP?", brief) == said
    assert clean_answer(trailer.strip(), "Will bash exit on a SIGHUP?", brief) == NOT_FOUND  # alone: not found
    both = "It exits. The text does not give a reason, but the manual says so."
    assert clean_answer(both, "Will bash exit on a SIGHUP?", brief) == "It exits."
    steps = "Set it in two steps:\n\n1. Edit the file.\n2. Reload the server."
    assert clean_answer(steps, "How do I set it?", PrefillConfig(task="explain")) == steps  # lines left as written
    hedged = steps + "\n3. Restart. The context does not say when."
    assert clean_answer(hedged, "How do I set it?", PrefillConfig(task="explain")) == steps + "\n3. Restart."


def test_leak_cut_needs_a_run_of_instruction_words():
    inst = TASK_SYSTEM_PROMPTS[AnswerTask.SHORT]
    assert leaked_instruction_cut("the exact value 42", inst) == "the exact value 42"  # 3 words: not a leak
    assert leaked_instruction_cut("the exact name, value or phrase 42", inst) == "42"


class ScriptedBackend:
    """A backend that 'generates' a fixed reply; counts tokens by whitespace."""

    name = "scripted"
    context_window = 100_000

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def chat_ids(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        return list(range(sum(len(m["content"].split()) for m in messages)))

    def prefill_logits(self, input_ids: Sequence[int]) -> tuple[Any, float]:
        raise NotImplementedError

    def stream(self, input_ids: Sequence[int], cfg: PrefillConfig, stats: GenerationStats) -> Iterator[str]:
        stats.prompt_tokens = len(input_ids)
        yield from self.reply.split(" ")[:1]
        for word in self.reply.split(" ")[1:]:
            yield " " + word


def test_a_question_whose_evidence_is_not_kept_says_so(encoder, counter):
    """Asked about something the manual does not hold, a model that copies its instruction or the
    question's words gives the not-found reply, not the leak."""
    for reply in (LEAK, "$? expand to"):
        eng = H2MT.build([manual()], H2MTConfig(), encoder=encoder, token_counter=counter,
                         backend=ScriptedBackend(reply))
        ans = eng.answer("What does `$?` expand to?", budget=64)
        assert all("$?" not in s.node.text for s in ans.sources)  # the evidence is not kept
        assert ans.text == NOT_FOUND


def test_a_supported_answer_is_returned_as_generated(encoder, counter):
    eng = H2MT.build([manual()], H2MTConfig(), encoder=encoder, token_counter=counter,
                         backend=ScriptedBackend("FUNCNEST"))
    assert eng.answer("Which variable limits function nesting?", budget=64).text == "FUNCNEST"
