"""A hypothetical answer ranking the kept sentences (HyDE at sentence level), measured before it is built.

The candidate rows are those ``scripts/cross_ranker_train.py collect`` writes: per question, the kept
sentences the fusion (BM25 with heading and entry name, fused with the encoder's cosine) ranks best,
in that order, each with its context and whether it is part of the evidence sentence.

A question a user writes rarely uses the manual's words ("the thing inside the brackets" for "the
subscript"); an answer the generator writes from what it knows, even a wrong one, is worded like the
manual. ``generate`` asks the default generator, without any context, for a one-sentence answer to
each question (greedy, :data:`MAX_NEW` tokens; the manual named) and writes it with the time it took.

``score`` orders each question's candidates by the hypothesis (the encoder's cosine of the
hypothesis with each sentence in its place; BM25 of the hypothesis's words over the candidates) and
fuses those orders with the fusion's by reciprocal rank (k = 5); printed: where the evidence sentence
lands (first, among the first three), with the paired bootstrap interval against the fusion's order.

    (cd scripts && ../.venv/bin/python cross_ranker_train.py collect --rows /tmp/c.jsonl --index-dir $IDX \\
        /tmp/d8694.jsonl)
    .venv/bin/python scripts/hypothesis_rank_probe.py generate --rows /tmp/c.jsonl --out /tmp/hyp.jsonl
    .venv/bin/python scripts/hypothesis_rank_probe.py score --rows /tmp/c.jsonl /tmp/hyp.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from attention_rank_probe import evidence_table, places

MANUALS = {"b": "the Bash manual", "p": "the PostgreSQL documentation", "y": "the Python 3.11 documentation"}
ASK = "Answer in one sentence, worded as {manual} would state it.\nQuestion: {question}"
MAX_NEW = 48
RRF_K = 5


def manual(qid: str) -> str:
    """``"dmb01"`` -> the manual its third letter names."""
    return MANUALS.get(qid[2:3], "the documentation")


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def generate(rows_path: Path, out_path: Path, part: int, parts: int) -> None:
    """One hypothesis per question (module docstring); appended, so a run resumes."""
    import torch
    from h2mt.backends.resolve import resolve_model
    from h2mt.config import BackendConfig
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model(BackendConfig()).path
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    done = {r["id"] for r in _lines(out_path)} if out_path.exists() else set()
    todo = [r for r in _lines(rows_path)[part::parts] if r["id"] not in done]
    with out_path.open("a", encoding="utf-8") as out, torch.no_grad():
        for r in tqdm(todo, desc="questions"):
            t0 = time.perf_counter()
            messages = [{"role": "user", "content": ASK.format(manual=manual(r["id"]), question=r["question"])}]
            ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                          return_dict=True)
            o = model.generate(**ids, max_new_tokens=MAX_NEW, do_sample=False)
            text = tok.decode(o[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()
            out.write(json.dumps({"id": r["id"], "hypothesis": text, "seconds": time.perf_counter() - t0}) + "\n")
            out.flush()


def _rrf(*positions: Sequence[int], weights: Sequence[float] | None = None) -> list[float]:
    w = weights or [1.0] * len(positions)
    return [sum(wk / (RRF_K + p[i] + 1) for wk, p in zip(w, positions, strict=True))
            for i in range(len(positions[0]))]


def score(rows_path: Path, files: list[str]) -> None:
    """Where the evidence lands per order, against the fusion's (module docstring)."""
    import numpy as np
    from h2mt.config import EncoderConfig
    from h2mt.index.encoders.base import load_encoder
    from h2mt.query.evidence import _bm25, placed
    from h2mt.query.words import stem_list

    hyp = {r["id"]: r for f in files for r in _lines(Path(f))}
    rows = [r for r in _lines(rows_path) if r["id"] in hyp]
    enc = load_encoder(EncoderConfig())
    per: list[dict[str, list[int]]] = []
    for r in rows:
        cands = r["cands"][:24]
        texts = [placed(c["text"], c.get("context") or "") for c in cands]
        e = np.asarray(enc.encode(texts + [hyp[r["id"]]["hypothesis"], r["question"]]))  # (C + 2, D) unit
        cos_h = e[:-2] @ e[-2]  # (C,)
        cos_q = e[:-2] @ e[-1]  # (C,)
        bm_h = _bm25(stem_list(hyp[r["id"]]["hypothesis"]), [stem_list(t) for t in texts])
        fusion = list(range(len(cands)))
        per.append({"fusion": fusion, "hyp_cos": places(list(cos_h)), "hyp_bm25": places(bm_h),
                    "both_cos": places(list(cos_h + cos_q)),
                    "ev": [i for i, c in enumerate(cands) if c["evidence"]]})
    orders: dict[str, Callable[[dict[str, list[int]]], list[float]]] = {
        "fusion": lambda p: [-float(i) for i in p["fusion"]],
        "hypothesis cosine": lambda p: [-float(i) for i in p["hyp_cos"]],
        "hypothesis BM25": lambda p: [-float(i) for i in p["hyp_bm25"]],
        "fusion + hypothesis cosine": lambda p: _rrf(p["fusion"], p["hyp_cos"]),
        "fusion + hypothesis cosine + hypothesis BM25": lambda p: _rrf(p["fusion"], p["hyp_cos"], p["hyp_bm25"]),
        "fusion + question+hypothesis cosine": lambda p: _rrf(p["fusion"], p["both_cos"]),
        "fusion x2 + hypothesis cosine": lambda p: _rrf(p["fusion"], p["hyp_cos"], weights=[2.0, 1.0]),
    }

    secs = sorted(hyp[r["id"]]["seconds"] for r in rows)
    print(f"{len(rows)} questions; the evidence among the candidates: {sum(bool(p['ev']) for p in per)}; "
          f"hypothesis median {secs[len(secs) // 2]:.1f} s")
    evidence_table(per, orders)


def routes(files: list[str], hyps: list[str], budget: int, index_dir: Path, out: Path) -> None:
    """Routing with the question and with the question followed by its hypothesis: whether each
    method's kept text (h2mt's route, flat BM25, flat dense) holds the evidence sentence."""
    from answer_eval import WHOLE
    from h2mt import H2MT, RouteConfig
    from h2mt.eval.methods.base import GroupView
    from h2mt.eval.methods.registry import make_methods
    from h2mt.eval.metrics import evidence_kept

    hyp = {r["id"]: r["hypothesis"] for f in hyps for r in _lines(Path(f))}
    methods = make_methods(["h2mt", "bm25", "dense"], beams=[RouteConfig().beam_width])
    views: dict[str, Any] = {}
    with out.open("w", encoding="utf-8") as f:
        for q in (q for path in files for q in _lines(Path(path)) if q["id"] in hyp):
            doc = WHOLE.get(q["doc"], q["doc"])
            if doc not in views:
                views[doc] = view = GroupView(H2MT.load(index_dir / f"{doc}.h2mt"))
                for m in methods:
                    m.prepare(view)
            row: dict[str, Any] = {"id": q["id"], "type": q["type"]}
            for m in methods:
                name = m.name.split("-b")[0]
                for key, text in (("q", q["question"]), ("qh", f"{q['question']} {hyp[q['id']]}")):
                    row[f"{name}_{key}"] = bool(evidence_kept(q["evidence"], m.select(views[doc], text, budget).text))
            f.write(json.dumps(row) + "\n")
            f.flush()


def routes_score(path: Path) -> None:
    """Evidence kept per method, question alone against question + hypothesis, paired."""
    from h2mt.eval.metrics import bootstrap_ci

    rows = _lines(path)
    print(f"{len(rows)} questions")
    for name in ("h2mt", "bm25", "dense"):
        a = [float(r[f"{name}_q"]) for r in rows]
        b = [float(r[f"{name}_qh"]) for r in rows]
        d, lo, hi = bootstrap_ci([y - x for x, y in zip(a, b, strict=True)])
        print(f"| {name} | {sum(a):.0f} | {sum(b):.0f} | {d:+.3f} ({lo:+.3f} to {hi:+.3f}) |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="a closed-book one-sentence answer per question")
    g.add_argument("--rows", type=Path, required=True, help="cross_ranker_train.py collect's rows")
    g.add_argument("--out", type=Path, required=True)
    g.add_argument("--part", type=int, default=0, help="this process takes every PARTS-th row from PART")
    g.add_argument("--parts", type=int, default=1)
    s = sub.add_parser("score", help="where the evidence lands under each order")
    s.add_argument("--rows", type=Path, required=True)
    s.add_argument("files", nargs="+")
    r = sub.add_parser("routes", help="evidence kept by routing with the question, and with its hypothesis")
    r.add_argument("--hypotheses", nargs="+", required=True)
    r.add_argument("--index-dir", type=Path, required=True, help="answer_eval.py --whole-docs's indexes")
    r.add_argument("--budget", type=int, default=1024)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("files", nargs="+", help="answer sets")
    rs = sub.add_parser("routes-score", help="paired evidence kept, question against question + hypothesis")
    rs.add_argument("file", type=Path)
    a = ap.parse_args()
    if a.cmd == "generate":
        generate(a.rows, a.out, a.part, a.parts)
    elif a.cmd == "score":
        score(a.rows, a.files)
    elif a.cmd == "routes":
        routes(a.files, a.hypotheses, a.budget, a.index_dir, a.out)
    else:
        routes_score(a.file)


if __name__ == "__main__":
    main()
