"""Close entries for a name question: the best-matching one's name, or the generator's choice among them?

A "which variable / option / function ... <description>?" question under ``task="auto"`` is answered
from the kept entries whose sentences match it best (``h2mt.query.entries.described_entries``: up
to three within a margin of the best). For every name question of the given answer-set files
whose route gives two or more such entries, this probe records both answers the engine could show:

- ``first``: the first entry's name (the one whose sentence matches best), as the engine answers;
- ``choice``: the generator's pick among the names, greedy decoding constrained to them
  (``h2mt.query.symbols.symbol_generation``) over the prompt of those entries, as the engine
  answered before stop 48.

Each is judged with ``h2mt.eval.answer_judge``. Rows for questions with fewer than two entries
record only how many there were. The default generator is loaded; only the questions with two or
more entries run it (one or two forward passes each). ``--score`` prints how often each is right
and the paired bootstrap interval of ``first`` minus ``choice``.

    .venv/bin/python scripts/name_choice_probe.py --index-dir /tmp/idx --out /tmp/names.jsonl \\
        tests/data/answer_heldout.jsonl tests/data/answer_heldout{2..64}.jsonl
    .venv/bin/python scripts/name_choice_probe.py --score /tmp/names.jsonl
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from routing_probe import main, pending, routed


def probe(files: list[str], budget: int, index_dir: Path, out: Path) -> None:
    """One row per name question (resumable: questions in ``out`` are skipped)."""
    from h2mt.engine import _Signals
    from h2mt.eval.answer_judge import judge_row
    from h2mt.query.answer import lead_passage
    from h2mt.query.entries import asks_for_name, described_entries, entry_source, whole_entries
    from h2mt.query.symbols import asks_for_symbol, symbol_generation
    from h2mt.query.task import choose_task

    def keep(q: dict[str, Any]) -> bool:
        return q["type"] == "name" and asks_for_name(q["question"]) and not asks_for_symbol(q["question"])

    with out.open("a", encoding="utf-8") as f:
        for q, engine, kept in routed(pending(files, out, keep), index_dir, budget):
            question = q["question"]
            signals = _Signals(engine, question, kept, True, 0, True)
            before = [engine._leaf_before(s.node) for s in kept]
            lead = lead_passage(question, kept, signals.similarity(kept), signals.likelihood(kept))
            whole = whole_entries(kept, *engine._neighbours(kept))
            found = described_entries(question, whole, before, lead)
            row: dict[str, Any] = {"id": q["id"], "set": q["set"], "entries": len(found)}
            if len(found) > 1:
                names = [e.keys[0] for e in found]
                cfg = replace(engine.config.prefill, task=choose_task(question, engine.config.prefill.task).task)
                read = [entry_source(e, whole) for e in sorted(found, key=lambda e: (e.leaf, e.first))]
                p = engine.prompt(question, read, cfg)  # the prompt the engine's choice read
                choice = symbol_generation(engine.backend, p, names).run()
                row.update(names=names, first=names[0], choice=choice,
                           first_right=judge_row(q, names[0]).correct, choice_right=judge_row(q, choice).correct,
                           right=[judge_row(q, n).correct for n in names])
            f.write(json.dumps(row) + "\n")
            f.flush()


def score(path: str) -> None:
    """Right answers of ``first`` and ``choice`` over the questions with two or more entries, paired."""
    from h2mt.eval.metrics import bootstrap_ci

    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
    several = [r for r in rows if r["entries"] > 1]
    print(f"{len(rows)} name questions; one entry: {sum(r['entries'] == 1 for r in rows)}, "
          f"none: {sum(r['entries'] == 0 for r in rows)}, two or more: {len(several)}")
    if not several:
        return
    first, choice = sum(r["first_right"] for r in several), sum(r["choice_right"] for r in several)
    gained = sum(r["first_right"] and not r["choice_right"] for r in several)
    lost = sum(r["choice_right"] and not r["first_right"] for r in several)
    d, lo, hi = bootstrap_ci([float(r["first_right"]) - float(r["choice_right"]) for r in several])
    print(f"first right {first}, generator's choice right {choice}, any right "
          f"{sum(any(r['right']) for r in several)}; first against choice: {gained} gained / {lost} lost, "
          f"{d:+.3f} ({lo:+.3f} to {hi:+.3f})")


if __name__ == "__main__":
    main(__doc__, probe, score)
