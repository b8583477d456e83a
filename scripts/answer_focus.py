"""Which kept leaf a brief answer reads first: the passage ranking by question words against the fused ranking.

A brief answer (``task="auto"``) reads the two kept leaves matching the question best
(``h2mt.query.answer.focus_sources``). For every question of the given answer-set files the engine
routes at one budget, and a row records the rank of the first kept leaf holding the evidence
sentence (``h2mt.eval.metrics.evidence_kept``) under ``rank_passages`` by question words alone and
fused with the best BM25 sentence and the index's embeddings (``similarity``, as the engine ranks
them). No generator is loaded, unless ``--generator``: then two more orders are recorded, the
generator's own (each kept leaf scored by the mean log-probability of the question after it:
``h2mt.query.likelihood.likelihoods``) and that order fused with the fused one by reciprocal rank
(``both``: ``rank_passages`` given every leaf's likelihood, as ``PrefillConfig.rerank_leaves``
does for the leaves it scores), with the milliseconds the scoring took. ``--score`` prints the share
of questions whose evidence is in the first and in the first two leaves of each order, with paired
bootstrap intervals of fused minus words and of each generator order minus fused.

    .venv/bin/python scripts/answer_focus.py --whole-docs --index-dir $IDX --out $F tests/data/answer_*.jsonl
    .venv/bin/python scripts/answer_focus.py --score $F
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

WHOLE = {"postgres": "postgres-docs", "python": "python-docs"}  # as scripts/answer_eval.py --whole-docs


def rank(files: list[str], budget: int, index_dir: Path, whole: bool, out: Path, generator: bool = False) -> None:
    """One row per question: the evidence leaf's rank under each passage order (``None``: not kept)."""
    from h2mt import H2MT
    from h2mt.engine import _aligned
    from h2mt.eval.metrics import evidence_kept
    from h2mt.query.answer import passage_text, rank_passages
    from h2mt.query.likelihood import likelihoods

    engines: dict[str, Any] = {}
    with out.open("w", encoding="utf-8") as f:
        for path in files:
            for line in Path(path).read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                q = json.loads(line)
                doc = WHOLE.get(q["doc"], q["doc"]) if whole else q["doc"]
                if doc not in engines:
                    engines[doc] = H2MT.load(index_dir / f"{doc}.h2mt")
                eng = engines[doc]
                kept = eng.route(q["question"], budget=budget).kept
                passages = [passage_text(s) for s in kept]
                holds = [evidence_kept(q["evidence"], p) for p in passages]
                similarity = _aligned(eng._similarity(q["question"], kept), kept)  # as the engine ranks them
                orders = {"words": rank_passages(q["question"], passages),
                          "fused": rank_passages(q["question"], passages, similarity)}
                row: dict[str, Any] = {"id": q["id"], "set": Path(path).stem, "type": q["type"], "kept": any(holds)}
                if generator and passages:
                    scores, row["lm_ms"] = likelihoods(eng.backend, q["question"], passages)
                    orders["lm"] = sorted(range(len(passages)), key=lambda i: -scores[i])
                    orders["both"] = rank_passages(q["question"], passages, similarity, dict(enumerate(scores)))
                for name, order in orders.items():
                    row[name] = next((k for k, i in enumerate(order) if holds[i]), None)
                f.write(json.dumps(row) + "\n")


def score(path: str) -> None:
    """Evidence in the first / first two leaves of each order, with paired intervals."""
    from h2mt.eval.metrics import bootstrap_ci

    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    print(f"{len(rows)} questions; evidence kept by the route: {sum(r['kept'] for r in rows) / len(rows):.3f}")
    for top in (1, 2):
        hit = {m: [float(r[m] is not None and r[m] < top) for r in rows] for m in ("words", "fused")}
        d, lo, hi = bootstrap_ci([b - a for a, b in zip(hit["words"], hit["fused"], strict=True)])
        print(f"evidence in the first {top}: words {sum(hit['words']) / len(rows):.3f}, "
              f"fused {sum(hit['fused']) / len(rows):.3f}; fused - words {d:+.3f} ({lo:+.3f} to {hi:+.3f})")
        for m in ("lm", "both"):
            if all(m in r or not r["kept"] for r in rows) and any(m in r for r in rows):
                mine = [float(r.get(m) is not None and r[m] < top) for r in rows]
                d, lo, hi = bootstrap_ci([b - a for a, b in zip(hit["fused"], mine, strict=True)])
                print(f"  {m} {sum(mine) / len(rows):.3f}; {m} - fused {d:+.3f} ({lo:+.3f} to {hi:+.3f})")
    for t in sorted({r["type"] for r in rows}):
        rs = [r for r in rows if r["type"] == t]
        cells = [f"{m} {sum(r[m] is not None and r[m] < 2 for r in rs) / len(rs):.2f}" for m in ("words", "fused")]
        print(f"  {t} (n={len(rs)}), first two: " + ", ".join(cells))


def main() -> None:
    """Command line: rank the files' questions (``--out``) or score a row file (``--score``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", help="answer-set JSONL files")
    ap.add_argument("--budget", type=int, default=1024, help="context budget in generator tokens")
    ap.add_argument("--index-dir", default="/tmp/ans/idx", help="the indexes scripts/answer_eval.py built")
    ap.add_argument("--whole-docs", action="store_true", help="postgres and python questions ask the whole manuals")
    ap.add_argument("--out", default=None, help="rows (JSONL)")
    ap.add_argument("--score", default=None, help="score this row file instead")
    ap.add_argument("--generator", action="store_true", help="also rank by the generator's query likelihood (slow)")
    args = ap.parse_args()
    if args.score:
        score(args.score)
    elif args.out and args.files:
        rank(args.files, args.budget, Path(args.index_dir), args.whole_docs, Path(args.out), args.generator)
    else:
        ap.error("give answer-set files and --out (rank), or --score FILE")


if __name__ == "__main__":
    main()
