"""How many sentences should an explanation quote hold? The best 1, 2, 3 or 4 sentences ranked in their places.

Every question of the given answer-set files that the engine answers with ``placed_quote`` (a
yes/no, "what happens" or "what does X do" question, ``PLACED_QUOTE_REASONS``, whose best quotable
kept sentence holds ``PLACED_QUOTE_MIN_COVERAGE`` of the question words' weight) is routed over its
document group's whole-manual index (the indexes ``scripts/answer_eval.py --whole-docs`` builds under
``--index-dir``) at one budget, and quoted with the engine's own ranking (``quotable_sentences``, in
their places: ``_Signals.placed``) with the best 1 to 4 sentences. Each quote is judged
(``h2mt.eval.answer_judge``). The firing questions and the sentences' order do not depend on how
many are quoted, so the quotes are exactly the answers the engine gives with each count; no
generator is loaded. ``--score`` prints, per count, the quotes right and their mean length in
words, and the paired bootstrap interval of each count against 2 (the engine's
``PLACED_QUOTE_SENTENCES``).

    .venv/bin/python scripts/placed_quote_probe.py --index-dir /tmp/ans35/idx --out /tmp/pq.jsonl \\
        tests/data/answer_heldout{2..46}.jsonl
    .venv/bin/python scripts/placed_quote_probe.py --score /tmp/pq.jsonl
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from routing_probe import main, pending, routed

COUNTS = (1, 2, 3, 4)  # sentences quoted


def fires(question: str) -> bool:
    """Whether the engine's task choice sends ``question`` to ``placed_quote`` (before the kept text is read)."""
    from h2mt.query.evidence import PLACED_QUOTE_REASONS
    from h2mt.query.task import choose_task

    return choose_task(question).reason in PLACED_QUOTE_REASONS


def probe(files: list[str], budget: int, index_dir: Path, out: Path) -> None:
    """One row per question quoted (resumable: questions in ``out`` are skipped)."""
    from h2mt.engine import _Signals
    from h2mt.eval.answer_judge import judge_row
    from h2mt.query.evidence import PLACED_QUOTE_MIN_COVERAGE, PLACED_QUOTE_SENTENCES, quotable_sentences, quote_text

    with out.open("a", encoding="utf-8") as f:
        for q, engine, kept in routed(pending(files, out, lambda q: fires(q["question"])), index_dir, budget):
            signals = _Signals(engine, q["question"], kept, True, 0, True)
            ranked = quotable_sentences(q["question"], kept, **signals.placed(kept),
                                        min_coverage=PLACED_QUOTE_MIN_COVERAGE)
            row: dict[str, Any] = {"id": q["id"], "set": q["set"], "type": q["type"], "quoted": bool(ranked)}
            for k in COUNTS:
                text = " ".join(s.text for s in ranked[:k])
                row[f"right{k}"] = bool(ranked) and judge_row(q, text).correct
                row[f"words{k}"] = len(text.split())
            placed = quote_text(ranked[:PLACED_QUOTE_SENTENCES])
            row["right_places"] = bool(ranked) and judge_row(q, placed).correct  # the quote in its places
            row["words_places"] = len(placed.split())
            f.write(json.dumps(row) + "\n")
            f.flush()


def score(path: str) -> None:
    """Per count: quotes right and mean words; paired intervals against 2 sentences."""
    from h2mt.eval.metrics import bootstrap_ci

    rows = [r for r in (json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines() if x.strip())
            if r["quoted"]]
    print(f"{len(rows)} questions quoted")
    for k in COUNTS:
        words = sum(r[f"words{k}"] for r in rows) / max(1, len(rows))
        line = f"best {k}: {sum(r[f'right{k}'] for r in rows)} right, {words:.0f} words on average"
        if k != 2:
            gained = sum(r[f"right{k}"] and not r["right2"] for r in rows)
            lost = sum(r["right2"] and not r[f"right{k}"] for r in rows)
            d, lo, hi = bootstrap_ci([float(r[f"right{k}"]) - float(r["right2"]) for r in rows])
            line += f"; against 2: {gained} gained, {lost} lost, {d:+.3f} ({lo:+.3f} to {hi:+.3f})"
        print(line)
    if all("right_places" in r for r in rows):
        from h2mt.query.evidence import PLACED_QUOTE_SENTENCES

        k = PLACED_QUOTE_SENTENCES  # the shipped quote, plain against in its places
        gained = sum(r["right_places"] and not r[f"right{k}"] for r in rows)
        lost = sum(r[f"right{k}"] and not r["right_places"] for r in rows)
        d, lo, hi = bootstrap_ci([float(r["right_places"]) - float(r[f"right{k}"]) for r in rows])
        print(f"best {k} in their places: {sum(r['right_places'] for r in rows)} right, "
              f"{sum(r['words_places'] for r in rows) / max(1, len(rows)):.0f} words on average; against best {k} "
              f"plain: {gained} gained, {lost} lost, {d:+.3f} ({lo:+.3f} to {hi:+.3f})")
    for t in sorted({r["type"] for r in rows}):
        mine = [r for r in rows if r["type"] == t]
        print(f"  {t}: n={len(mine)} " + " ".join(f"best{k} {sum(r[f'right{k}'] for r in mine)}" for k in COUNTS))


if __name__ == "__main__":
    main(__doc__, probe, score)
