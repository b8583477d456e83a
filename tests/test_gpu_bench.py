"""The GPU prefill benchmark's CPU path: shapes, FLOP model and one worker run (tiny shape)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "gpu_prefill_bench.py"
spec = importlib.util.spec_from_file_location("gpu_prefill_bench", SCRIPT)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_flop_model_grows_quadratically_at_long_context():
    s = bench.SHAPES["llama-3.1-8b"]
    f8, f128 = bench.prefill_flops(s, 8192), bench.prefill_flops(s, 131072)
    assert 2 * 7e9 * 8192 < f8 < 2 * 9e9 * 8192 * 1.5  # ~2 x params x tokens plus attention
    assert f128 / f8 > 16  # linear part x16, attention part x256


def test_worker_runs_on_cpu(tmp_path):
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--worker", "--shape", "tiny", "--quant", "bf16", "--device", "cpu",
         "--cache", str(tmp_path), "--method", "h2mt", "--length", "2048", "--budget", "256"],
        capture_output=True, text=True, timeout=600, check=True,
    )
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert row["prompt_tokens"] == 256 + bench.PROMPT_OVERHEAD
    assert row["prefill_ms"] > 0 and row["route_ms"] > 0 and row["ttft_ms"] >= row["prefill_ms"]
    assert 0 < row["nodes_scored"] <= row["nodes_total"]
