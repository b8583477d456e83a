"""How right could a quoted answer be if the kept sentences were ranked perfectly? A ceiling, per type.

Input: the rows of ``scripts/cross_ranker_train.py collect`` (each question routed over its whole
manual at 1,024 tokens; its 32 best kept sentences in the fusion's order, with their places and
whether each is part of the evidence sentence) and the answer-set files the rows came from. Every
question, whatever its type, is answered by a quote of three sentences and judged
(``h2mt.eval.answer_judge``):

- ``fusion``: the three quotable sentences the fusion ranks best (an explanation quote);
- ``oracle``: the evidence sentence first, then the fusion's two best others; the fusion's quote
  when the evidence is not among the 32 (a perfect ranker over what routing keeps);
- ``oracle placed``: the same with each sentence shown in its place (``quote_text``: the heading and
  entry name before it);
- ``evidence alone`` (of the questions whose evidence is among the 32): the evidence sentence by
  itself, plain and placed.

The judge accepts a quote that contains an accepted answer, so a three-sentence quote of a name or
symbol question is judged more leniently than the short answer the engine gives it; the ceiling is
an upper bound for quotes, not a figure for the engine.

    .venv/bin/python scripts/quote_ceiling.py --rows /tmp/cr.jsonl tests/data/answer_heldout{98..115}.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any


def _sentence(c: dict[str, Any]) -> Any:
    from h2mt.query.evidence import Sentence

    return Sentence(0, 0, c["text"], 0.0, 0.0, c["context"])


def ceiling(rows: list[dict[str, Any]], questions: dict[str, dict[str, Any]]) -> dict[str, Counter[str]]:
    """Per type (and ``all``): questions, evidence kept and among the candidates, and each quote's right answers."""
    from h2mt.eval.answer_judge import judge_row
    from h2mt.query.evidence import quote_text

    out: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        q = questions[r["id"]]
        quotable = [c for c in r["cands"] if c["quotable"]]
        evidence = next((c for c in r["cands"] if c["evidence"]), None)
        fusion = [_sentence(c) for c in quotable[:3]]
        oracle = fusion if evidence is None else [_sentence(evidence)] + [
            _sentence(c) for c in quotable if not c["evidence"]][:2]
        got = {"kept": r["kept_evidence"], "among 32": evidence is not None,
               "fusion": judge_row(q, quote_text(fusion, places=False)).correct,
               "oracle": judge_row(q, quote_text(oracle, places=False)).correct,
               "oracle placed": judge_row(q, quote_text(oracle)).correct}
        if evidence is not None:
            got["evidence alone"] = judge_row(q, evidence["text"]).correct
            got["evidence alone placed"] = judge_row(q, quote_text([_sentence(evidence)])).correct
        for key in (q["type"], "all"):
            out[key]["n"] += 1
            out[key].update({k: int(v) for k, v in got.items()})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=Path, required=True, help="rows of cross_ranker_train.py collect")
    ap.add_argument("files", nargs="+", help="the answer-set files (JSONL) of the questions to count")
    a = ap.parse_args()
    questions = {q["id"]: q for f in a.files for q in map(json.loads, filter(None, Path(f).read_text().splitlines()))}
    rows = [r for r in map(json.loads, filter(None, a.rows.read_text().splitlines())) if r["id"] in questions]
    table = ceiling(rows, questions)
    print("| type | n | evidence kept | among the 32 ranked | fusion quote | oracle quote | oracle placed "
          "| evidence alone (plain / placed) |")
    print("|---|---|---|---|---|---|---|---|")
    for key in sorted(table, key=lambda k: (k == "all", k)):
        t, n = table[key], table[key]["n"]
        among = max(1, t["among 32"])
        print(f"| {key} | {n} | {t['kept'] / n:.1%} | {t['among 32'] / n:.1%} | {t['fusion'] / n:.1%} "
              f"| {t['oracle'] / n:.1%} | {t['oracle placed'] / n:.1%} "
              f"| {t['evidence alone'] / among:.1%} / {t['evidence alone placed'] / among:.1%} |")


if __name__ == "__main__":
    main()
