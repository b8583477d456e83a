"""LongBench v1: prompts, generation lengths, the middle-truncation rule, and a JSONL loader.

Prompts and ``max_new_tokens`` are LongBench's ``config/dataset2prompt.json`` and
``dataset2maxlen.json`` for the tasks h2mt benchmarks; ``multifieldqa_en`` also serves the
manuals, and ``niah`` is RULER's needle template. Every method's context is placed in the
same prompt, sent as one user message through the generator's chat template.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import InputError
from .types import BenchDataset, BenchQuestion, DocGroup, doc_fingerprint

__all__ = ["PROMPTS", "MAX_NEW_TOKENS", "build_prompt", "truncate_middle", "truncate_prompt", "load_longbench"]

PROMPTS: dict[str, str] = {
    "narrativeqa": (
        "You are given a story, which can be either a novel or a movie script, and a question. Answer the "
        "question asconcisely as you can, using a single phrase if possible. Do not provide any explanation."
        "\n\nStory: {context}\n\nNow, answer the question based on the story asconcisely as you can, using a "
        "single phrase if possible. Do not provide any explanation.\n\nQuestion: {input}\n\nAnswer:"
    ),
    "qasper": (
        "You are given a scientific article and a question. Answer the question as concisely as you can, "
        "using a single phrase or sentence if possible. If the question cannot be answered based on the "
        "information in the article, write \"unanswerable\". If the question is a yes/no question, answer "
        "\"yes\", \"no\", or \"unanswerable\". Do not provide any explanation.\n\nArticle: {context}\n\n "
        "Answer the question based on the above article as concisely as you can, using a single phrase or "
        "sentence if possible. If the question cannot be answered based on the information in the article, "
        "write \"unanswerable\". If the question is a yes/no question, answer \"yes\", \"no\", or "
        "\"unanswerable\". Do not provide any explanation.\n\nQuestion: {input}\n\nAnswer:"
    ),
    "hotpotqa": (
        "Answer the question based on the given passages. Only give me the answer and do not output any "
        "other words.\n\nThe following are given passages.\n{context}\n\nAnswer the question based on the "
        "given passages. Only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:"
    ),
    "multifieldqa_en": (
        "Read the following text and answer briefly.\n\n{context}\n\nNow, answer the following question based "
        "on the above text, only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:"
    ),
    "niah": (
        "Some special magic numbers are hidden within the following text. Make sure to memorize it. I will "
        "quiz you about the numbers afterwards.\n{context}\n{input} The special magic number mentioned in the "
        "provided text is"
    ),
    "ruler": (
        "Read the following text and answer the question.\n\n{context}\n\nQuestion: {input}\nAnswer:"
    ),
}

MAX_NEW_TOKENS: dict[str, int] = {
    "narrativeqa": 128, "qasper": 128, "hotpotqa": 32, "multifieldqa_en": 64, "niah": 32, "ruler": 64,
}


def build_prompt(task: str, context: str, question: str) -> str:
    """The task's prompt with ``context`` and ``question`` filled in."""
    if task not in PROMPTS:
        raise InputError(f"No prompt for task {task!r}; known: {', '.join(PROMPTS)}")
    return PROMPTS[task].format(context=context, input=question.strip())


def truncate_middle(ids: Sequence[int], max_length: int) -> list[int]:
    """LongBench's rule: over ``max_length`` tokens, keep the first and last ``max_length // 2``."""
    ids = list(ids)
    if len(ids) <= max_length:
        return ids
    half = int(max_length / 2)
    return ids[:half] + ids[-half:] if half else []


def truncate_prompt(tokenizer: Any, prompt: str, max_length: int) -> str:
    """LongBench ``pred.py`` truncation of a prompt string with a Hugging Face tokenizer."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_length:
        return prompt
    half = int(max_length / 2)
    return str(tokenizer.decode(ids[:half], skip_special_tokens=True)) + str(
        tokenizer.decode(ids[-half:], skip_special_tokens=True))


def _task_of(path: Path, task: str | None) -> str:
    t = task or path.stem.removesuffix("_e")
    if t not in PROMPTS or t in ("niah", "ruler"):
        raise InputError(
            f"Unknown LongBench task {t!r} for {path.name}; name the file after the task "
            f"(narrativeqa.jsonl, qasper.jsonl, hotpotqa.jsonl, multifieldqa_en.jsonl) or pass --task"
        )
    return t


def load_longbench(path: str | os.PathLike[str], task: str | None = None) -> BenchDataset:
    """A LongBench v1 JSONL file (``input``, ``context``, ``answers``): one document per item."""
    from ...index.parse import parse_text

    p = Path(path)
    if not p.is_file():
        raise InputError(f"LongBench file not found: {p}")
    t = _task_of(p, task)
    questions, groups = [], {}
    for i, line in enumerate(p.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        d = json.loads(line)
        if not all(k in d for k in ("input", "context", "answers")):
            raise InputError(f"{p.name} line {i + 1}: a LongBench item needs input, context and answers")
        qid = str(d.get("_id") or f"{t}-{i}")
        doc = parse_text(d["context"], source=f"longbench:{t}:{qid}")
        key = f"lb:{qid}"
        groups[key] = DocGroup(key, [doc], doc_fingerprint([doc]), qid)
        answers = d["answers"] if isinstance(d["answers"], list) else [d["answers"]]
        questions.append(BenchQuestion(qid, d["input"], [str(a) for a in answers], key,
                                       meta={"length": d.get("length")}))
    if not questions:
        raise InputError(f"{p} holds no LongBench items")
    return BenchDataset(f"longbench-{t}", questions, groups, t, MAX_NEW_TOKENS[t],
                        [f"{len(questions)} items of {p.name}"])
