"""How often is the default quote right? The named entry's sentences first against all the kept sentences.

Every question of the given answer-set files that the engine's default rule reads (``task="auto"``
chooses a short answer; ``h2mt.query.entries.asks_what_is_assumed``; no symbol or name asked) is
routed over its document group's whole-manual index (the indexes ``scripts/answer_eval.py
--whole-docs`` builds under ``--index-dir``) at one budget, and the kept sentences that state a
default are quoted twice, with the engine's own functions: as the engine does (the sentences of
the entry the question names first, ``H2MT._quoted_default``) and over all the kept sentences
(``default_quote`` alone). Each quote is judged (``h2mt.eval.answer_judge``). No generator is
loaded, and the rules the engine tries before the quote (a signature's default, a default the
named entry states) are not applied. ``--score`` prints the quotes made and right under each,
and the paired bootstrap interval of entry-first minus all-kept.

    .venv/bin/python scripts/default_quote_probe.py --index-dir /tmp/ans35/idx --out /tmp/dq.jsonl \\
        tests/data/answer_heldout{2..43}.jsonl
    .venv/bin/python scripts/default_quote_probe.py --score /tmp/dq.jsonl
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from routing_probe import main, pending, routed


def reads(question: str) -> bool:
    """Whether the engine's default rule reads ``question`` (before the kept text is looked at)."""
    from h2mt.query.entries import asks_for_name, asks_what_is_assumed
    from h2mt.query.symbols import asks_for_symbol
    from h2mt.query.task import choose_task

    return (choose_task(question).task.value == "short" and asks_what_is_assumed(question)
            and not asks_for_symbol(question) and not asks_for_name(question))


def probe(files: list[str], budget: int, index_dir: Path, out: Path) -> None:
    """One row per question the rule reads (resumable: questions in ``out`` are skipped)."""
    from h2mt.engine import _Signals
    from h2mt.eval.answer_judge import judge_row
    from h2mt.query.entries import default_quote

    with out.open("a", encoding="utf-8") as f:
        for q, engine, kept in routed(pending(files, out, lambda q: reads(q["question"])), index_dir, budget):
            signals = _Signals(engine, q["question"], kept, True, 0, True)
            row: dict[str, Any] = {"id": q["id"], "set": q["set"], "type": q["type"]}
            quoted = engine._quoted_default(q["question"], kept, engine.config.prefill, signals)
            alone = default_quote(q["question"], kept, **signals.placed(kept, always=True))
            for name, text in (("entry_first", quoted[1].run() if quoted else None),
                               ("all_kept", " ".join(s.text for s in alone[0]) if alone else None)):
                row[name] = text
                row[f"{name}_right"] = judge_row(q, text).correct if text else False
            f.write(json.dumps(row) + "\n")
            f.flush()


def score(path: str) -> None:
    """Quotes made and right under each, with the paired interval of entry-first minus all-kept."""
    from h2mt.eval.metrics import bootstrap_ci

    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    for name in ("all_kept", "entry_first"):
        made = sum(r[name] is not None for r in rows)
        print(f"{name}: {made} quoted of {len(rows)}, {sum(r[f'{name}_right'] for r in rows)} right")
    gained = sum(r["entry_first_right"] and not r["all_kept_right"] for r in rows)
    lost = sum(r["all_kept_right"] and not r["entry_first_right"] for r in rows)
    d, lo, hi = bootstrap_ci([float(r["entry_first_right"]) - float(r["all_kept_right"]) for r in rows])
    print(f"entry first - all kept: {gained} gained, {lost} lost, {d:+.3f} ({lo:+.3f} to {hi:+.3f})")


if __name__ == "__main__":
    main(__doc__, probe, score)
