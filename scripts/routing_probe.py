"""What the routing-only probes of the answer sets share (``sentence_rank_probe.py``,
``default_quote_probe.py``): the questions of answer-set files not yet in a row file, each routed
over its document group's whole-manual index (built by ``scripts/answer_eval.py --whole-docs``
under ``--index-dir``), and the command line that probes files or scores a row file. No generator
is loaded."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

INDEXES = {"bash": "bash", "postgres": "postgres-docs", "python": "python-docs"}  # doc -> index file stem


def pending(files: list[str], out: Path, keep: Callable[[dict[str, Any]], bool] = lambda q: True,
            ) -> list[dict[str, Any]]:
    """The questions of ``files`` that ``keep`` accepts and ``out`` has no row for (a run
    resumes), each with its file's stem as ``set``."""
    done = {json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()} if out.exists() else set()
    rows = []
    for path in files:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip() and (q := json.loads(line))["id"] not in done and keep(q):
                rows.append({**q, "set": Path(path).stem})
    return rows


def routed(rows: list[dict[str, Any]], index_dir: Path, budget: int) -> Iterator[tuple[dict[str, Any], Any, list[Any]]]:
    """(question, engine, kept leaves) for each of ``rows``, routed at ``budget``; one index loaded
    per document group."""
    from h2mt import H2MT
    from tqdm import tqdm

    engine, doc = None, None
    for q in tqdm(sorted(rows, key=lambda r: r["doc"]), desc="questions"):
        if q["doc"] != doc:
            doc, engine = q["doc"], H2MT.load(index_dir / f"{INDEXES[q['doc']]}.h2mt")
        assert engine is not None
        yield q, engine, engine.route(q["question"], budget=budget).kept


def arguments(doc: str) -> argparse.ArgumentParser:
    """The command line every probe shares: answer-set files, ``--budget``, ``--index-dir``,
    ``--out`` (the row file to write) and ``--score`` (a row file to score)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", help="answer-set JSONL files")
    ap.add_argument("--budget", type=int, default=1024, help="context budget in generator tokens")
    ap.add_argument("--index-dir", type=Path, default=Path("/tmp/ans35/idx"), help="whole-manual indexes")
    ap.add_argument("--out", type=Path, help="row file to write (appended: a run resumes)")
    ap.add_argument("--score", help="row file to score")
    return ap


def rows_by_id(files: list[str]) -> dict[str, dict[str, Any]]:
    """Id -> row of the JSON Lines ``files`` (answer sets or answer rows; a later file's row wins)."""
    return {r["id"]: r for f in files for line in Path(f).read_text(encoding="utf-8").splitlines()
            if line.strip() for r in [json.loads(line)]}


def paired(pairs: list[tuple[float, float]]) -> str:
    """``(before, after)`` right answers of the same questions: both totals, how many gained and
    lost, and the paired bootstrap interval of after - before."""
    from h2mt.eval.metrics import bootstrap_ci

    d, lo, hi = bootstrap_ci([after - before for before, after in pairs])
    return (f"right before {sum(b for b, _ in pairs):.0f}, after {sum(a for _, a in pairs):.0f}; "
            f"gained {sum(a > b for b, a in pairs)}, lost {sum(a < b for b, a in pairs)}; "
            f"paired {d:+.3f} ({lo:+.3f} to {hi:+.3f})")


def main(doc: str, probe: Callable[[list[str], int, Path, Path], None], score: Callable[[str], None]) -> None:
    """Command line: probe the files' questions (``--out``) or score a row file (``--score``)."""
    ap = arguments(doc)
    a = ap.parse_args()
    if a.score:
        score(a.score)
    elif a.out and a.files:
        probe(a.files, a.budget, a.index_dir, a.out)
    else:
        ap.error("give answer-set files and --out, or --score")
