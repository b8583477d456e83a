"""A query-side adapter of the encoder, measured by the flat dense rank of each question's evidence leaf.

The index is left as it is; only the question's embedding q moves: q' = normalise(q + q W), with W full
(D x D) or of rank r (W = A B). W is trained by the softmax cross-entropy of the leaves holding the
evidence sentence among all leaves of the question's whole-manual index (the indexes
``scripts/answer_eval.py --whole-docs`` builds), on the questions of ``--train-sets`` of the
``--train-docs`` manuals. Printed: recall@5, recall@20 and MRR of the best evidence leaf's rank among
all leaves, before and after, on ``--eval-sets`` and on every set of each manual left out of training
(does the adapter learn questions, or the manuals it saw?).

``collect`` writes, per manual, the encoder's question embeddings, the leaf embeddings and each
question's evidence leaves (a leaf holding the evidence sentence, normalised; else the two neighbours
holding it across their boundary) to ``--dir``; ``train`` reads them.

    .venv/bin/python scripts/query_adapter_probe.py collect --dir /tmp/qa tests/data/answer_heldout*.jsonl
    .venv/bin/python scripts/query_adapter_probe.py train --dir /tmp/qa --rank 0 --train-docs bash,postgres,python
    .venv/bin/python scripts/query_adapter_probe.py train --dir /tmp/qa --rank 8 --train-docs bash,postgres
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from cross_ranker_train import chosen_sets
from routing_probe import INDEXES


def set_number(path: str) -> int:
    """``answer_heldout42.jsonl`` -> 42; ``answer_heldout.jsonl`` (the first set) -> 1."""
    m = re.search(r"(\d+)\.jsonl$", path)
    return int(m.group(1)) if m else 1


def collect(files: list[str], index_dir: Path, out: Path) -> None:
    """Question embeddings, leaf embeddings and evidence leaves per manual (module docstring)."""
    import numpy as np
    from h2mt import H2MT
    from h2mt.eval.metrics import normalise

    rows = [dict(json.loads(line), setno=set_number(f)) for f in files
            for line in Path(f).read_text(encoding="utf-8").splitlines() if line.strip()]
    out.mkdir(parents=True, exist_ok=True)
    for doc, stem in INDEXES.items():
        engine = H2MT.load(index_dir / f"{stem}.h2mt")
        leaves = [int(i) for i in engine.index.leaf_ids]
        texts = [normalise(engine.index.nodes[i].text) for i in leaves]
        asked = [q for q in rows if q["doc"] == doc]
        emb = engine.encoder.encode([q["question"] for q in asked])  # (Q, D) unit
        found = []
        for q in asked:
            ev = normalise(q["evidence"])
            hit = [j for j, t in enumerate(texts) if ev and ev in t]
            found.append(hit or [j for j in range(len(texts) - 1) if ev and ev in f"{texts[j]} {texts[j + 1]}"])
        np.savez(out / f"{doc}.npz", q=np.asarray(emb, dtype=np.float32),
                 leaves=np.asarray(engine.index.embeddings[leaves], dtype=np.float32))  # (L, D)
        meta = [{"id": q["id"], "set": q["setno"], "type": q.get("type"), "pos": p}
                for q, p in zip(asked, found, strict=True)]
        (out / f"{doc}.json").write_text(json.dumps(meta), encoding="utf-8")
        print(f"{doc}: {len(asked)} questions, {sum(bool(p) for p in found)} with an evidence leaf, "
              f"{len(leaves)} leaves")


def train(folder: Path, rank: int, train_docs: list[str], train_sets: set[int], eval_sets: set[int],
          epochs: int, tau: float, weight_decay: float) -> None:
    """Train the adapter and print the ranks before and after (module docstring)."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    data: dict[str, tuple[Any, Any, list[dict[str, Any]]]] = {}
    for doc in INDEXES:
        z = np.load(folder / f"{doc}.npz")
        data[doc] = (torch.tensor(z["q"]), torch.tensor(z["leaves"]), json.loads((folder / f"{doc}.json").read_text()))
    dim = next(iter(data.values()))[0].shape[1]
    if rank > 0:
        a = (torch.randn(dim, rank) * 0.01).requires_grad_()
        b = torch.zeros(rank, dim, requires_grad=True)
        params = [a, b]
    else:
        w = torch.zeros(dim, dim, requires_grad=True)
        params = [w]

    def adapt(q: Any) -> Any:
        x = q + ((q @ params[0]) @ params[1] if rank > 0 else q @ params[0])  # (B, D)
        return x / x.norm(dim=-1, keepdim=True)

    def ranks(doc: str, sets: set[int], adapted: bool) -> list[int]:
        q, leaves, meta = data[doc]
        idx = [k for k, m in enumerate(meta) if m["set"] in sets and m["pos"]]
        with torch.no_grad():
            s = (adapt(q[idx]) if adapted else q[idx]) @ leaves.T  # (B, L)
        return [int((s[r] > s[r, meta[k]["pos"]].max()).sum()) for r, k in enumerate(idx)]

    def report(label: str, docs: list[str], sets: set[int]) -> None:
        for adapted in (False, True):
            rr = np.array(sum((ranks(d, sets, adapted) for d in docs), []))
            print(f"{label} {'adapted' if adapted else 'plain  '}: n {len(rr)}, recall@5 {np.mean(rr < 5):.3f}, "
                  f"recall@20 {np.mean(rr < 20):.3f}, MRR {np.mean(1 / (rr + 1)):.3f}")

    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=weight_decay)
    items = [(d, k) for d in train_docs for k, m in enumerate(data[d][2]) if m["set"] in train_sets and m["pos"]]
    for _ in range(epochs):
        order = torch.randperm(len(items)).tolist()
        for start in range(0, len(items), 64):
            batch = [items[i] for i in order[start:start + 64]]
            loss = torch.zeros(())
            for d in train_docs:
                ks = [k for dd, k in batch if dd == d]
                if not ks:
                    continue
                q, leaves, meta = data[d]
                s = adapt(q[ks]) @ leaves.T / tau  # (B, L)
                evidence = torch.full_like(s, float("-inf"))
                for r, k in enumerate(ks):
                    evidence[r, meta[k]["pos"]] = 0.0
                loss = loss + (torch.logsumexp(s, -1) - torch.logsumexp(s + evidence, -1)).sum()
            opt.zero_grad()
            (loss / len(batch)).backward()
            opt.step()
    report(f"sets {min(eval_sets)}-{max(eval_sets)}", list(INDEXES), eval_sets)
    for doc in INDEXES:
        if doc not in train_docs:
            report(f"{doc} (not trained on), all sets", [doc], set(range(1, 10_000)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["collect", "train"])
    ap.add_argument("files", nargs="*", help="collect: answer-set JSONL files")
    ap.add_argument("--dir", type=Path, required=True, help="where collect writes and train reads")
    ap.add_argument("--index-dir", type=Path, default=Path("/tmp/s48/idx"), help="whole-manual indexes")
    ap.add_argument("--rank", type=int, default=8, help="train: rank of W (0 = full)")
    ap.add_argument("--train-docs", default="bash,postgres,python", help="train: manuals trained on")
    ap.add_argument("--train-sets", default="1-85", help="train: set numbers trained on")
    ap.add_argument("--eval-sets", default="86-94", help="train: set numbers evaluated")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--tau", type=float, default=0.05, help="softmax temperature")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    a = ap.parse_intermixed_args()
    if a.step == "collect":
        collect(a.files, a.index_dir, a.dir)
        return
    train(a.dir, a.rank, a.train_docs.split(","), chosen_sets(a.train_sets), chosen_sets(a.eval_sets),
          a.epochs, a.tau, a.weight_decay)


if __name__ == "__main__":
    main()
