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


def _other_backbone(tmp_path, change: str):
    """A tiny model the ``weights`` fixture was not trained for: other embeddings (same shapes,
    another seed) or other sizes (hidden size and depth)."""
    if change == "embeddings":
        return make_tiny_model_dir(tmp_path / "other", seed=1)
    from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    src = make_tiny_model_dir(tmp_path / "src")
    base = LlamaConfig.from_pretrained(src)
    cfg = LlamaConfig(vocab_size=base.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=base.max_position_embeddings, bos_token_id=base.bos_token_id,
                      eos_token_id=base.eos_token_id, pad_token_id=base.pad_token_id)
    out = tmp_path / "other"
    model = LlamaForCausalLM(cfg)
    model.generation_config = GenerationConfig.from_pretrained(src)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(src).save_pretrained(out)
    return out


def _toy(question: str = "q?", max_new_tokens: int = 4):
    """One question and its one-question dataset."""
    q = BenchQuestion(id="q1", question=question, answers=["a"], group="g")
    return q, BenchDataset(name="toy", task="hotpotqa", questions=[q], groups={},
                           max_new_tokens=max_new_tokens)


def _manual_view(cfg=None):
    return GroupView(H2MT.build([manual()], cfg or H2MTConfig(), encoder=HashingEncoder(64),
                                token_counter=SimpleTokenCounter()))


@pytest.mark.parametrize(("change", "differs"), [("embeddings", "embed_sha256"), ("sizes", "hidden_size")])
def test_a_memory_for_another_backbone_is_reported_not_raised(backend, weights, tmp_path, change, differs):
    from h2mt.backends import load_backend

    other = load_backend(BackendConfig(model=str(_other_backbone(tmp_path, change)), device="cpu"))
    view = _manual_view()
    q, ds = _toy()
    assert "error" not in answer_row(ds, q, HMTMethod(weights=weights), 0, view, backend)  # its own backbone
    row = answer_row(ds, q, HMTMethod(weights=weights), 0, view, other)
    assert "prediction" not in row
    assert "no HMT memory" in row["error"] and "trained for another backbone" in row["error"]
    assert differs in row["error"]


def test_a_missing_memory_folder_is_reported_not_raised(backend, tmp_path):
    view = _manual_view()
    q, ds = _toy()
    row = answer_row(ds, q, HMTMethod(weights=str(tmp_path / "missing")), 0, view, backend)
    assert "no HMT memory" in row["error"] and "missing" in row["error"] and "prediction" not in row


def test_every_method_family_decodes_the_same_way(backend, weights, monkeypatch):
    """A text method (bm25: the generator answers its prompt) and hmt (answers by itself) get the one
    benchmark decoding: greedy, no repetition penalty, the task's answer length."""
    from h2mt.eval.decoding import bench_decoding
    from h2mt.eval.methods.flat import BM25TopK

    view = _manual_view(H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8)))
    q, ds = _toy("Which signal does trap catch?", max_new_tokens=5)
    configs, decodings = [], []
    stream = backend.stream
    monkeypatch.setattr(backend, "stream",
                        lambda ids, cfg, stats: configs.append(cfg) or stream(ids, cfg, stats))
    hmt = HMTMethod(weights)
    answer = hmt.answer
    monkeypatch.setattr(hmt, "answer", lambda sel, question, b, decoding: decodings.append(decoding)
                        or answer(sel, question, b, decoding))
    bm25 = BM25TopK()
    bm25.prepare(view)
    rows = [answer_row(ds, q, m, 40, view, backend) for m in (bm25, hmt)]
    assert [r.get("error") for r in rows] == [None, None]
    expected = bench_decoding(5)
    assert rows[0]["decoding"] == rows[1]["decoding"] == expected.as_dict()
    assert expected.as_dict() == {"greedy": True, "max_new_tokens": 5, "temperature": 0.0, "top_p": 1.0,
                                  "repetition_penalty": 1.0}
    (cfg,) = configs  # the text method's generation
    assert (cfg.temperature, cfg.top_p, cfg.repetition_penalty, cfg.max_new_tokens) == (0.0, 1.0, 1.0, 5)
    assert decodings == [expected]  # hmt's, which decodes greedily with no penalty
    assert rows[1]["completion_tokens"] <= 5 and rows[0]["completion_tokens"] <= 5


def test_hmt_refuses_a_decoding_it_cannot_do(backend, weights):
    from h2mt.eval.decoding import Decoding

    view = _manual_view()
    q, ds = _toy()
    row = answer_row(ds, q, HMTMethod(weights), 0, view, backend, Decoding(4, repetition_penalty=1.1))
    assert "greedily without a repetition penalty" in row["error"]
