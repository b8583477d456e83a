"""Where does the evidence sentence rank among the kept sentences? BM25 alone against sentences ranked in their places.

Every question of the given answer-set files is routed over its document group's whole-manual index
(the indexes ``scripts/answer_eval.py --whole-docs`` builds under ``--index-dir``) at one budget.
For the questions whose evidence sentence the route keeps, every kept sentence
(``h2mt.query.evidence.split_sentences``) is ranked against the question twice, with the engine's
own functions: by BM25 alone (``rank_sentences(question, texts)``) and in their places (each read
with its heading and entry name, BM25 fused with the encoder's cosine: the keyword arguments
``_Signals.placed`` gives, as under ``task="auto"`` with ``placed_sentences``). A row per question
records the rank of the first sentence that is part of the evidence sentence (``None``: not among
the sentences) under each. No generator is loaded. ``--score`` prints the share of questions whose
evidence ranks first and among the first three, per type and per file group, with the paired
bootstrap interval of placed minus BM25.

    .venv/bin/python scripts/sentence_rank_probe.py --index-dir /tmp/ans35/idx --out /tmp/rank.jsonl \
        tests/data/answer_heldout{2..33}.jsonl
    .venv/bin/python scripts/sentence_rank_probe.py --score /tmp/rank.jsonl
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from routing_probe import main, pending, routed


def _is_evidence(sentence: str, evidence: str) -> bool:
    """Whether a kept sentence (three words or more) is the evidence sentence or a part of it."""
    from h2mt.eval.metrics import normalise

    s, e = normalise(sentence), normalise(evidence)
    return len(s.split()) >= 3 and (s in e or e in s)


def _rank(ranked: list[Any], evidence: str) -> int | None:
    return next((k for k, s in enumerate(ranked) if _is_evidence(s.text, evidence)), None)


def probe(files: list[str], budget: int, index_dir: Path, out: Path) -> None:
    """One row per question whose evidence the route keeps (resumable: questions in ``out`` are skipped)."""
    from h2mt.engine import _Signals
    from h2mt.eval.metrics import evidence_kept
    from h2mt.query.evidence import rank_sentences

    with out.open("a", encoding="utf-8") as f:
        for q, engine, kept in routed(pending(files, out), index_dir, budget):
            texts = [s.node.text for s in kept]
            row: dict[str, Any] = {"id": q["id"], "set": q["set"], "type": q["type"],
                                   "kept": evidence_kept(q["evidence"], "\n".join(texts))}
            if row["kept"]:
                placed = _Signals(engine, q["question"], kept, True, 0, True).placed(kept)
                row["bm25"] = _rank(rank_sentences(q["question"], texts), q["evidence"])
                row["placed"] = _rank(rank_sentences(q["question"], texts, **placed), q["evidence"])
            f.write(json.dumps(row) + "\n")
            f.flush()


def score(path: str) -> None:
    """Evidence first / among the first three, BM25 against placed, with paired intervals."""
    from h2mt.eval.metrics import bootstrap_ci

    rows = [r for r in map(json.loads, Path(path).read_text(encoding="utf-8").splitlines()) if r["kept"]]

    def top(r: dict[str, Any], how: str, k: int) -> float:
        return float(r[how] is not None and r[how] < k)

    def number(r: dict[str, Any]) -> int:
        m = re.search(r"(\d+)$", r["set"])
        return int(m.group(1)) if m else 1

    groups = {"all": rows, "sets 2-23": [r for r in rows if number(r) <= 23],
              "sets 24+": [r for r in rows if number(r) >= 24]}
    groups.update({t: [r for r in rows if r["type"] == t] for t in sorted({r["type"] for r in rows})})
    for name, rs in groups.items():
        if not rs:
            continue
        cells = []
        for k in (1, 3):
            b, p = (sum(top(r, h, k) for r in rs) / len(rs) for h in ("bm25", "placed"))
            d, lo, hi = bootstrap_ci([top(r, "placed", k) - top(r, "bm25", k) for r in rs])
            cells.append(f"top-{k}: bm25 {b:.3f}, placed {p:.3f}, {d:+.3f} ({lo:+.3f} to {hi:+.3f})")
        print(f"{name} (n={len(rs)}): " + "; ".join(cells))


if __name__ == "__main__":
    main(__doc__, probe, score)
