"""The route's order fused with flat hybrid search, on an ``h2mt bench`` dataset (selection only).

``route-rrfW``: the kept leaves of h2mt's route (beam 8) ranked by score, fused by reciprocal rank
(k = 60) with the flat dense and flat BM25 ranks of every leaf, the route's rank weighted W; the
best fused leaves fill the budget (the ``route+rrf`` row of ``scripts/route_vs_hybrid.py``). Rows
go to the bench's ``selection.jsonl`` in OUT/<dataset>; indexes are read from ``bench-results/cache``
copied into OUT when OUT has none. ``rescueK``: the route's kept leaves ranked by its score, after
the K best flat-hybrid leaves it did not keep (``scripts/route_vs_hybrid.py --rescue``). Prints
evidence (all) per method and budget. WEIGHTS (default 1,2) and RESCUE (default none): comma lists.

    .venv/bin/python scripts/route_hybrid_bench.py hotpotqa-long 8k OUT [WEIGHTS [RESCUE]]
"""
import json
import shutil
import sys
import time
from pathlib import Path

from h2mt.backends import load_counter
from h2mt.eval.methods.base import MethodBase, nodes_selection
from h2mt.eval.methods.flat import RRF_K, flat_scores, rrf
from h2mt.eval.runner import BenchOptions, prepare, run_selection

sys.path.insert(0, str(Path(__file__).resolve().parent))
from route_vs_hybrid import _rescued, route_ranks  # noqa: E402


class RouteHybrid(MethodBase):
    """The route (beam 8) and flat hybrid search over the same leaves; ``scores`` combines them."""

    budgeted, needs_encoder = True, True

    def prepare(self, view):
        view.bm25, view.embeddings  # noqa: B018 - builds and caches both

    def select(self, view, question, budget):
        t0 = time.perf_counter()
        kept = view.eng.route(question, budget=budget, beam_width=8).kept
        flat, routed = rrf(*flat_scores(view, question)), route_ranks(view, kept)  # (L,), (L,)
        return nodes_selection(view.fill(self.scores(flat, routed).tolist(), budget), 0, t0)


class RouteRRF(RouteHybrid):
    def __init__(self, w):
        self.w, self.name = w, f"route-rrf{w}"

    def scores(self, flat, routed):
        return flat + self.w / (RRF_K + routed)


class RouteRescue(RouteHybrid):
    def __init__(self, k):
        self.k, self.name = k, f"rescue{k}"

    def scores(self, flat, routed):
        return _rescued(flat, routed, self.k)


ds_name, length, out = sys.argv[1], sys.argv[2], sys.argv[3]
weights = [float(w) for w in (sys.argv[4] if len(sys.argv) > 4 else "1,2").split(",") if w]
rescue = [int(k) for k in (sys.argv[5] if len(sys.argv) > 5 else "").split(",") if k]
Path(out).mkdir(parents=True, exist_ok=True)
if not (Path(out) / 'cache').exists() and Path('bench-results/cache').exists():
    shutil.copytree('bench-results/cache', Path(out) / 'cache')
opts = BenchOptions(dataset=ds_name, length=length, data=None, budgets=(512, 1024), results=out, progress=False)
ds, folder = prepare(opts, load_counter(opts.backend_config()))
run_selection(opts, ds, folder, [*(RouteRRF(w) for w in weights), *(RouteRescue(k) for k in rescue)])
rows = [json.loads(l) for l in open(folder / 'selection.jsonl')]
for m in sorted({r['method'] for r in rows}):
    for b in (512, 1024):
        rs = [r for r in rows if r['method'] == m and r['budget'] == b]
        print(m, b, len(rs), round(sum(r['evidence_all'] for r in rs) / len(rs), 3))
