"""``h2mt bench-prefill``: shapes, FLOP model, run planning, and an end-to-end CPU run (tiny shape)."""

from __future__ import annotations

import json

import pytest
import typer
from h2mt.errors import InputError
from h2mt.eval.prefill_bench import PrefillBenchOptions, hotpot_table, plan_runs
from h2mt.eval.prefill_models import SHAPES, prefill_flops
from typer.testing import CliRunner


def test_flop_model_grows_quadratically_at_long_context():
    s = SHAPES["llama-3.1-8b"]
    f8, f128 = prefill_flops(s, 8192), prefill_flops(s, 131072)
    assert 2 * 7e9 * 8192 < f8 < 2 * 9e9 * 8192 * 1.5  # ~2 x params x tokens plus attention
    assert f128 / f8 > 16  # linear part x16, attention part x256


def test_runs_are_planned_per_quantization_length_and_budget():
    runs = plan_runs(PrefillBenchOptions(quant=("bf16", "nf4"), lengths=(8192, 32768), budgets=(1024,), cache="/c"))
    assert [(r.quant, r.method, r.length, r.budget) for r in runs[:4]] == [
        ("bf16", "full", 8192, 0), ("bf16", "full", 32768, 0),
        ("bf16", "h2mt", 8192, 1024), ("bf16", "h2mt", 32768, 1024)]
    assert len(runs) == 8 and all(r.cache == "/c" and r.source == "random" for r in runs)
    hot = plan_runs(PrefillBenchOptions(source="hotpotqa", questions=3))
    assert [(r.method, r.length, r.budget, r.questions) for r in hot] == [("full", 7200, 0, 3), ("h2mt", 7200, 1024, 3)]
    with pytest.raises(InputError, match="shape"):
        PrefillBenchOptions(shape="gpt-9")
    with pytest.raises(InputError, match="quant"):
        PrefillBenchOptions(quant=("fp8",))


def test_hotpot_table_reports_medians_and_speed_ups():
    rows = [{"method": "full", "length": 7200, "budget": 0, "questions": 5, "prompt_tokens": 7967.0,
             "prefill_ms": 34050.0, "ttft_ms": 34065.0, "route_ms": 0.0, "tokens_total": 7188.0,
             "peak_mem_bytes": 1963 * 2**20},
            {"method": "h2mt", "length": 7200, "budget": 1024, "questions": 5, "prompt_tokens": 1145.0,
             "prefill_ms": 2472.0, "ttft_ms": 2497.0, "route_ms": 22.2, "tokens_total": 7188.0,
             "peak_mem_bytes": 1279 * 2**20}]
    md = hotpot_table(rows)
    assert "| full | 7200 |  | 5 | 7967 | 34050 | 34065 | 0.0 | 1963 |" in md
    assert "prefill speed-up full/h2mt: 13.8x; TTFT speed-up: 13.6x" in md and "budget 1024" in md


def test_bench_prefill_runs_end_to_end_on_cpu(tmp_path):
    from h2mt.cli.bench import register

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    out = tmp_path / "out"
    args = ["bench-prefill", "--device", "cpu", "--shape", "tiny", "--quant", "bf16", "--lengths", "2048",
            "--budgets", "256", "--cache", str(tmp_path / "models"), "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in (out / "prefill_random.jsonl").read_text().splitlines()]
    assert [(r["method"], r["length"], r["budget"]) for r in rows] == [("full", 2048, 0), ("h2mt", 2048, 256)]
    full, h2 = rows
    assert all("error" not in r for r in rows), rows
    assert 0.8 * 2048 < full["prompt_tokens"] <= 2048 and full["tokens_kept"] == full["tokens_total"]
    assert h2["tokens_kept"] <= 256 < h2["prompt_tokens"] < full["prompt_tokens"]  # the routed prompt's real ids
    assert h2["prefill_ms"] > 0 and h2["route_ms"] > 0 and h2["ttft_ms"] >= h2["prefill_ms"]
    assert 0 < h2["nodes_scored"] <= h2["nodes_total"]
    assert full["peak_mem_bytes"] > 0 and full["flops"] > h2["flops"] > 0
    assert "| bf16 | 2048 | h2mt | 256 |" in res.output


@pytest.mark.integration
def test_hotpot_source_answers_through_the_question_steps(tmp_path):
    from h2mt.eval.prefill_worker import PrefillRun, measure

    from tests._tiny import make_tiny_model_dir

    tiny = make_tiny_model_dir(tmp_path / "tiny")
    data = tmp_path / "h.jsonl"  # three short paragraphs per question: every prompt fits the tiny 512-token window
    data.write_text("".join(json.dumps({
        "id": f"q{i}", "question": f"Which city is {i}?", "answer": "Paris", "supporting_titles": [f"T{i}a"],
        "paragraphs": [{"title": f"T{i}{k}", "sentences": [f"The capital of France is Paris {i}{k}."]} for k in "abc"],
    }) + "\n" for i in range(4)))
    rows = {m: measure(PrefillRun("hotpotqa", m, 120, 64 if m == "h2mt" else 0, device="cpu", model=str(tiny),
                                  questions=2, max_new_tokens=4, data=str(data)))
            for m in ("full", "h2mt")}
    full, h2 = rows["full"], rows["h2mt"]
    assert full["questions"] == h2["questions"] == 2
    assert h2["tokens_kept"] <= 64 < full["tokens_kept"] and h2["prompt_tokens"] < full["prompt_tokens"]
    assert full["route_ms"] == 0.0 < h2["route_ms"] and h2["ttft_ms"] >= h2["prefill_ms"] > 0
    assert full["peak_mem_bytes"] > 0 and 0 <= h2["answer_in_output"] <= 2
