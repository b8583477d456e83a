"""Name answers written freely or chosen among the names of the kept text (``PrefillConfig.constrain_names``).

A "which option / variable / function ... <description>?" question (``asks_for_name``) that no kept
entry answers by itself was answered by the generator writing a name freely; with
``constrain_names`` it is answered by the generator's choice among the names of what it reads
(``h2mt.query.names.name_candidates``, greedy decoding constrained to them). This probe routes
every such question of the given answer-set files over its document group's whole-manual index and
answers it with ``constrain_names`` on; when the answer is constrained it also answers it with the
option off (with ``--answers``, a question those rows answer takes that answer instead: rows of
``scripts/answer_eval.py`` with code before the option). Each answer is judged
(``h2mt.eval.answer_judge``). A row also records ``retried``: the free answer failed its check and
was asked again as a brief explanation, so ``--score`` prints a third way too, constraining only
the answers that fail the check (the others stay free).

    .venv/bin/python scripts/name_candidates_probe.py --index-dir /tmp/s48/idx --out /tmp/names.jsonl \\
        tests/data/answer_heldout{59..79}.jsonl --answers /tmp/A.jsonl
    .venv/bin/python scripts/name_candidates_probe.py --score /tmp/names.jsonl
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from routing_probe import arguments, paired, pending, routed, rows_by_id


def _answer(engine: Any, question: str, budget: int, on: bool) -> Any:
    """``question`` answered with ``constrain_names`` ``on`` (the engine's config is restored)."""
    config = engine.config
    engine.config = replace(config, prefill=replace(config.prefill, constrain_names=on))
    try:
        return engine.answer(question, budget=budget)
    finally:
        engine.config = config


def probe(files: list[str], budget: int, index_dir: Path, out: Path, earlier: dict[str, dict[str, Any]]) -> None:
    """One row per name question (resumable: questions in ``out`` are skipped); ``earlier``: id ->
    an answer row without the option, where already known."""
    from h2mt.config import AnswerTask
    from h2mt.eval.answer_judge import judge_row
    from h2mt.query.entries import asks_for_name
    from h2mt.query.symbols import asks_for_symbol
    from h2mt.query.task import choose_task

    def asked(q: dict[str, Any]) -> bool:
        question = q["question"]
        return (asks_for_name(question) and not asks_for_symbol(question)
                and choose_task(question).task == AnswerTask.SHORT)

    with out.open("a", encoding="utf-8") as f:
        for q, engine, _ in routed(pending(files, out, asked), index_dir, budget):
            row: dict[str, Any] = {"id": q["id"], "set": q["set"], "type": q["type"]}
            on = _answer(engine, q["question"], budget, True)
            row["constrained"] = on.accounting.answer_kind == "constrained"
            if row["constrained"]:
                row["with"], row["reason"] = on.text, on.accounting.task_reason
                if q["id"] in earlier:
                    off_text, off_reason = earlier[q["id"]]["prediction"], earlier[q["id"]]["accounting"]["task_reason"]
                else:
                    off = _answer(engine, q["question"], budget, False)
                    off_text, off_reason = off.text, off.accounting.task_reason
                row["without"], row["retried"] = off_text, "retried as brief" in off_reason
                row["with_right"], row["without_right"] = judge_row(q, on.text).correct, judge_row(q, off_text).correct
            f.write(json.dumps(row) + "\n")
            f.flush()


def score(path: str) -> None:
    """The questions whose answer is constrained: right without and with, paired; and constraining
    only the answers that fail their check."""
    rows = list(rows_by_id([path]).values())
    changed = [r for r in rows if r["constrained"]]
    print(f"{len(rows)} name questions, {len(changed)} answered by a constrained name")  # noqa: T201
    if changed:
        pairs = [(float(r["without_right"]), float(r["with_right"])) for r in changed]
        print(f"free against constrained: {paired(pairs)}")  # noqa: T201
        pairs = [(float(r["without_right"]), float(r["with_right"] if r["retried"] else r["without_right"]))
                 for r in changed]
        print(f"free against constrained when the free answer fails its check: {paired(pairs)}")  # noqa: T201


def main() -> None:
    """Command line: probe the files' questions (``--out``) or score a row file (``--score``)."""
    ap = arguments(__doc__ or "")
    ap.add_argument("--answers", nargs="*", default=[], help="answer rows of the code without the option")
    a = ap.parse_args()
    if a.score:
        score(a.score)
    elif a.out and a.files:
        probe(a.files, a.budget, a.index_dir, a.out, rows_by_id(a.answers))
    else:
        ap.error("give answer-set files and --out, or --score")


if __name__ == "__main__":
    main()
