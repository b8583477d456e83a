"""The ``hmt`` benchmark method: reads the whole document through HMT, then answers, with a row
as the other methods' (quality scores and cost)."""

from __future__ import annotations

import pytest
from h2mt import H2MT, BackendConfig, ChunkConfig, H2MTConfig
from h2mt.eval.datasets.types import BenchDataset, BenchQuestion
from h2mt.eval.methods.base import GroupView
from h2mt.eval.methods.hmt import HMTMethod
from h2mt.eval.methods.registry import make_methods
from h2mt.eval.worker import answer_row
from h2mt.index.chunking import SimpleTokenCounter
from h2mt.index.encoders.base import HashingEncoder

from tests._docs import manual
from tests._tiny import make_tiny_model_dir


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    from h2mt.backends import load_backend

    return load_backend(BackendConfig(model=str(make_tiny_model_dir(tmp_path_factory.mktemp("tiny"))), device="cpu"))


@pytest.fixture(scope="module")
def weights(tmp_path_factory, backend):
    from h2mt.hmt import HMT, HMTConfig, save_hmt

    cfg = HMTConfig(segment_len=32, sensory_len=4, key_dim=16, cache_size=8, trainable="memory")
    folder = tmp_path_factory.mktemp("hmt")
    save_hmt(HMT(backend.model, cfg), folder)
    return str(folder)


def test_hmt_reads_everything_and_answers_with_accounting(backend, weights):
    view = GroupView(H2MT.build([manual()], H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8)),
                                encoder=HashingEncoder(256), token_counter=SimpleTokenCounter()))
    method = make_methods(["hmt"], [8], hmt_weights=weights)[0]
    assert isinstance(method, HMTMethod) and not method.budgeted
    sel = method.select(view, "Which signal does trap catch?", 64)
    assert sel.tokens_kept == view.tokens_total and len(sel.nodes or []) == len(view.leaves)
    q = BenchQuestion(id="q1", question="Which signal does trap catch?", answers=["SIGINT"], group="g")
    ds = BenchDataset(name="toy", task="hotpotqa", questions=[q], groups={}, max_new_tokens=6)
    row = answer_row(ds, q, method, 0, view, backend)
    assert "error" not in row, row
    doc_tokens = len(backend.tokenizer(sel.text, add_special_tokens=False)["input_ids"])
    assert row["prompt_tokens"] > doc_tokens  # the whole document plus the question segment
    assert 1 <= row["completion_tokens"] <= 6
    assert row["ttft_ms"] >= row["prefill_ms"] > 0 and row["total_ms"] >= row["ttft_ms"]
    assert row["peak_mem_bytes"] > 0 and 0.0 <= row["f1"] <= 1.0 and row["correct"] in (0.0, 1.0)


def test_a_memory_for_another_backbone_is_reported_not_raised(backend, tmp_path):
    view = GroupView(H2MT.build([manual()], H2MTConfig(), encoder=HashingEncoder(64), token_counter=SimpleTokenCounter()))
    method = HMTMethod(weights=str(tmp_path / "missing"))
    q = BenchQuestion(id="q1", question="q?", answers=["a"], group="g")
    ds = BenchDataset(name="toy", task="hotpotqa", questions=[q], groups={}, max_new_tokens=4)
    row = answer_row(ds, q, method, 0, view, backend)
    assert "no HMT memory" in row["error"]
