"""Would a quote beat the generator? Every generated answer of an answer run, against the placed quote.

For every question of the given answer-set files whose answer in ``--answers`` (rows of
``scripts/answer_eval.py --out``, made with the engine's default) was generated, the question is routed
as the engine routes it and answered instead by ``placed_quote``: the three kept sentences ranked best in
their places, what ``PrefillConfig.quote_non_names`` (and ``quote_unmatched``) shows where the generator
would write. Both answers are judged (``h2mt.eval.answer_judge``); no generator is loaded, so the quote
is exactly the engine's for the questions the option takes. One row per question in ``--out``
(resumable), with what decides whether the option takes it: the question asks for a name or a symbol,
its answer was read from a named entry (``_entry_first`` answers before the option), and it is about the
user's own work or code (``h2mt.query.task.about_own_work``).

``--score`` prints, for the questions ``quote_non_names`` takes (and for the same rule without its
first-person-or-code gate), the answers right before and after and the paired bootstrap interval over
all the run's questions (``--total``, default the rows' count; the other answers do not change, nor does
one whose question shares no word with any kept sentence: no quote, the generated answer stays).

    .venv/bin/python scripts/generated_quote_probe.py --answers /tmp/run.jsonl --index-dir /tmp/s48/idx \\
        --out /tmp/gq.jsonl tests/data/answer_heldout{86..106}.jsonl
    .venv/bin/python scripts/generated_quote_probe.py --score /tmp/gq.jsonl --total 1050
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from routing_probe import arguments, paired, pending, routed, rows_by_id


def _entry_read(reason: str) -> bool:
    """Whether the accounting's ``task_reason`` says the answer was generated from a named entry."""
    return "read " in reason and "'s entry" in reason


def probe(files: list[str], answers: Path, budget: int, index_dir: Path, out: Path) -> None:
    """One row per question whose answer in ``answers`` was generated (module docstring)."""
    from h2mt.engine import _Signals
    from h2mt.eval.answer_judge import judge_row
    from h2mt.query.entries import asks_for_name
    from h2mt.query.evidence import placed_quote
    from h2mt.query.symbols import asks_for_symbol
    from h2mt.query.task import about_own_work

    made = rows_by_id([str(answers)])
    generated = [q for q in pending(files, out)
                 if q["id"] in made and made[q["id"]]["accounting"]["answer_kind"] == "generated"]
    with out.open("a", encoding="utf-8") as f:
        for q, engine, kept in routed(generated, index_dir, budget):
            signals = _Signals(engine, q["question"], kept, True, engine.config.prefill.rerank_leaves, True)
            found = placed_quote(q["question"], kept, **signals.placed(kept, always=True))
            quote = " ".join(s.text for s in found[0]) if found else ""
            reason = str(made[q["id"]]["accounting"]["task_reason"])
            row: dict[str, Any] = {
                "id": q["id"], "set": q["set"], "type": q["type"], "reason": reason,
                "name": asks_for_name(q["question"]), "symbol": asks_for_symbol(q["question"]),
                "entry": _entry_read(reason), "own_work": about_own_work(q["question"]),
                "generated_right": judge_row(q, made[q["id"]]["prediction"]).correct,
                "quoted": found is not None, "quoted_right": bool(found) and judge_row(q, quote).correct,
                "quote": quote}
            f.write(json.dumps(row) + "\n")
            f.flush()


def _takes(gated: bool) -> Callable[[dict[str, Any]], bool]:
    """The questions ``quote_non_names`` takes (``gated``), or the same rule without its gate."""
    return lambda r: r["quoted"] and not (r["name"] or r["symbol"] or r["entry"]) and (r["own_work"] or not gated)


def score(path: str, total: int | None = None) -> None:
    """Before and after for the option's questions and for the ungated rule, over ``total`` answers."""
    rows = [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines() if x.strip()]
    n = total or len(rows)
    print(f"{len(rows)} generated answers of {n}")
    for label, takes in (("quote_non_names", _takes(True)), ("without the first-person-or-code gate", _takes(False))):
        pairs = [(float(r["generated_right"]), float(r["quoted_right"] if takes(r) else r["generated_right"]))
                 for r in rows] + [(0.0, 0.0)] * (n - len(rows))
        print(f"{label}: takes {sum(takes(r) for r in rows)}; {paired(pairs)}")
        for t in sorted({r["type"] for r in rows}):
            mine = [r for r in rows if r["type"] == t and takes(r)]
            print(f"  {t}: {len(mine)} taken, right {sum(r['generated_right'] for r in mine)} -> "
                  f"{sum(r['quoted_right'] for r in mine)}")


if __name__ == "__main__":
    ap = arguments(__doc__ or "")
    ap.add_argument("--answers", type=Path, help="the answer run whose generated answers are probed")
    ap.add_argument("--total", type=int, help="--score: the run's number of answers (default: the rows')")
    a = ap.parse_args()
    if a.score:
        score(a.score, a.total)
    elif a.out and a.files and a.answers:
        probe(a.files, a.answers, a.budget, a.index_dir, a.out)
    else:
        ap.error("give answer-set files, --answers and --out, or --score")
