"""Answer correctness of the engine's own question path on the answer dev set (issue 25).

Every question of ``tests/data/answer_dev.jsonl`` (Bash manual, PostgreSQL 15 and Python 3.11 docs,
Debian ``bash-doc``, ``postgresql-doc-15``, ``python3.11-doc``) is asked through ``H2MT.answer``
(route -> prompt -> generate -> answer, the path users get from ``h2mt ask``) at one budget with
one answer task, and one row per question is appended to ``--out`` as it is answered (rerunning
resumes). ``--score`` then prints correctness per question type with 95% bootstrap intervals
(``h2mt.eval.answer_judge``), the share whose answer's context holds the evidence sentence (for a
quote: the quoted sentences alone, so not what routing kept: ``scripts/answer_routes.py``), TTFT
and total time.

    .venv/bin/python scripts/answer_eval.py --task auto --out /tmp/ans_auto.jsonl
    .venv/bin/python scripts/answer_eval.py --score /tmp/ans_auto.jsonl [/tmp/ans_short.jsonl ...]

``--data tests/data/answer_heldout.jsonl`` is the held-out set (the same format and document groups,
other entries; written after the rules of ``task="auto"`` were fixed). ``--data`` may also be the
manual QA file (``manuals/manual_qa_dev.jsonl``: the Bash manual and the whole PostgreSQL docs folder)
or ``hotpotqa-long-8k:PATH`` (the benchmark's 8k haystacks built from the HotpotQA file at PATH, one
index per question; scored by F1). ``--paired-out FILE`` also writes the ``--paired-task`` (default
short) answer of every question: the same answer when the ``auto`` run chose that task and did not
retry, choose a symbol or quote a sentence (same prompt, greedy decoding: the same text), a second
generation otherwise; ``--score A B`` then adds a paired bootstrap interval of B - A.

Generation uses only the public API that existed before issue 25 (``H2MT.build/load/answer``,
``PrefillConfig(task=...)``; ``--mode kv`` adds ``mode="kv"``), so the same script measures the code
before the change (run it with ``PYTHONPATH`` pointing at an export of the older ``core/`` as
``h2mt``); scoring always uses the current judge. Indexes are built once per document group under ``--index-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "tests" / "data" / "answer_dev.jsonl"
PG = "/usr/share/doc/postgresql-doc-15/html"
PY = "/usr/share/doc/python3.11/html"
# The pages each document group is built over: the pages the questions cite plus their neighbours
# (every runtime-config page of PostgreSQL competes with the others for the same kinds of questions).
GROUPS: dict[str, list[str]] = {
    "bash": ["/usr/share/doc/bash-doc/bashref.html"],
    "postgres": sorted(str(p) for p in Path(PG).glob("runtime-config*.html")) + [
        f"{PG}/{p}" for p in ("sql-vacuum.html", "sql-truncate.html", "sql-analyze.html", "functions-string.html",
                              "functions-matching.html", "sql-syntax-lexical.html", "sql-expressions.html")],
    "python": [f"{PY}/library/{p}.html" for p in ("functions", "stdtypes", "exceptions", "itertools", "functools",
                                                  "json", "pickle")]
    + [f"{PY}/reference/{p}.html" for p in ("expressions", "simple_stmts")],
    "postgres-docs": [PG],  # the whole folder (the manual QA file's questions; --whole-docs)
    "python-docs": [f"{PY}/{p}" for p in ("library", "reference", "howto")],  # --whole-docs
}
WHOLE = {"postgres": "postgres-docs", "python": "python-docs"}
"""--whole-docs: a question of these groups is asked of the whole manual instead (held-out sets 8 and 9 ask
about pages outside the default groups' page lists)."""


def _questions(data: str, docs: list[str] | None, limit: int | None,
               whole: bool = False) -> list[dict[str, Any]]:
    if data.startswith("hotpotqa-long-8k:"):
        rows = _hotpot_rows(data.split(":", 1)[1])
    else:
        rows = [json.loads(line) for line in Path(data).read_text(encoding="utf-8").splitlines() if line.strip()]
    for r in rows:
        if "manual" in r:  # the manual QA file
            r["doc"] = "bash" if r["manual"].startswith("bash") else "postgres-docs"
            r["type"] = f"manual-{r['doc'].split('-')[0]}"
            r["evidence"] = r["evidence"] if isinstance(r["evidence"], str) else r["evidence"][0]
    rows = [r for r in rows if docs is None or r["doc"] in docs]
    if whole:
        rows = [{**r, "doc": WHOLE.get(r["doc"], r["doc"])} for r in rows]
    return rows[:limit] if limit else rows


_HOTPOT: dict[str, Any] = {}  # qid -> the question's haystack (parsed documents)


def _hotpot_rows(path: str) -> list[dict[str, Any]]:
    from h2mt.backends import load_counter
    from h2mt.config import BackendConfig
    from h2mt.eval.datasets.registry import load_dataset

    ds = load_dataset("hotpotqa-long", load_counter(BackendConfig()), data=path, length="8k")
    rows = []
    for q in ds.questions:
        _HOTPOT[q.id] = ds.groups[q.group].sources
        rows.append({"id": q.id, "doc": f"hotpot:{q.id}", "type": str(q.meta.get("type", "hotpot")),
                     "question": q.question, "answers": q.answers, "evidence": ""})
    return rows


def _engine(doc: str, index_dir: Path, task: str, model: str | None, shared: Any = None, mode: str = "text",
            overrides: dict[str, Any] | None = None) -> Any:
    from h2mt import H2MT, H2MTConfig, PrefillConfig
    from h2mt.config import BackendConfig

    prefill = PrefillConfig(task=task) if mode == "text" else PrefillConfig(task=task, mode=mode)
    prefill = replace(prefill, **(overrides or {}))
    cfg = H2MTConfig(prefill=prefill, backend=BackendConfig(model=model))
    if shared is not None:  # the same index, generator and encoder under another task
        return H2MT(shared.index, cfg, encoder=shared.encoder, backend=shared.backend)
    if doc.startswith("hotpot:"):
        return H2MT.build(_HOTPOT[doc.split(":", 1)[1]], cfg, encoder=_ENC.get("enc"), backend=_ENC.get("backend"))
    path = index_dir / f"{doc}.h2mt"
    if path.exists():
        try:
            return H2MT.load(path, cfg)
        except Exception as e:  # noqa: BLE001 - an index of another format version: rebuild it
            print(f"rebuilding {path}: {e}", file=sys.stderr)
    t0 = time.perf_counter()
    eng = H2MT.build(GROUPS[doc], cfg)
    index_dir.mkdir(parents=True, exist_ok=True)
    eng.save(path)
    print(f"built {path} in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    return eng


_ENC: dict[str, Any] = {}  # the encoder and generator shared by the per-question hotpot indexes


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The PrefillConfig fields the command line sets: the named flags left at None keep the config's
    default, then each --prefill KEY=VALUE (the value read as JSON when it parses: 4, true, "x")."""
    from h2mt import PrefillConfig

    named = {"rerank_leaves": args.rerank_leaves, "verdict_first": args.verdict_first,
             "sentence_ranker": args.sentence_ranker, "cross_ranker": args.cross_ranker,
             "focus_sentences": args.focus_sentences}
    out: dict[str, Any] = {k: v for k, v in named.items() if v is not None}
    names = {f.name for f in fields(PrefillConfig)}
    for pair in args.prefill or []:
        key, sep, value = pair.partition("=")
        if not sep or key not in names:
            raise SystemExit(f"--prefill takes KEY=VALUE with KEY a PrefillConfig field ({', '.join(sorted(names))}), "
                             f"got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _row(q: dict[str, Any], task: str, budget: int, ans: Any, reused: bool = False) -> dict[str, Any]:
    from h2mt.eval.metrics import answer_contained, evidence_kept

    kept = evidence_kept(q["evidence"], ans.context) if q["evidence"] else answer_contained(q["answers"], ans.context)
    return {"id": q["id"], "doc": q["doc"], "type": q["type"], "task": task, "budget": budget,
            "question": q["question"], "prediction": ans.text, "evidence_kept": kept,
            "accounting": ans.accounting.as_dict(), "reused": reused, "context": ans.context}


def _done(path: Path | None) -> set[str]:
    if path is None or not path.exists():
        return set()
    return {json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def generate(args: argparse.Namespace) -> None:
    """Answer every pending question; one JSON row per answer, flushed as it is written."""
    out, paired = Path(args.out), Path(args.paired_out) if args.paired_out else None
    done, done_paired = _done(out), _done(paired)
    only = set(Path(args.ids).read_text(encoding="utf-8").split()) if args.ids else None
    overrides = _overrides(args)  # checked before any model loads
    todo = [q for q in _questions(args.data, args.docs, args.limit, args.whole_docs)
            if (args.types is None or q["type"] in args.types) and (only is None or q["id"] in only)
            and (q["id"] not in done or (paired is not None and q["id"] not in done_paired))]
    if args.interleave:  # one question of each group in turn: a partial run covers every group
        seen: dict[str, int] = {}
        rank = [seen.__setitem__(q["doc"], seen.get(q["doc"], -1) + 1) or seen[q["doc"]] for q in todo]
        todo = [q for _, q in sorted(zip(rank, todo, strict=True), key=lambda x: x[0])]
    engines: dict[str, Any] = {}
    with out.open("a", encoding="utf-8") as f, (paired or Path(os.devnull)).open("a", encoding="utf-8") as fp:
        for q in todo:
            if q["doc"] not in engines:
                if q["doc"].startswith("hotpot:"):
                    engines.clear()
                engines[q["doc"]] = eng = _engine(q["doc"], Path(args.index_dir), args.task, args.model,
                                                  mode=args.mode, overrides=overrides)
                if not _ENC:
                    eng.answer("Say hello.", budget=64)  # warm-up: load the models, untimed
                    _ENC.update(enc=eng.encoder, backend=eng.backend)
            eng = engines[q["doc"]]
            ans = eng.answer(q["question"], budget=args.budget)
            if q["id"] not in done:
                f.write(json.dumps(_row(q, args.task, args.budget, ans), ensure_ascii=False) + "\n")
                f.flush()
            acc = ans.accounting.as_dict()
            kept = _row(q, "", 0, ans)["evidence_kept"]
            line = f"{q['id']} {q['type']:8s} {acc.get('task', '')!s:6s} kept={kept!s:5s}"
            if paired is not None and q["id"] not in done_paired:
                # a retry, a constrained symbol or name, a quote, an entry read alone: the reason has a note
                same = acc.get("task") == args.paired_task and ";" not in str(acc.get("task_reason"))
                if not same:
                    other = _engine(q["doc"], Path(args.index_dir), args.paired_task, args.model, shared=eng,
                                    mode=args.mode, overrides=overrides)
                    ans2 = other.answer(q["question"], budget=args.budget)
                    line += f" | {args.paired_task}: {ans2.text[:60]!r}"
                fp.write(json.dumps(_row(q, args.paired_task, args.budget, ans if same else ans2, same),
                                    ensure_ascii=False) + "\n")
                fp.flush()
            print(f"{line} {acc['total_ms'] / 1000:5.1f}s {ans.text[:90]!r}", file=sys.stderr)


def _metrics(gold: dict[str, Any], row: dict[str, Any]) -> dict[str, float]:
    """correct (the judge) for every row; F1 as well for HotpotQA rows."""
    from h2mt.eval.answer_judge import judge_row
    from h2mt.eval.metrics import best_f1

    m = {"correct": float(judge_row(gold, row["prediction"]).correct)}
    if row["doc"].startswith("hotpot:"):
        m["f1"] = best_f1(row["prediction"], gold["answers"])
    return m


def _kind(row: dict[str, Any]) -> str:
    """How an answer row's answer was made (``Accounting.answer_kind``; rows written before it had one:
    read from ``task_reason``)."""
    kind = row["accounting"].get("answer_kind")
    if kind:
        return str(kind)
    why = str(row["accounting"].get("task_reason") or "")
    if "constrained" in why:
        return "constrained"
    quoted = ("quoted", "replaced by the", "signature writes", "default stated")  # the notes of answers not generated
    return "quoted" if any(k in why for k in quoted) else "generated"


def _losses(rows: list[dict[str, Any]], correct: dict[str, float], routes: dict[str, bool] | None) -> None:
    """Where the answers are right and lost: per way the answer was made (generated, quoted, constrained),
    whether the evidence sentence is in the answer's own context and, with ``--routes`` (rows of
    ``scripts/answer_routes.py``), whether routing kept it at all."""
    cells: dict[tuple[str, str, str], list[float]] = {}
    for r in rows:
        routed = "" if routes is None else ("routed" if routes.get(r["id"]) else "not routed")
        ctx = "in context" if r["evidence_kept"] else "not in context"
        cells.setdefault((_kind(r), routed, ctx), []).append(correct[r["id"]])
    print("| answer made | evidence kept by routing | evidence in the answer's context | n | right |")
    print("|---|---|---|---|---|")
    for (kind, routed, ctx), v in sorted(cells.items()):
        print(f"| {kind} | {routed or '(no --routes)'} | {ctx} | {len(v)} | {int(sum(v))} |")


def score(paths: list[str], data: str, routes_file: str | None = None) -> None:
    """Correctness per type (95% bootstrap intervals), evidence kept, TTFT and total time per file,
    and where the answers are lost (:func:`_losses`); with two or more files, the paired difference of
    each to the first."""
    from h2mt.eval.metrics import bootstrap_ci

    gold = {q["id"]: q for q in _questions(data, None, None)}
    routes = None
    if routes_file:
        routes = {r["id"]: bool(r["h2mt"]) for r in map(json.loads, Path(routes_file).read_text(
            encoding="utf-8").splitlines()) if r}
    scored: list[dict[str, dict[str, float]]] = []
    for p in paths:
        rows = [json.loads(line) for line in Path(p).read_text(encoding="utf-8").splitlines() if line.strip()]
        rows = [r for r in rows if r["id"] in gold]  # a run over more questions than --data: only these count
        ms = {r["id"]: _metrics(gold[r["id"]], r) for r in rows}
        scored.append(ms)
        print(f"\n{p}: {len(rows)} answers, task {rows[0]['task'] if rows else '?'}, "
              f"budget {rows[0]['budget'] if rows else '?'}")
        names = list(next(iter(ms.values())).keys()) if ms else []
        print("| type | n | " + " | ".join(f"{n} (95% CI)" for n in names) + " | evidence in the answer's context |")
        print("|---|---|" + "---|" * len(names) + "---|")
        for t in [*sorted({r["type"] for r in rows}), "all"]:
            sel = [r for r in rows if t in ("all", r["type"])]
            cells = []
            for n in names:
                m, lo, hi = bootstrap_ci([ms[r["id"]][n] for r in sel])
                cells.append(f"{m:.1%} ({lo:.1%}–{hi:.1%})" if n == "correct" else f"{m:.3f} ({lo:.3f}–{hi:.3f})")
            kept = sum(bool(r["evidence_kept"]) for r in sel) / len(sel)
            print(f"| {t} | {len(sel)} | " + " | ".join(cells) + f" | {kept:.0%} |")
        ttft = [r["accounting"]["ttft_ms"] for r in rows]
        total = [r["accounting"]["total_ms"] for r in rows if not r.get("reused")] or [0.0]
        print(f"TTFT median {statistics.median(ttft) / 1000:.2f}s mean {statistics.mean(ttft) / 1000:.2f}s; "
              f"total median {statistics.median(total) / 1000:.2f}s mean {statistics.mean(total) / 1000:.2f}s "
              f"({len(total)} answers generated in this run)")
        tasks: dict[str, int] = {}
        for r in rows:
            k = str(r["accounting"].get("task") or r["task"])
            k += " (retried)" if "retried" in str(r["accounting"].get("task_reason")) else ""
            tasks[k] = tasks.get(k, 0) + 1
        print("tasks used:", ", ".join(f"{k} {v}" for k, v in sorted(tasks.items())))
        _losses(rows, {i: m["correct"] for i, m in ms.items()}, routes)
    for p, ms in zip(paths[1:], scored[1:], strict=True):
        ids = sorted(set(ms) & set(scored[0]))
        if not ids:
            continue  # other questions: nothing to pair
        for n in next(iter(ms.values())).keys():
            m, lo, hi = bootstrap_ci([ms[i][n] - scored[0][i][n] for i in ids])
            print(f"paired {n}: {p} - {paths[0]} over {len(ids)} questions: {m:+.3f} (95% CI {lo:+.3f} to {hi:+.3f})")


def main() -> None:
    """Command line: generate rows (``--task``/``--out``) or score row files (``--score``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DEV), help="the answer dev set (JSONL), the manual QA file, "
                    "or hotpotqa-long-8k:PATH")
    ap.add_argument("--task", default="auto", help="PrefillConfig.task: auto | short | brief | explain")
    ap.add_argument("--budget", type=int, default=1024, help="context budget in generator tokens")
    ap.add_argument("--model", default=None, help="generator preset (default: the default preset)")
    ap.add_argument("--mode", default="text", choices=["text", "kv"],
                    help="PrefillConfig.mode (kv: leaf caches beside each index, filled on first use)")
    ap.add_argument("--rerank-leaves", type=int, default=None,
                    help="PrefillConfig.rerank_leaves (default: the config's): kept leaves the generator re-ranks")
    ap.add_argument("--verdict-first", action=argparse.BooleanOptionalAction, default=None,
                    help="PrefillConfig.verdict_first (default: the config's): a yes/no question's brief answer "
                    "starts with the generator's choice between Yes and No")
    ap.add_argument("--sentence-ranker", action=argparse.BooleanOptionalAction, default=None,
                    help="PrefillConfig.sentence_ranker (default: the config's): the learned re-ranking of the kept "
                    "sentences the quotes and a default value are taken from")
    ap.add_argument("--cross-ranker", action=argparse.BooleanOptionalAction, default=None,
                    help="PrefillConfig.cross_ranker (default: the config's): the cross-encoder re-ranking of the kept "
                    "sentences the quotes, a default value and the focus sentences are taken from")
    ap.add_argument("--focus-sentences", type=int, default=None,
                    help="PrefillConfig.focus_sentences (default: the config's): a generated short or brief answer "
                    "reads only this many kept sentences ranked best, each with its neighbours")
    ap.add_argument("--prefill", action="append", default=None, metavar="KEY=VALUE",
                    help="set a PrefillConfig field (repeatable), e.g. --prefill quote_retries=true")
    ap.add_argument("--ids", default=None, help="only the questions whose ids this file lists (whitespace-separated)")
    ap.add_argument("--docs", nargs="*", default=None, help="only these document groups (bash postgres python)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions")
    ap.add_argument("--whole-docs", action="store_true",
                    help="ask postgres and python questions of the whole manuals (postgres-docs, python-docs)")
    ap.add_argument("--index-dir", default="/tmp/ans/idx", help="where the group indexes are built and cached")
    ap.add_argument("--out", default=None, help="answer rows (JSONL; appended, resumable)")
    ap.add_argument("--paired-out", default=None, help="also write the --paired-task answers here (see above)")
    ap.add_argument("--paired-task", default="short", help="the task of --paired-out")
    ap.add_argument("--interleave", action="store_true", help="take the groups' questions in turn")
    ap.add_argument("--types", nargs="*", default=None, help="only these question types")
    ap.add_argument("--score", nargs="*", default=None, help="score these answer-row files instead")
    ap.add_argument("--routes", default=None, help="with --score: rows of scripts/answer_routes.py for the same "
                    "questions, to split the losses by whether routing kept the evidence")
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.score is not None:
        score(args.score, args.data, args.routes)
    elif args.out:
        generate(args)
    else:
        ap.error("give --out FILE (generate) or --score FILE... (score)")


if __name__ == "__main__":
    main()
