"""How often is the default quote right? The named entry's sentences first against all the kept sentences.

Every question of the given answer-set files that the engine's default rule reads (``task="auto"``
chooses a short answer; ``h2mt.query.entries.asks_what_is_assumed``; no symbol or name asked) is
routed over its document group's whole-manual index (the indexes ``scripts/answer_eval.py
--whole-docs`` builds under ``--index-dir``) at one budget, and the kept sentences that state a
default are quoted twice, with the engine's own functions: as the engine does (the sentences of
the entry the question names first, ``H2MT._default_quote``) and over all the kept sentences
(``default_quote`` alone). Each quote is judged (``h2mt.eval.answer_judge``). No generator is
loaded, and the rules the engine tries before the quote (a signature's default, a default the
named entry states) are not applied. ``--score`` prints the quotes made and right under each,
and the paired bootstrap interval of entry-first minus all-kept.

    .venv/bin/python scripts/default_quote_probe.py --index-dir /tmp/ans35/idx --out /tmp/dq.jsonl \\
        tests/data/answer_heldout{2..43}.jsonl
    .venv/bin/python scripts/default_quote_probe.py --score /tmp/dq.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

INDEXES = {"bash": "bash", "postgres": "postgres-docs", "python": "python-docs"}  # doc -> index file stem


def reads(question: str) -> bool:
    """Whether the engine's default rule reads ``question`` (before the kept text is looked at)."""
    from h2mt.query.entries import asks_for_name, asks_what_is_assumed
    from h2mt.query.symbols import asks_for_symbol
    from h2mt.query.task import choose_task

    return (choose_task(question).task.value == "short" and asks_what_is_assumed(question)
            and not asks_for_symbol(question) and not asks_for_name(question))


def probe(files: list[str], budget: int, index_dir: Path, out: Path) -> None:
    """One row per question the rule reads (resumable: questions in ``out`` are skipped)."""
    from h2mt import H2MT
    from h2mt.engine import _Signals
    from h2mt.eval.answer_judge import judge_row
    from h2mt.query.entries import default_quote
    from tqdm import tqdm

    done = {json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()} if out.exists() else set()
    rows = []
    for path in files:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip() and (q := json.loads(line))["id"] not in done and reads(q["question"]):
                rows.append({**q, "set": Path(path).stem})
    engine, doc = None, None
    with out.open("a", encoding="utf-8") as f:
        for q in tqdm(sorted(rows, key=lambda r: r["doc"]), desc="questions"):
            if q["doc"] != doc:
                doc, engine = q["doc"], H2MT.load(index_dir / f"{INDEXES[q['doc']]}.h2mt")
            assert engine is not None
            kept = engine.route(q["question"], budget=budget).kept
            signals = _Signals(engine, q["question"], kept, True, 0, True)
            row: dict[str, Any] = {"id": q["id"], "set": q["set"], "type": q["type"]}
            for name, found in (("entry_first", engine._default_quote(q["question"], kept, signals)),
                                ("all_kept", default_quote(q["question"], kept, **signals.placed(kept, always=True)))):
                text = " ".join(s.text for s in found[0]) if found else None
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


def main() -> None:
    """Command line: probe the files' questions (``--out``) or score a row file (``--score``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", help="answer-set JSONL files")
    ap.add_argument("--budget", type=int, default=1024, help="context budget in generator tokens")
    ap.add_argument("--index-dir", type=Path, default=Path("/tmp/ans35/idx"), help="whole-manual indexes")
    ap.add_argument("--out", type=Path, help="row file to write (appended: a run resumes)")
    ap.add_argument("--score", help="row file to score")
    a = ap.parse_args()
    if a.score:
        score(a.score)
    elif a.out and a.files:
        probe(a.files, a.budget, a.index_dir, a.out)
    else:
        ap.error("give answer-set files and --out, or --score")


if __name__ == "__main__":
    main()
