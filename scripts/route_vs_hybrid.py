"""Evidence kept on the answer sets: h2mt's route against flat hybrid search, and the two fused (routing only).

For every question of the given answer-set files (over the whole manuals, as
``scripts/answer_eval.py --whole-docs``), at one budget: whether the evidence sentence is in the
leaves kept by

- ``route``: the engine's route;
- ``dense``, ``bm25``: the flat baselines of ``h2mt bench`` (every leaf scored, best first until
  the budget is full);
- ``rrf``: ``h2mt bench``'s hybrid baseline, the two flat ranks fused by reciprocal rank (k = 60);
- ``route+rrf``: the route's own order (its kept leaves by score; the rest unranked) fused with
  both flat ranks the same way: a probe of a routing that hybrid search backs up;
- ``route+rrf wW`` (``--weights``): the same with the route's reciprocal rank weighted W;
- ``rescueK`` (``--rescue``): the route's kept leaves ranked by its score, after the K best
  flat-hybrid leaves it did not keep, filling the budget (K = 0 refills the route's own leaves);
- ``beamB`` (``--beams``): the route with beam width B;
- ``KEY=V,...`` (``--configs``): the route with these :class:`h2mt.RouteConfig` fields changed
  (``flat_fusion=1``, ``flat_fusion=1,flat_keep=1``).

Prints each share and its paired difference with ``route`` (bootstrap 95% interval). No generator
is loaded.

    .venv/bin/python scripts/route_vs_hybrid.py --index-dir $IDX tests/data/answer_heldout1[0-7].jsonl
    .venv/bin/python scripts/route_vs_hybrid.py tests/data/answer_heldout1[0-7].jsonl --index-dir $IDX \
        --weights 2 3 4 6 --rescue 0 1 2 3 --beams 16 32
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

WHOLE = {"bash": "bash", "postgres": "postgres-docs", "python": "python-docs"}  # as answer_eval --whole-docs
UNRANKED = 10**6  # the route's rank of a leaf it did not keep


def main() -> None:
    """Command line: the shares and paired differences."""
    from h2mt import H2MT
    from h2mt.eval.methods.base import GroupView
    from h2mt.eval.methods.flat import RRF_K, flat_scores, rrf
    from h2mt.eval.metrics import bootstrap_ci, evidence_kept

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", help="answer-set JSONL files")
    ap.add_argument("--budget", type=int, default=1024, help="context budget in generator tokens")
    ap.add_argument("--index-dir", default="/tmp/ans/idx", help="the indexes scripts/answer_eval.py built")
    ap.add_argument("--weights", type=float, nargs="*", default=[], help="route+rrf with these route weights")
    ap.add_argument("--rescue", type=int, nargs="*", default=[], help="the route plus its K best missed flat leaves")
    ap.add_argument("--beams", type=int, nargs="*", default=[], help="the route with these beam widths")
    ap.add_argument("--configs", nargs="*", default=[], help="the route with these RouteConfig changes: KEY=V,...")
    args = ap.parse_args()

    views: dict[str, GroupView] = {}
    names = ["route", "dense", "bm25", "rrf", "route+rrf", *(f"route+rrf w{w:g}" for w in args.weights),
             *(f"rescue{k}" for k in args.rescue), *(f"beam{b}" for b in args.beams), *args.configs]
    hits: dict[str, list[float]] = {k: [] for k in names}
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
            cosine, lexical = flat_scores(v, q["question"])  # (L,), (L,)
            flat = rrf(cosine, lexical)  # (L,)
            routed = route_ranks(v, kept)  # (L,)
            chosen = {"route": [s.node for s in kept], "dense": v.fill(cosine.tolist(), args.budget),
                      "bm25": v.fill(lexical.tolist(), args.budget), "rrf": v.fill(flat.tolist(), args.budget),
                      "route+rrf": v.fill((flat + 1.0 / (RRF_K + routed)).tolist(), args.budget)}
            for w in args.weights:
                chosen[f"route+rrf w{w:g}"] = v.fill((flat + w / (RRF_K + routed)).tolist(), args.budget)
            for k in args.rescue:
                chosen[f"rescue{k}"] = v.fill(_rescued(flat, routed, k).tolist(), args.budget)
            for b in args.beams:
                chosen[f"beam{b}"] = [s.node for s in v.eng.route(q["question"], budget=args.budget,
                                                                    beam_width=b).kept]
            for spec in args.configs:
                cfg = replace(v.eng.route_config(budget=args.budget), **_changes(spec))
                chosen[spec] = [s.node for s in v.eng.route(q["question"], cfg).kept]
            for name, nodes in chosen.items():
                hits[name].append(float(evidence_kept(q["evidence"], "\n".join(x.text for x in nodes))))
    total = len(hits["route"])
    for name, h in hits.items():
        d, lo, hi = bootstrap_ci([b - a for a, b in zip(hits["route"], h, strict=True)])
        print(f"{name:10s} evidence kept {sum(h) / total:.3f}; - route {d:+.3f} ({lo:+.3f} to {hi:+.3f}) "  # noqa: T201
              f"over {total} questions at {args.budget} tokens")


def _changes(spec: str) -> dict[str, float]:
    """``"flat_keep=1,mmr=0.1"`` -> {"flat_keep": 1, "mmr": 0.1}."""
    out: dict[str, float] = {}
    for item in spec.split(","):
        key, value = item.split("=")
        out[key] = int(value) if value.lstrip("-").isdigit() else float(value)
    return out


def route_ranks(view, kept):
    """(L,) the route's rank of each leaf of ``view`` (its kept leaves by score, 0 = best), UNRANKED for
    the leaves it did not keep."""
    import numpy as np

    at = {leaf.id: i for i, leaf in enumerate(view.leaves)}
    routed = np.full(len(view.leaves), float(UNRANKED))
    for rank, s in enumerate(sorted(kept, key=lambda s: -s.score)):
        if s.node.id in at:
            routed[at[s.node.id]] = rank
    return routed


def _rescued(flat, routed, k: int):
    """Leaf scores: the ``k`` best flat leaves the route did not keep first, then the route's leaves
    by its rank, then the rest by flat rank (to fill what is left)."""
    import numpy as np

    scores = flat * 1e-3  # (L,): below every kept leaf
    kept = routed < UNRANKED
    scores[kept] = 1.0 + 1.0 / (1.0 + routed[kept])
    missed = [i for i in np.argsort(-flat, kind="stable") if not kept[i]][:k]
    for place, i in enumerate(missed):
        scores[i] = 3.0 + 1.0 / (1.0 + place)
    return scores


if __name__ == "__main__":
    main()
