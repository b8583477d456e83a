"""Symbol answers with and without code forms as candidates (``h2mt.query.symbols._code_tokens``).

A symbol question's answer is chosen among the symbols of the sentence matching it best
(``evidence_symbols``). Until stop 50 those were runs of operator characters, specifiers, escapes
and single quoted characters only, so a form such as ``%TYPE``, ``${identifier}``, ``‘%ce’`` or
``\\dAf`` could never be the answer (the evidence sentences of the answer sets hold their answer as
a candidate for 309 of 728 symbol questions without them, 365 with them). This probe routes every
symbol question of the given answer-set files (``asks_for_symbol``) over its document group's
whole-manual index, computes the candidates both ways from the sources the engine reads, and for
the questions whose candidates differ answers the question twice with the default generator,
without code forms and with them, judged (``h2mt.eval.answer_judge``); with ``--answers``, a
question those rows answer (``scripts/answer_eval.py`` with the code before code forms) takes its
answer without them from there. ``--score`` prints the paired difference with its bootstrap interval.

    .venv/bin/python scripts/symbol_candidates_probe.py --index-dir /tmp/s48/idx --out /tmp/sym.jsonl \\
        tests/data/answer_heldout{59..73}.jsonl --answers /tmp/A.jsonl
    .venv/bin/python scripts/symbol_candidates_probe.py --score /tmp/sym.jsonl
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from routing_probe import arguments, paired, pending, routed, rows_by_id


def _candidates(engine: Any, question: str, kept: list[Any]) -> list[str]:
    """The symbols the engine would choose ``question``'s answer among (``H2MT._first``'s call)."""
    from h2mt.config import AnswerTask
    from h2mt.engine import _Signals

    cfg = replace(engine.config.prefill, task=AnswerTask.SHORT)
    signals = _Signals(engine, question, kept, True, cfg.rerank_leaves, cfg.placed_sentences, cfg.sentence_ranker)
    return engine._candidate_symbols(question, engine.prompt(question, engine._read(question, kept, cfg, signals),
                                                             cfg).sources)


def probe(files: list[str], budget: int, index_dir: Path, out: Path, earlier: dict[str, str]) -> None:
    """One row per symbol question (resumable: questions in ``out`` are skipped); ``earlier``: id ->
    the answer without code forms, where already known."""
    import h2mt.query.symbols as symbols
    from h2mt.config import AnswerTask
    from h2mt.eval.answer_judge import judge_row
    from h2mt.query.task import choose_task

    code_tokens = symbols._code_tokens

    def asked(q: dict[str, Any]) -> bool:
        return symbols.asks_for_symbol(q["question"]) and choose_task(q["question"]).task == AnswerTask.SHORT

    with out.open("a", encoding="utf-8") as f:
        for q, engine, kept in routed(pending(files, out, asked), index_dir, budget):
            row: dict[str, Any] = {"id": q["id"], "set": q["set"], "type": q["type"]}
            answers = {}
            for way, tokens in (("without", lambda text: []), ("with", code_tokens)):
                symbols._code_tokens = tokens  # type: ignore[assignment]
                try:
                    row[f"{way}_candidates"] = _candidates(engine, q["question"], kept)
                    if way == "with" and row["with_candidates"] == row["without_candidates"]:
                        break  # the same choice: the same answer
                    if way == "without" and q["id"] in earlier:
                        answers[way] = earlier[q["id"]]
                    else:
                        answers[way] = engine.answer(q["question"], budget=budget).text
                finally:
                    symbols._code_tokens = code_tokens  # type: ignore[assignment]
            for way, text in answers.items():
                row[way] = text
                row[f"{way}_right"] = judge_row(q, text).correct
            f.write(json.dumps(row) + "\n")
            f.flush()


def score(path: str) -> None:
    """The questions whose candidates differ: answers right without and with code forms, paired."""
    rows = list(rows_by_id([path]).values())
    changed = [r for r in rows if "with_right" in r]
    print(f"{len(rows)} symbol questions, {len(changed)} with other candidates")  # noqa: T201
    if changed:
        pairs = [(float(r["without_right"]), float(r["with_right"])) for r in changed]
        print(f"without code forms against with them: {paired(pairs)}")  # noqa: T201


def main() -> None:
    """Command line: probe the files' questions (``--out``) or score a row file (``--score``)."""
    ap = arguments(__doc__ or "")
    ap.add_argument("--answers", nargs="*", default=[], help="answer rows of the code without code forms")
    a = ap.parse_args()
    if a.score:
        score(a.score)
    elif a.out and a.files:
        earlier = {i: r["prediction"] for i, r in rows_by_id(a.answers).items()}
        probe(a.files, a.budget, a.index_dir, a.out, earlier)
    else:
        ap.error("give answer-set files and --out, or --score")


if __name__ == "__main__":
    main()
