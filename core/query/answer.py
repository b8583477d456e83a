"""The generated text -> the answer's text: a leaked instruction is cut, an echo of the question is no answer.

A small model sometimes copies its instruction ("The exact name, value or phrase from the context
is $? expand to.") or only repeats the question's own words ("What does PROMPT_COMMAND do?" ->
``PROMPT_COMMAND``). Neither is supported by the kept text, and the prompt promises an answer the
context does not support says so: :func:`clean_answer` returns :data:`NOT_FOUND` then.

1. **Cut a leaked instruction**: every run of :data:`LEAK_RUN` or more consecutive words of the
   system message (or a prompt label such as ``Short answer:``) is removed, with the glue words
   right after it ("is", "the").
2. **A short answer must say something the question does not**: when every content word left is
   one of the question's (and the question offers no choice such as "A or B", whose answer is
   one of its own words), or nothing is left, the answer is :data:`NOT_FOUND`.

Explanations and chat turns only get step 1 (an explanation may well repeat the question's names).
"""

from __future__ import annotations

import re

from ..config import AnswerTask, PrefillConfig

__all__ = ["NOT_FOUND", "LEAK_RUN", "clean_answer", "leaked_instruction_cut"]

NOT_FOUND = "The context does not say."  # the reply the short task's instruction asks for
LEAK_RUN = 4  # this many consecutive instruction words in an answer are a leak, not an answer
_LABELS = ("Short answer:", "Question:", "Context:", "Answer:")
_WORD = re.compile(r"[A-Za-z0-9_$?@#*.-]+")
_GLUE = {"is", "are", "was", "the", "a", "an", "of", "to", "and", "or", "that", "this", "it", "as", ":", "-"}
_STOP = _GLUE | {"what", "which", "who", "how", "does", "do", "did", "in", "on", "for", "by", "with", "be", "if",
                 "when", "where", "why", "its", "their", "from", "at"}


def _norm(word: str) -> str:
    return word.lower().strip(".,;:!?\"'`()[]")


def _spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, normalised word) of every word of ``text``."""
    return [(m.start(), m.end(), _norm(m.group())) for m in _WORD.finditer(text) if _norm(m.group())]


def leaked_instruction_cut(text: str, instruction: str, run: int = LEAK_RUN) -> str:
    """``text`` without any run of ``run``+ consecutive words of ``instruction`` (case and
    punctuation ignored), nor the prompt's labels; glue words left at the edges are dropped."""
    for label in _LABELS:
        text = re.sub(re.escape(label), " ", text, flags=re.IGNORECASE)
    inst = [w for _, _, w in _spans(instruction)]
    grams = {tuple(inst[i:i + run]) for i in range(len(inst) - run + 1)}
    words = _spans(text)
    cut = [False] * len(words)
    for i in range(len(words) - run + 1):
        if tuple(w for _, _, w in words[i:i + run]) in grams:
            cut[i:i + run] = [True] * run
    if not any(cut):
        return text.strip()
    for i, c in enumerate(list(cut)):  # the glue a cut leaves behind: "... context] is $?" -> "$?"
        if c:
            j = i + 1
            while j < len(words) and not cut[j] and words[j][2] in _GLUE:
                cut[j] = True
                j += 1
    kept, pos = [], 0
    for (s, e, _), c in zip(words, cut, strict=True):
        if c:
            kept.append(text[pos:s])
            pos = e
    kept.append(text[pos:])
    return " ".join(" ".join(kept).split()).strip(" ,;:-")


def _offers_a_choice(question: str) -> bool:
    return re.search(r"\bor\b|\bwhether\b", question, flags=re.IGNORECASE) is not None


def clean_answer(text: str, question: str, cfg: PrefillConfig) -> str:
    """The answer's text from the generated ``text`` for ``question`` under ``cfg`` (module docstring)."""
    out = leaked_instruction_cut(text.strip(), cfg.system_message)
    if cfg.task != AnswerTask.SHORT:
        return out if out or not text.strip() else NOT_FOUND
    content = {w for _, _, w in _spans(out)} - _STOP
    asked = {w for _, _, w in _spans(question)}
    if not content:
        return NOT_FOUND if text.strip() else ""
    if content <= asked and not _offers_a_choice(question):
        return NOT_FOUND
    return out
