"""Evidence kept on the answer sets: h2mt's route against flat hybrid search, and the two fused (routing only).

For every question of the given answer-set files (over the whole manuals, as
``scripts/answer_eval.py --whole-docs``), at one budget: whether the evidence sentence is in the
leaves kept by

- ``route``: the engine's route;
- ``dense``, ``bm25``: the flat baselines of ``h2mt bench`` (every leaf scored, best first until
  the budget is full);
- ``rrf``: ``h2mt bench``'s hybrid baseline, the two flat ranks fused by reciprocal rank (k = 60);
- ``route+rrf``: the route's own order (its kept leaves by score; the rest unranked) fused with
  both flat ranks the same way: a probe of a routing that hybrid search backs up.

Prints each share and its paired difference with ``route`` (bootstrap 95% interval). No generator
is loaded.

    .venv/bin/python scripts/route_vs_hybrid.py --index-dir $IDX tests/data/answer_heldout1[0-7].jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

WHOLE = {"bash": "bash", "postgres": "postgres-docs", "python": "python-docs"}  # as answer_eval --whole-docs
RRF_K = 60  # as h2mt.eval.methods.flat.RRF_K
UNRANKED = 10**6  # the route's rank of a leaf it did not keep


def main() -> None:
    """Command line: the shares and paired differences."""
    import numpy as np

    from h2mt import H2MT
    from h2mt.eval.methods.base import GroupView
    from h2mt.eval.metrics import bootstrap_ci, evidence_kept
    from h2mt.index.lexical import query_terms

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", help="answer-set JSONL files")
    ap.add_argument("--budget", type=int, default=1024, help="context budget in generator tokens")
    ap.add_argument("--index-dir", default="/tmp/ans/idx", help="the indexes scripts/answer_eval.py built")
    args = ap.parse_args()

    views: dict[str, GroupView] = {}
    hits: dict[str, list[float]] = {k: [] for k in ("route", "dense", "bm25", "rrf", "route+rrf")}
    for path in args.files:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            q = json.loads(line)
            doc = WHOLE[q["doc"]]
            if doc not in views:
                views[doc] = GroupView(H2MT.load(Path(args.index_dir) / f"{doc}.h2mt"))
            v = views[doc]
            kept = v.eng.route(q["question"], budget=args.budget).kept
            n = len(v.leaves)
            cosine = v.embeddings @ v.eng.encoder.encode([q["question"]])[0]  # (L,)
            terms = query_terms(q["question"])
            lexical = np.asarray(v.bm25.get_scores(terms)) if terms else np.zeros(n)  # (L,)
            ranks = []
            for scores in (cosine, lexical):
                r = np.empty(n)
                r[np.argsort(-scores, kind="stable")] = np.arange(n)
                ranks.append(r)
            at = {leaf.id: i for i, leaf in enumerate(v.leaves)}
            routed = np.full(n, float(UNRANKED))
            for rank, s in enumerate(sorted(kept, key=lambda s: -s.score)):
                if s.node.id in at:
                    routed[at[s.node.id]] = rank
            flat = 1.0 / (RRF_K + ranks[0]) + 1.0 / (RRF_K + ranks[1])
            chosen = {"route": [s.node for s in kept], "dense": v.fill(cosine.tolist(), args.budget),
                      "bm25": v.fill(lexical.tolist(), args.budget), "rrf": v.fill(flat.tolist(), args.budget),
                      "route+rrf": v.fill((flat + 1.0 / (RRF_K + routed)).tolist(), args.budget)}
            for name, nodes in chosen.items():
                hits[name].append(float(evidence_kept(q["evidence"], "\n".join(x.text for x in nodes))))
    total = len(hits["route"])
    for name, h in hits.items():
        d, lo, hi = bootstrap_ci([b - a for a, b in zip(hits["route"], h, strict=True)])
        print(f"{name:10s} evidence kept {sum(h) / total:.3f}; - route {d:+.3f} ({lo:+.3f} to {hi:+.3f}) "  # noqa: T201
              f"over {total} questions at {args.budget} tokens")


if __name__ == "__main__":
    main()
