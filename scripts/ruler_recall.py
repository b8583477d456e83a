"""Answer recall of a RULER-style bench run: the share of a question's gold answers that its answer states.

``h2mt bench`` scores an answer ``correct`` when it contains *some* accepted answer; a RULER question with
several answers (the four values of niah-multivalue, the variables of vt, the ten words of cwe) asks for all of
them, so this script reports RULER's own "all" metric beside it: for each answer, the share of the gold answers
found in it (normalised, whole words), then per task and method the mean with a 95% bootstrap interval and the
share of answers holding every gold answer; with two methods, the paired difference (the first named minus the second).

    python scripts/ruler_recall.py RESULTS/ruler-4k [--methods h2mt-b8,full] [--budget 1024]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from h2mt.eval.metrics import bootstrap_ci, normalise


def recall(prediction: str, answers: list[str]) -> float:
    """Share of ``answers`` that occur (normalised, whole words) in ``prediction``."""
    text = f" {normalise(prediction)} "
    gold = [a for a in (normalise(a) for a in answers) if a]
    return sum(f" {a} " in text for a in gold) / len(gold) if gold else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="a bench results folder of one dataset (holds dataset.json, generation.jsonl)")
    ap.add_argument("--methods", default="", help="comma-separated methods (default: every method in the run)")
    ap.add_argument("--budget", type=int, default=None, help="only this budget (budget-free methods always)")
    args = ap.parse_args()
    folder = Path(args.folder)
    questions = json.loads((folder / "dataset.json").read_text())["questions"]
    answers = {q["id"]: q["answers"] for q in questions}
    part = {q["id"]: q.get("meta", {}).get("part", "all") for q in questions}
    rows = [json.loads(line) for line in (folder / "generation.jsonl").read_text().splitlines() if line.strip()]
    keep = set(args.methods.split(",")) if args.methods else {r["method"] for r in rows}
    by: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for r in rows:
        if r["method"] in keep and not r.get("error") and (args.budget is None or r["budget"] in (0, args.budget)):
            by[(r["method"], part[r["qid"]])][r["qid"]] = recall(r["prediction"], answers[r["qid"]])
            by[(r["method"], "all")][r["qid"]] = by[(r["method"], part[r["qid"]])][r["qid"]]
    print("| method | task | n | recall [95% CI] | every answer |")
    print("|---|---|---|---|---|")
    for (method, task), vals in sorted(by.items()):
        v = list(vals.values())
        _, lo, hi = bootstrap_ci(v)
        print(f"| {method} | {task} | {len(v)} | {sum(v) / len(v):.2f} [{lo:.2f}, {hi:.2f}] "
              f"| {sum(x == 1.0 for x in v) / len(v):.2f} |")
    ran = {m for m, _ in by}
    methods = [m for m in args.methods.split(",") if m in ran] if args.methods else sorted(ran)
    if len(methods) == 2:
        a, b = methods
        for task in sorted({t for _, t in by}):
            common = sorted(set(by[(a, task)]) & set(by[(b, task)]))
            if common:
                d = [by[(a, task)][q] - by[(b, task)][q] for q in common]
                _, lo, hi = bootstrap_ci(d)
                print(f"paired {a} - {b}, {task}: {sum(d) / len(d):+.3f} [{lo:+.3f}, {hi:+.3f}] (n={len(d)})")


if __name__ == "__main__":
    main()
