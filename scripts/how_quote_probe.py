"""A "how…?" or "what is the purpose / difference / effect of…?" question quoted instead of answered by the generator.

Until stop 51 these questions (``choose_task`` reasons ``how`` and ``purpose``; ``why`` and
``explain`` are probed too) got a brief answer the generator wrote; a yes/no, "what happens", "what
does X do" or "what changes" question was already answered by ``placed_quote``, the kept sentences
ranked best in their places. This probe routes every question of the given answer-set files with
one of those reasons over its document group's whole-manual index (``scripts/answer_eval.py
--whole-docs`` builds them under ``--index-dir``) and records the quote ``placed_quote`` gives (the
engine's own ranking, ``_Signals.placed``), judged (``h2mt.eval.answer_judge``); no generator is
loaded. ``--ids FILE`` writes the ids of the questions probed. Answer those with the code before
stop 51 (``scripts/answer_eval.py --ids FILE``), then ``--score ROWS --answers A.jsonl ... --data
D.jsonl ...`` prints, per reason and per type, the generated answers right against the quotes right
(a question with no quote keeps its generated answer), paired with the bootstrap interval.

    .venv/bin/python scripts/how_quote_probe.py --index-dir /tmp/s48/idx --out /tmp/how.jsonl \\
        --ids /tmp/how_ids.txt tests/data/answer_heldout.jsonl tests/data/answer_heldout{2..79}.jsonl
    PYTHONPATH=S0 .venv/bin/python scripts/answer_eval.py --data /tmp/d.jsonl --whole-docs \\
        --index-dir /tmp/s48/idx --ids /tmp/how_ids.txt --out /tmp/G.jsonl   # S0: the code before
    .venv/bin/python scripts/how_quote_probe.py --score /tmp/how.jsonl --answers /tmp/G.jsonl \\
        --data tests/data/answer_heldout.jsonl tests/data/answer_heldout{2..79}.jsonl
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

from routing_probe import arguments, paired, pending, routed, rows_by_id

REASONS = ("how", "purpose", "why", "explain")  # the choose_task rules probed


def _reason(question: str) -> str | None:
    """The probed task rule ``question`` falls under (``None``: another)."""
    from h2mt.query.task import choose_task

    reason = choose_task(question).reason
    return reason if reason in REASONS else None


def probe(files: list[str], budget: int, index_dir: Path, out: Path, ids: Path | None) -> None:
    """One row per question with a probed reason (resumable: questions in ``out`` are skipped)."""
    from h2mt.engine import _Signals
    from h2mt.eval.answer_judge import judge_row
    from h2mt.query.evidence import placed_quote

    with out.open("a", encoding="utf-8") as f:
        for q, engine, kept in routed(pending(files, out, lambda q: _reason(q["question"]) is not None),
                                      index_dir, budget):
            row: dict[str, Any] = {"id": q["id"], "set": q["set"], "type": q["type"], "reason": _reason(q["question"])}
            found = placed_quote(q["question"], kept, **_Signals(engine, q["question"], kept, True, 0).placed(kept))
            if found is not None:
                quote = " ".join(s.text for s in found[0])
                row.update(coverage=found[0][0].coverage, quote=quote, right=judge_row(q, quote).correct)
            f.write(json.dumps(row) + "\n")
            f.flush()
    if ids is not None:
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        ids.write_text("\n".join(r["id"] for r in rows) + "\n", encoding="utf-8")


def score(path: str, answers: list[str], data: list[str]) -> None:
    """Generated answers against quotes, per reason and per type, paired."""
    from h2mt.eval.answer_judge import judge_row

    questions, old = rows_by_id(data), rows_by_id(answers)
    rows = [r for r in rows_by_id([path]).values() if r["id"] in old]
    if not rows:
        raise SystemExit("no probed question has a generated answer: run answer_eval.py --ids first")
    groups: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    for r in rows:
        before = float(judge_row(questions[r["id"]], old[r["id"]]["prediction"]).correct)
        pair = (before, float(r["right"]) if "quote" in r else before)  # no quote: the generated answer stays
        for group in ("all", f"reason {r['reason']}", f"type {r['type']}"):
            groups[group].append(pair)
    for group, pairs in sorted(groups.items(), key=lambda kv: (kv[0] != "all", kv[0])):
        print(f"{group}: {len(pairs)} questions, generated against quoted: {paired(pairs)}")  # noqa: T201


def main() -> None:
    """Command line: probe the files' questions (``--out``) or score a row file (``--score``)."""
    ap = arguments(__doc__ or "")
    ap.add_argument("--ids", type=Path, help="with --out: write the ids probed here")
    ap.add_argument("--answers", nargs="*", default=[], help="with --score: the generated answers' rows")
    ap.add_argument("--data", nargs="*", default=[], help="with --score: the answer-set files of those questions")
    a = ap.parse_args()
    if a.score:
        score(a.score, a.answers, a.data)
    elif a.out and a.files:
        probe(a.files, a.budget, a.index_dir, a.out, a.ids)
    else:
        ap.error("give answer-set files and --out, or --score with --answers and --data")


if __name__ == "__main__":
    main()
