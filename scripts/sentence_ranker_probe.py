"""Which answers does the learned sentence ranker change? The engine's answers with it off and on, nothing generated.

Every question of the given answer-set files is answered over its document group's whole-manual
index (the indexes ``scripts/answer_eval.py --whole-docs`` builds under ``--index-dir``) at one
budget, twice: with ``PrefillConfig.sentence_ranker`` off and on (``task="auto"``, every other
setting the default). The generator is not run: an answer it would generate reads
``<generated>`` (the ranker only orders the sentences the quote rules quote, so two answers that
both need the generator get the same prompt either way, unless a quote was made on one side). A
row per question records both answers, their notes and, for a quoted answer, the judge's verdict
(``h2mt.eval.answer_judge``). ``--score`` prints the answers changed, the quotes right on each
side among them with the paired bootstrap interval over the questions whose answers differ and are
quoted on both sides, and lists the questions where one side would generate (their verdict needs a
run of ``scripts/answer_eval.py``).

    .venv/bin/python scripts/sentence_ranker_probe.py --index-dir /tmp/ans35/idx --out /tmp/srp.jsonl \\
        tests/data/answer_heldout{47..52}.jsonl
    .venv/bin/python scripts/sentence_ranker_probe.py --score /tmp/srp.jsonl
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from routing_probe import main, pending, routed

GENERATED = "<generated>"


def probe(files: list[str], budget: int, index_dir: Path, out: Path) -> None:
    """One row per question (resumable: questions in ``out`` are skipped)."""
    from h2mt.eval.answer_judge import judge_row
    from h2mt.query.evidence import quote_generation

    with out.open("a", encoding="utf-8") as f:
        for q, engine, _kept in routed(pending(files, out), index_dir, budget):
            engine.generate = lambda prompt, config=None: quote_generation(GENERATED)  # type: ignore[method-assign]
            base = replace(engine.config.prefill, task="auto")
            row: dict[str, Any] = {"id": q["id"], "set": q["set"], "type": q["type"]}
            for name, on in (("off", False), ("on", True)):
                engine.config = replace(engine.config, prefill=replace(base, sentence_ranker=on))
                ans = engine.answer(q["question"], budget=budget)
                row[name] = ans.text
                row[f"{name}_note"] = ans.accounting.task_reason
                row[f"{name}_right"] = None if GENERATED in ans.text else judge_row(q, ans.text).correct
            f.write(json.dumps(row) + "\n")
            f.flush()


def score(path: str) -> None:
    """Answers changed; quotes right on each side; the questions one side would generate."""
    from h2mt.eval.metrics import bootstrap_ci

    rows = [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines() if x.strip()]
    changed = [r for r in rows if r["off"] != r["on"]]
    both = [r for r in changed if r["off_right"] is not None and r["on_right"] is not None]
    one = [r for r in changed if (r["off_right"] is None) != (r["on_right"] is None)]
    print(f"{len(rows)} questions, {len(changed)} answers changed: {len(both)} quoted both ways, "
          f"{len(one)} quoted one way and generated the other")
    if both:
        d, lo, hi = bootstrap_ci([float(r["on_right"]) - float(r["off_right"]) for r in both])
        print(f"quoted both ways: off {sum(r['off_right'] for r in both)} right, on {sum(r['on_right'] for r in both)} "
              f"right, {d:+.3f} ({lo:+.3f} to {hi:+.3f})")
        for t in sorted({r["type"] for r in both}):
            mine = [r for r in both if r["type"] == t]
            print(f"  {t}: n={len(mine)} off {sum(r['off_right'] for r in mine)} on {sum(r['on_right'] for r in mine)}")
    for r in one:
        print(f"  one way: {r['id']} off={r['off_right']} on={r['on_right']}")


if __name__ == "__main__":
    main(__doc__, probe, score)
