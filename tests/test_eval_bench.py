"""h2mt.eval runner, report and ``h2mt bench``: resumable rows, report files, a tiny end-to-end run."""

from __future__ import annotations

import json

import pytest
import typer
from h2mt.eval.publish import update_doc_block, write_report
from h2mt.eval.report import markdown, summarize
from h2mt.eval.results import GENERATION, MEMORY, SELECTION, RowLog, read_rows, row_key
from h2mt.eval.runner import BenchOptions, run_bench
from typer.testing import CliRunner

from tests._tiny import make_tiny_model_dir
from tests.test_eval import write_hotpot


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny"))


def test_rowlog_resumes_and_ignores_a_torn_line(tmp_path):
    log = RowLog(tmp_path / "r.jsonl")
    log.append({"key": row_key("d", "bm25", 512, "q1"), "x": 1})
    with open(tmp_path / "r.jsonl", "a") as f:
        f.write('{"key": "torn')  # an interrupted write
    again = RowLog(tmp_path / "r.jsonl")
    assert again.done == {"d|bm25|512|q1"}
    assert again.pending(["d|bm25|512|q1", "d|bm25|512|q2"]) == ["d|bm25|512|q2"]
    assert len(read_rows(tmp_path / "r.jsonl")) == 1


GREEDY = {"greedy": True, "max_new_tokens": 32, "temperature": 0.0, "top_p": 1.0, "repetition_penalty": 1.0}


def _fake_rows(folder, decoding=None):
    decoding = decoding or {}
    sel, gen = RowLog(folder / SELECTION), RowLog(folder / GENERATION)
    for i in range(6):
        for m, b in (("full", 0), ("bm25", 512), ("h2mt-b4", 512)):
            sel.append({"key": row_key("x", m, b, f"q{i}"), "method": m, "budget": b, "qid": f"q{i}",
                        "evidence_all": i % 2 == 0, "evidence_any": True, "answer_contained": i < 4,
                        "tokens_kept": 500 if b else 7000, "tokens_total": 7000, "nodes_scored": 60,
                        "nodes_total": 120, "route_ms": 1.5})
            gen.append({"key": row_key("x", m, b, f"q{i}"), "method": m, "budget": b, "qid": f"q{i}",
                        "f1": 0.5, "ttft_ms": 900.0 if b else 9000.0, "prefill_ms": 800.0, "prompt_tokens": 600,
                        "route_ms": 1.0, "tokens_kept": 500, "total_ms": 1000.0,
                        "decoding": decoding.get(m, GREEDY)})
    sel.append({"key": row_key("x", "llmlingua", 512, "q0"), "method": "llmlingua", "budget": 512, "qid": "q0",
                "error": "llmlingua is not installed"})
    RowLog(folder / MEMORY).append({"method": "bm25", "peak_rss_bytes": 300 * 2**20, "peak_cuda_bytes": None})


def test_report_writes_json_markdown_and_plot(tmp_path):
    folder = tmp_path / "x"
    _fake_rows(folder)
    paths = write_report(folder)
    assert {"json", "md", "png"} <= set(paths) and all(p.exists() and p.stat().st_size > 0 for p in paths.values())
    s = json.loads(paths["json"].read_text())
    cells = {(c["method"], c["budget"]): c for c in s["selection"]}
    assert [c["method"] for c in s["selection"]] == ["full", "bm25", "llmlingua", "h2mt-b4"]
    assert cells[("bm25", 512)]["evidence_all"][0] == pytest.approx(0.5)
    assert len(cells[("bm25", 512)]["evidence_all"]) == 3  # mean, low, high
    assert cells[("llmlingua", 512)]["n"] == 0 and cells[("llmlingua", 512)]["errors"]
    gen = {c["method"]: c for c in s["generation"]}
    assert gen["bm25"]["peak_mem_bytes"] == 300 * 2**20 and gen["full"]["ttft_ms"][0] == 9000.0
    md = paths["md"].read_text()
    assert "| bm25 | 512 | 6 | 0.50 [" in md and "llmlingua is not installed" in md and "| full | all |" in md
    every = [{"setting": GREEDY, "methods": ["full", "bm25", "h2mt-b4"]}]
    assert s["decoding"] == {"planned": False, "settings": every}
    assert "Decoding, every method: greedy, repetition penalty 1.0, at most 32 new tokens." in md


def test_report_names_the_decoding_and_any_difference_between_methods(tmp_path):
    from h2mt.eval.datasets.types import BenchDataset

    mixed = tmp_path / "mixed"
    _fake_rows(mixed, {"full": {**GREEDY, "repetition_penalty": 1.1}})
    md = markdown(summarize(mixed))
    assert ("Decoding differs between methods: full: greedy, repetition penalty 1.1, at most 32 new tokens; "
            "bm25, h2mt-b4: greedy, repetition penalty 1.0, at most 32 new tokens.") in md
    old = tmp_path / "old"  # rows written before the decoding was recorded
    _fake_rows(old, {m: None for m in ("full", "bm25", "h2mt-b4")})
    assert "Decoding, every method: not recorded in these rows." in markdown(summarize(old))
    planned = tmp_path / "selection-only"  # no answers yet: the setting --generate will use, for the task
    RowLog(planned / SELECTION).append({"key": "k", "method": "bm25", "budget": 512, "qid": "q0",
                                        "evidence_all": True})
    BenchDataset("selection-only", [], {}, "hotpotqa", 24).save(planned / "dataset.json")
    said = ("Decoding (with `--generate`), every method: greedy, repetition penalty 1.0, "
            "at most 24 new tokens.")
    assert said in markdown(summarize(planned))


def test_doc_block_replaces_only_its_own_part(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Other team\n\nkeep me\n\n## Later\n\nand me\n")
    update_doc_block(doc, "ds1", "first", "intro text")
    update_doc_block(doc, "ds2", "second", "intro text")
    update_doc_block(doc, "ds1", "first again", "intro text")
    text = doc.read_text()
    assert "keep me" in text and "and me" in text and text.count("## Benchmark harness (h2mt bench)") == 1
    assert "first again" in text and "\nfirst\n" not in text and "second" in text and text.count("intro text") == 1


def _opts(tmp_path, tiny, data, **kw):
    base = dict(dataset="hotpotqa-long", data=str(data), length="700", budgets=(64, 128),
                methods=("full", "truncation", "bm25", "dense", "h2mt"), beams=(4,), limit=3, model=str(tiny),
                device="cpu", encoder="hashing", results=str(tmp_path / "res"), progress=False)
    return BenchOptions(**{**base, **kw})


def test_selection_pass_resumes_without_redoing_rows(tmp_path, tiny):
    data = write_hotpot(tmp_path / "h.jsonl", n_questions=6, words=(6, 14))
    folder = run_bench(_opts(tmp_path, tiny, data, limit=2))
    first = read_rows(folder / SELECTION)
    assert len(first) == 2 * (1 + 4 * 2)  # full once + 4 budgeted methods x 2 budgets, per question
    run_bench(_opts(tmp_path, tiny, data, limit=2))
    assert read_rows(folder / SELECTION) == first  # everything was done: nothing appended
    run_bench(_opts(tmp_path, tiny, data, limit=3))
    rows = read_rows(folder / SELECTION)
    assert len(rows) == 3 * 9 and rows[: len(first)] == first
    assert all(r["tokens_kept"] <= r["budget"] for r in rows if r["budget"])


def test_bench_command_end_to_end_with_generation(tmp_path, tiny):
    from h2mt.cli.bench import register

    data = write_hotpot(tmp_path / "h.jsonl", n_questions=4, words=(6, 14))
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    res = tmp_path / "res"
    doc = tmp_path / "docs" / "benchmarks.md"
    args = ["bench", "--dataset", "hotpotqa-long", "--data", str(data), "--length", "700", "--budgets", "128",
            "--methods", "full,bm25,h2mt", "--beams", "4", "--limit", "2", "--generate", "--model", str(tiny),
            "--device", "cpu", "--encoder", "hashing", "--results", str(res), "--docs", str(doc)]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    folder = res / "hotpotqa-long-700"
    gen = read_rows(folder / GENERATION)
    by = {(r["method"], r["qid"]): r for r in gen}
    assert len(gen) == 2 * 3
    for q in ("q0", "q1"):
        assert "exceeds" in by[("full", q)]["error"]  # the tiny model's 512-token window
        for m in ("bm25", "h2mt-b4"):
            r = by[(m, q)]
            assert "error" not in r, r
            assert 0 <= r["f1"] <= 1 and r["ttft_ms"] >= r["route_ms"] > 0 and r["prompt_tokens"] > 0
    mem = read_rows(folder / MEMORY)
    assert {m["method"] for m in mem} == {"full", "bm25", "h2mt-b4"} and all(m["peak_rss_bytes"] > 0 for m in mem)
    s = summarize(folder)
    assert {c["method"] for c in s["generation"]} == {"full", "bm25", "h2mt-b4"}
    for name in ("results.json", "results.md", "quality_ttft.png"):
        assert (folder / name).exists()
    text = doc.read_text()
    assert "## Benchmark harness (h2mt bench)" in text and "bench_hotpotqa-long-700.png" in text
    said = "Decoding, every method: greedy, repetition penalty 1.0, at most 32 new tokens."  # hotpotqa's 32
    assert said in text and said in (folder / "results.md").read_text()
    assert all(r["decoding"]["repetition_penalty"] == 1.0 for r in gen if "error" not in r)
    assert (doc.parent / "bench_hotpotqa-long-700.png").exists()
    assert "| bm25 | 128 |" in out.output
    # resume: nothing left to do, the second invocation adds no rows
    out2 = CliRunner().invoke(app, args)
    assert out2.exit_code == 0, out2.output
    assert len(read_rows(folder / GENERATION)) == 6


ECHO_WORKER = """
import sys
from h2mt.subprocess_run import worker_main

def run(spec):
    sys.stderr.write("working on " + spec["what"] + "\\n")
    if spec["what"] == "fail":
        raise ValueError("no such thing")
    if spec["what"] == "vanish":
        sys.exit(0)
    return {"echo": spec["what"], "n": spec["n"] + 1}

sys.exit(worker_main(run))
"""


def test_run_module_round_trip_streams_stderr_and_reports_failures(tmp_path, capsys):
    from h2mt.subprocess_run import RunFailed, run_module

    (tmp_path / "echo_worker.py").write_text(ECHO_WORKER)
    env = {"PYTHONPATH": str(tmp_path)}  # the environment reaches the child: it finds the module
    out = run_module("echo_worker", {"what": "x", "n": 1}, tmp_path / "runs", env=env, stream_stderr=True)
    assert out == {"echo": "x", "n": 2}
    assert "working on x" in capsys.readouterr().err
    assert json.loads((tmp_path / "runs" / "run.spec.json").read_text()) == {"what": "x", "n": 1}
    with pytest.raises(RunFailed) as failed:
        run_module("echo_worker", {"what": "fail", "n": 0}, tmp_path / "runs", name="f", env=env)
    assert failed.value.returncode == 1 and failed.value.reason == "ValueError: no such thing"
    assert "working on fail" in failed.value.stderr_tail and "working on" not in capsys.readouterr().err
    with pytest.raises(RunFailed, match="wrote no result"):
        run_module("echo_worker", {"what": "vanish", "n": 0}, tmp_path / "runs", name="v", env=env)


def test_longllmlingua_compresses_offline_with_the_local_model(tiny):
    pytest.importorskip("llmlingua")
    from h2mt import H2MT, BackendConfig, ChunkConfig, H2MTConfig
    from h2mt.eval.methods.base import GroupView, MethodUnavailable
    from h2mt.eval.methods.llmlingua import LongLLMLinguaMethod
    from h2mt.index.chunking import SimpleTokenCounter
    from h2mt.index.encoders.base import HashingEncoder

    from tests._docs import manual

    cfg = H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8))
    view = GroupView(H2MT.build([manual()], cfg, encoder=HashingEncoder(256), token_counter=SimpleTokenCounter()))
    method = LongLLMLinguaMethod(BackendConfig(model=str(tiny), device="cpu"))
    method.prepare(view)
    sel = method.select(view, "Which signal does trap catch?", 120)
    assert sel.nodes is None and sel.text.strip()
    assert 0 < sel.tokens_kept < view.tokens_total
    assert sel.nodes_scored == len(view.leaves)
    small = LongLLMLinguaMethod(BackendConfig(model=str(tiny), device="cpu"), max_doc_tokens=10)
    with pytest.raises(MethodUnavailable, match="llmlingua limit"):
        small.select(view, "q?", 120)


def test_reliability_harness_checks_threads_and_memory(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from h2mt.errors import InputError
    from h2mt.eval.reliability import bash_questions, concurrency_run, memory_run

    qa = tmp_path / "manuals" / "manual_qa_dev.jsonl"
    qa.parent.mkdir()
    qa.write_text("\n".join(json.dumps({"manual": m, "question": f"q{i}?"})
                            for i, m in enumerate(["bash-reference-manual", "postgresql-15-docs"] * 3)))
    assert bash_questions(str(tmp_path)) == ["q0?", "q2?", "q4?"] == bash_questions(str(qa))
    monkeypatch.setenv("H2MT_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="--data DIR"):
        bash_questions()

    class Engine:  # deterministic stand-in for a loaded pipeline
        def route(self, q, budget):
            return SimpleNamespace(kept=[SimpleNamespace(node=SimpleNamespace(id=len(q)), score=budget / 7)])

        def answer(self, q, budget):
            return SimpleNamespace(sources=self.route(q, budget).kept, text=q.upper())

    conc = concurrency_run(Engine(), ["a?", "bb?"])
    assert conc["equal"] is True and conc["concurrency"] == "8 threads x 25 queries"
    mem = memory_run(Engine(), ["a?"])
    assert mem["memory"] == "RSS MiB" and 0 < mem["after_warmup"] <= mem["after_30_answers"] * 2
