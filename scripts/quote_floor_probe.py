"""A yes/no, "what happens", "what does X do" or "what changes" question quoted whatever its best sentence holds.

``placed_quote`` answers these questions (``PLACED_QUOTE_REASONS``) with the kept sentences ranked
best in their places. Until stop 49 (a "what does X do?" question: stop 50) it did so only when the
best sentence held at least ``FORMER_FLOOR`` of the question words' weight; below that the generator
(or X's entry) answered. This probe routes every such question of the given answer-set files
over its document group's whole-manual index (``scripts/answer_eval.py --whole-docs`` builds them
under ``--index-dir``) and records the quote the engine now gives (no floor: the engine's own
ranking, ``_Signals.placed``) with its coverage, judged (``h2mt.eval.answer_judge``); no generator is
loaded. ``--below FILE`` writes the ids whose best sentence holds less than ``FORMER_FLOOR``: the
only questions whose answer changes. Answer them with the former code (``scripts/answer_eval.py
--ids FILE``) and ``--score ROWS --answers A.jsonl ... --data D.jsonl ...`` prints, for those
questions, the old answers right against the quotes right, per kind, with the paired bootstrap
interval.

    .venv/bin/python scripts/quote_floor_probe.py --index-dir /tmp/s48/idx --out /tmp/qf.jsonl \\
        --below /tmp/low_ids.txt tests/data/answer_heldout{47..58}.jsonl
    PYTHONPATH=S0 .venv/bin/python scripts/answer_eval.py --data /tmp/d4758.jsonl --whole-docs \\
        --index-dir /tmp/s48/idx --ids /tmp/low_ids.txt --out /tmp/LB.jsonl   # S0: the former code
    .venv/bin/python scripts/quote_floor_probe.py --score /tmp/qf.jsonl --answers /tmp/LB.jsonl \\
        --data tests/data/answer_heldout{47..58}.jsonl
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

from routing_probe import arguments, paired, pending, routed, rows_by_id

FORMER_FLOOR = 0.15  # PLACED_QUOTE_MIN_COVERAGE before stop 49, WHAT_DOES_MIN_COVERAGE before stop 50


def _reason(question: str) -> str | None:
    """The task rule that sends ``question`` to a placed quote with no floor (``None``: another)."""
    from h2mt.query.evidence import PLACED_QUOTE_REASONS
    from h2mt.query.task import choose_task

    reason = choose_task(question).reason
    return reason if reason in PLACED_QUOTE_REASONS else None


def probe(files: list[str], budget: int, index_dir: Path, out: Path, below: Path | None) -> None:
    """One row per question the rule takes (resumable: questions in ``out`` are skipped)."""
    from h2mt.engine import _Signals
    from h2mt.eval.answer_judge import judge_row
    from h2mt.query.evidence import placed_quote

    with out.open("a", encoding="utf-8") as f:
        for q, engine, kept in routed(pending(files, out, lambda q: _reason(q["question"]) is not None),
                                      index_dir, budget):
            row: dict[str, Any] = {"id": q["id"], "set": q["set"], "type": q["type"], "reason": _reason(q["question"])}
            found = placed_quote(q["question"], kept, **_Signals(engine, q["question"], kept, True, 0).placed(kept),
                                 min_coverage=0.0)
            if found is not None:
                quote = " ".join(s.text for s in found[0])
                row.update(coverage=found[0][0].coverage, quote=quote, right=judge_row(q, quote).correct)
            f.write(json.dumps(row) + "\n")
            f.flush()
    if below is not None:
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        below.write_text("\n".join(r["id"] for r in rows if r.get("coverage", 1.0) < FORMER_FLOOR) + "\n",
                         encoding="utf-8")


def score(path: str, answers: list[str], data: list[str]) -> None:
    """Old answers against the quotes, for the questions below the former floor, paired."""
    from h2mt.eval.answer_judge import judge_row

    questions, old = rows_by_id(data), rows_by_id(answers)
    rows = [r for r in rows_by_id([path]).values() if r.get("coverage", 1.0) < FORMER_FLOOR and r["id"] in old]
    if not rows:
        raise SystemExit("no question below the former floor has an old answer: run answer_eval.py --ids first")
    pairs = [(float(judge_row(questions[r["id"]], old[r["id"]]["prediction"]).correct), float(r["right"]))
             for r in rows]
    print(f"{len(pairs)} questions below {FORMER_FLOOR}, old answers against quotes: {paired(pairs)}")  # noqa: T201
    kinds: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    for r, pair in zip(rows, pairs, strict=True):
        kinds[r["reason"]].append(pair)
    for kind, ps in sorted(kinds.items()):
        print(f"  {kind}: {len(ps)} questions, {sum(b for b, _ in ps):.0f} -> {sum(a for _, a in ps):.0f}")  # noqa: T201


def main() -> None:
    """Command line: probe the files' questions (``--out``) or score a row file (``--score``)."""
    ap = arguments(__doc__ or "")
    ap.add_argument("--below", type=Path, help="with --out: write the ids below the former floor here")
    ap.add_argument("--answers", nargs="*", default=[], help="with --score: the former code's answer rows")
    ap.add_argument("--data", nargs="*", default=[], help="with --score: the answer-set files of those questions")
    a = ap.parse_args()
    if a.score:
        score(a.score, a.answers, a.data)
    elif a.out and a.files:
        probe(a.files, a.budget, a.index_dir, a.out, a.below)
    else:
        ap.error("give answer-set files and --out, or --score with --answers and --data")


if __name__ == "__main__":
    main()
