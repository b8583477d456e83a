"""Questions no task rule recognises, quoted instead of answered by the generator.

``choose_task`` falls back to a short answer (reason ``default``) when no rule recognises a question
("...; what state is the !-style history substitution in?", "what exactly does wait wait for?"). The
generator then writes the answer, unless an entry or a stated default answers it first. This probe
routes every such question of the given answer-set files (asking for neither an entry's name nor a
symbol) over its document group's whole-manual index (``scripts/answer_eval.py --whole-docs`` builds
them under ``--index-dir``) and records the quote ``placed_quote`` would give (the engine's own
ranking, ``_Signals.placed``), sentence by sentence; no generator is loaded.

``--score ROWS --answers A.jsonl ... --data D.jsonl ...`` pairs each quote with the answer the
engine gave (rows of ``scripts/answer_eval.py``), for the questions that answer was generated, and
prints the generated answers right against the quotes right, twice:

* as ``h2mt.eval.answer_judge`` judges them (a quote of three sentences holds many words, so an
  accepted answer may be in it by chance: "enabled", "zero", "emacs");
* strictly: a quote is right only when one of its sentences is judged right on its own *and*
  carries the evidence (key-term recall >= 0.4 or ROUGE-L >= 0.25 against the evidence sentence).

Each is printed for all questions, per type, and split by whether the question speaks in the first
person ("my script...", "I run..."), as a user describing their own task does and a trivia question
(HotpotQA) never does.

    .venv/bin/python scripts/unmatched_quote_probe.py --index-dir /tmp/s48/idx --out /tmp/unmatched.jsonl \\
        tests/data/answer_heldout{59..85}.jsonl
    .venv/bin/python scripts/unmatched_quote_probe.py --score /tmp/unmatched.jsonl --answers /tmp/A.jsonl \\
        --data tests/data/answer_heldout{59..85}.jsonl
"""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path
from typing import Any

from routing_probe import arguments, paired, pending, routed, rows_by_id

REASONS = ("default",)  # the choose_task rule probed: none recognised the question
FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'd|my|me|mine)\b")
STRICT_KEY_RECALL, STRICT_ROUGE_L = 0.4, 0.25  # the judge's own explanation thresholds, per sentence


def _probed(question: str) -> bool:
    """Whether ``question`` falls back to the short default and asks for neither a name nor a symbol."""
    from h2mt.query.entries import asks_for_name
    from h2mt.query.symbols import asks_for_symbol
    from h2mt.query.task import choose_task

    return (choose_task(question).reason in REASONS and not asks_for_name(question)
            and not asks_for_symbol(question))


def probe(files: list[str], budget: int, index_dir: Path, out: Path) -> None:
    """One row per probed question (resumable: questions in ``out`` are skipped)."""
    from h2mt.engine import _Signals
    from h2mt.query.evidence import placed_quote

    with out.open("a", encoding="utf-8") as f:
        for q, engine, kept in routed(pending(files, out, lambda q: _probed(q["question"])), index_dir, budget):
            row: dict[str, Any] = {"id": q["id"], "set": q["set"], "type": q["type"]}
            signals = _Signals(engine, q["question"], kept, True, 0)
            found = placed_quote(q["question"], kept, **signals.placed(kept, always=True))
            if found is not None:
                row["sentences"] = [s.text for s in found[0]]
            f.write(json.dumps(row) + "\n")
            f.flush()


def strictly_right(q: dict[str, Any], sentences: list[str]) -> bool:
    """One of ``sentences`` is judged right on its own and carries the evidence."""
    from h2mt.eval.answer_judge import judge_row

    for s in sentences:
        v = judge_row(q, s)
        if v.correct and (v.key_recall >= STRICT_KEY_RECALL or v.rouge_l >= STRICT_ROUGE_L):
            return True
    return False


def score(path: str, answers: list[str], data: list[str]) -> None:
    """Generated answers against quotes (judged as usual and strictly), overall, per type and by person."""
    from h2mt.eval.answer_judge import judge_row

    questions, old = rows_by_id(data), rows_by_id(answers)
    rows = [r for r in rows_by_id([path]).values()
            if r["id"] in old and old[r["id"]]["accounting"].get("answer_kind") == "generated"]
    if not rows:
        raise SystemExit("no probed question has a generated answer in --answers")
    groups: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    for r in rows:
        q = questions[r["id"]]
        before = float(judge_row(q, old[r["id"]]["prediction"]).correct)
        sentences = r.get("sentences")
        usual = float(judge_row(q, " ".join(sentences)).correct) if sentences else before  # no quote: it stays
        strict = float(strictly_right(q, sentences)) if sentences else before
        person = "first person" if FIRST_PERSON.search(q["question"]) else "not first person"
        for group in ("all", f"type {r['type']}", person):
            groups[f"{group}, judged"].append((before, usual))
            groups[f"{group}, strictly"].append((before, strict))
    for group, pairs in sorted(groups.items(), key=lambda kv: (not kv[0].startswith("all"), kv[0])):
        print(f"{group}: {len(pairs)} questions, generated against quoted: {paired(pairs)}")  # noqa: T201


def main() -> None:
    """Command line: probe the files' questions (``--out``) or score a row file (``--score``)."""
    ap = arguments(__doc__ or "")
    ap.add_argument("--answers", nargs="*", default=[], help="with --score: the engine's answer rows")
    ap.add_argument("--data", nargs="*", default=[], help="with --score: the answer-set files of those questions")
    a = ap.parse_args()
    if a.score:
        score(a.score, a.answers, a.data)
    elif a.out and a.files:
        probe(a.files, a.budget, a.index_dir, a.out)
    else:
        ap.error("give answer-set files and --out, or --score with --answers and --data")


if __name__ == "__main__":
    main()
