"""HMT node memories and memory-token prefill on a tiny random Llama (h2mt.index.memories / prefill)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from h2mt import ChunkConfig, H2MTConfig, MemoryConfig, PrefillConfig, PrefillMode
from h2mt.config import RouteConfig
from h2mt.engine import H2MT
from h2mt.errors import ConfigError, InputError, ModelError
from h2mt.hmt import HMT, HMTConfig, save_hmt
from h2mt.hmt.adapt import trained_state
from h2mt.index.chunking import SimpleTokenCounter
from h2mt.index.encoders.base import HashingEncoder
from h2mt.index.memories import aggregate_node
from h2mt.index.store import load_index, save_index
from h2mt.query.prompt import build_prompt
from h2mt.types import NodeKind

from tests._docs import make_doc, manual
from tests._tiny import make_tiny_model_dir

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models gain nothing from threads


def _doc(seed: int, source: str):
    return make_doc([(1, "1 redirections", 6), (1, "2 signals", 6)], seed=seed, title=f"Doc {seed}", source=source)


def _hmt_folder(model_dir: Path, out: Path) -> Path:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    cfg = HMTConfig(segment_len=40, sensory_len=4, key_dim=16, cache_size=4, trainable="lora", lora_r=2,
                    lora_targets=("q_proj", "v_proj"))
    hmt = HMT(model, cfg)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():  # non-zero LoRA B, so adapters change the logits
        for p in trained_state(hmt).values():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return save_hmt(hmt, out)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    from h2mt.backends import load_backend
    from h2mt.config import BackendConfig

    root = tmp_path_factory.mktemp("memprefill")
    model_dir = make_tiny_model_dir(root / "llama")
    weights = _hmt_folder(model_dir, root / "hmt")
    backend = load_backend(BackendConfig(model=str(model_dir), device="cpu"))
    ids = backend.chat_ids([{"role": "user", "content": "What is PIPESTATUS?"}])
    bare_logits, _ = backend.prefill_logits(ids)  # before any HMT touches the model
    cfg = H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8), memory=MemoryConfig(weights=str(weights)))
    return {"root": root, "model_dir": model_dir, "weights": weights, "backend": backend, "cfg": cfg,
            "probe": ids, "bare_logits": bare_logits}


def _engine(setup, docs, **kw) -> H2MT:
    return H2MT.build(docs, setup["cfg"], encoder=HashingEncoder(64), backend=setup["backend"],
                      token_counter=SimpleTokenCounter(), memories="hmt", **kw)


@pytest.fixture(scope="module")
def eng(setup) -> H2MT:
    return _engine(setup, [manual()])


def test_memories_are_deterministic_and_survive_save_load(setup, eng, tmp_path: Path) -> None:
    idx = eng.index
    assert idx.has_memories and idx.hmt_memory.shape == (len(idx.nodes), 64) and idx.hmt_memory.dtype == np.float16
    assert idx.meta["hmt"]["aggregate"] == "recall" and idx.meta["hmt"]["fingerprint"]["hidden_size"] == 64
    again = _engine(setup, [manual()]).index
    assert np.array_equal(again.hmt_memory, idx.hmt_memory) and np.array_equal(again.hmt_summary, idx.hmt_summary)
    path = save_index(idx, tmp_path / "m.h2mt")
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        assert f.metadata()["format_version"] == "2" and "hmt_memory" in f.metadata()["contents"]
    loaded = load_index(path)
    assert np.array_equal(loaded.hmt_memory, idx.hmt_memory) and np.array_equal(loaded.hmt_summary, idx.hmt_summary)
    assert loaded.meta["hmt"]["weights_sha256"] == idx.meta["hmt"]["weights_sha256"]


def test_index_without_memories_keeps_format_version_1(tmp_path: Path, small_cfg, encoder, counter) -> None:
    from safetensors import safe_open

    e = H2MT.build([manual()], small_cfg, encoder=encoder, token_counter=counter)
    path = save_index(e.index, tmp_path / "plain.h2mt")
    with safe_open(str(path), framework="numpy") as f:
        assert f.metadata()["format_version"] == "1" and "contents" not in f.metadata()
    assert not load_index(path).has_memories


def test_every_internal_memory_is_the_aggregate_of_its_children(eng) -> None:
    idx, hmt = eng.index, eng.hmt
    tok = eng.backend.tokenizer
    checked = 0
    with torch.inference_mode():
        for n in idx.nodes:
            if n.kind == NodeKind.LEAF:
                continue
            kids = n.children
            title = None
            if n.title:
                ids = torch.tensor([tok(n.title, add_special_tokens=False)["input_ids"]])
                title = hmt.encode_summary(ids)[0].float()
            m, s = aggregate_node(hmt, torch.tensor(idx.hmt_memory[kids]).float(),
                                  torch.tensor(idx.hmt_summary[kids]).float(), title, "recall")
            np.testing.assert_allclose(idx.hmt_memory[n.id], m.half().numpy(), rtol=0, atol=1e-3)
            np.testing.assert_allclose(idx.hmt_summary[n.id], s.half().numpy(), rtol=0, atol=1e-3)
            checked += 1
    assert checked >= 5


def test_mean_aggregation_baseline(setup) -> None:
    from dataclasses import replace

    cfg = replace(setup["cfg"], memory=replace(setup["cfg"].memory, aggregate="mean", dtype="float32"))
    e = H2MT.build([_doc(1, "<a>")], cfg, encoder=HashingEncoder(64), backend=setup["backend"],
                   token_counter=SimpleTokenCounter(), memories="hmt")
    idx = e.index
    for n in idx.nodes:
        if n.kind != NodeKind.LEAF:
            np.testing.assert_allclose(idx.hmt_memory[n.id], idx.hmt_memory[n.children].mean(0), atol=1e-5)


def test_text_mode_prompt_and_logits_are_unchanged(setup, eng) -> None:
    r = eng.route("What does the signal trap do?", budget=120)
    p = eng.prompt(r.kept[0].node.title or "q", r.kept)
    ref = build_prompt(p.question, r.kept, eng.config.prefill, eng.backend.chat_ids)
    assert p.soft is None and p.ids == ref.ids and p.messages == ref.messages and p.positions == len(p.ids)
    got, _ = setup["backend"].prefill_logits(setup["probe"])  # the HMT's LoRA is attached by now
    assert torch.equal(got, setup["bare_logits"])
    b = setup["backend"]
    ids = torch.tensor([setup["probe"]])
    with_adapters, _ = b._forward(ids, 0, None, soft=True)
    assert not torch.allclose(with_adapters.float(), setup["bare_logits"])  # the adapters are real


def test_memory_prompt_has_one_soft_position_per_node(eng) -> None:
    q = "What does the signal trap do?"
    r = eng.route(q, budget=120)
    cfg = PrefillConfig(mode="memory")
    p = eng.prompt(q, r.kept, cfg)
    n = len(r.kept)
    assert p.soft is not None and len(p.soft.positions) == n and p.soft.vectors.shape == (n, 64)
    assert p.soft.node_ids == [k.node.id for k in r.kept]  # document order
    marker_id = p.ids[p.soft.positions[0]]
    assert all(p.ids[i] == marker_id for i in p.soft.positions) and p.ids.count(marker_id) == n
    assert p.positions == len(p.ids) + 1  # the leading memory P
    assert all(k.node.text not in p.context for k in r.kept)
    np.testing.assert_allclose(p.soft.vectors, eng.index.hmt_memory[p.soft.node_ids].astype(np.float32))
    text = eng.prompt(q, r.kept)
    assert len(p.ids) < len(text.ids)
    gen = eng.generate(p, PrefillConfig(mode="memory", max_new_tokens=4))
    gen.run()
    assert gen.stats.prompt_tokens == p.positions and gen.stats.completion_tokens >= 1


def test_hybrid_keeps_exactly_the_top_leaves_as_text(eng) -> None:
    q = "Which variable assignment is exported?"
    r = eng.route(q, budget=160)
    assert len(r.kept) >= 3
    p = eng.prompt(q, r.kept, PrefillConfig(mode="hybrid", text_leaves=2))
    top = {k.node.id for k in sorted(r.kept, key=lambda k: (-k.score, k.node.id))[:2]}
    assert p.soft is not None and set(p.soft.node_ids) == {k.node.id for k in r.kept} - top
    assert len(p.soft.positions) == len(r.kept) - 2
    for k in r.kept:
        assert (k.node.text in p.context) == (k.node.id in top)


def test_titles_ablation_is_the_memory_layout_without_memories(setup, eng, tmp_path: Path) -> None:
    from h2mt.eval.methods.registry import make_methods
    from h2mt.query.prefill.memory import MEMORY_SHOWN, build_titles_prompt
    from h2mt.query.prompt import build_messages

    q = "Which variable assignment is exported?"
    r = eng.route(q, budget=160)
    cfg = PrefillConfig(mode="hybrid", text_leaves=1)
    hybrid = eng.prompt(q, r.kept, cfg)
    backend = setup["backend"]
    titles = build_titles_prompt(q, r.kept, cfg, backend.chat_ids)
    assert titles.soft is None and titles.positions == len(titles.ids)  # nothing but text
    assert titles.context == hybrid.context.replace(MEMORY_SHOWN, "")  # same layout, memories dropped
    assert titles.ids == backend.chat_ids(build_messages(q, titles.context, cfg))
    assert len(titles.ids) < len(hybrid.ids)  # one marker fewer per memory node
    (ablation,) = make_methods(["h2mt-hybrid-titles"], (8,), hmt_weights=str(setup["weights"]),
                               memory_cache=str(tmp_path))
    assert ablation.name == "h2mt-hybrid-titles" and ablation.titles_only and ablation.mode == "hybrid"
    # hybridN: N best leaves as text; each one more text leaf is one memory position fewer
    one, two, two_t = make_methods(["h2mt-hybrid", "h2mt-hybrid2", "h2mt-hybrid2-titles"], (8,),
                                   hmt_weights=str(setup["weights"]), memory_cache=str(tmp_path))
    assert (one.text_leaves, two.text_leaves, two.name, two_t.name) == (1, 2, "h2mt-hybrid2", "h2mt-hybrid2-titles")
    assert two_t.titles_only and not two.titles_only
    assert len(r.kept) > 2
    p2 = eng.prompt(q, r.kept, PrefillConfig(mode="hybrid", text_leaves=2))
    assert p2.soft is not None and hybrid.soft is not None
    assert len(p2.soft.node_ids) == len(hybrid.soft.node_ids) - 1
    with pytest.raises(InputError):
        make_methods(["h2mt-hybrid0"], (8,), hmt_weights=str(setup["weights"]))


def test_answer_through_the_facade_in_memory_mode(setup, eng) -> None:
    from dataclasses import replace

    # task short: one prefill (auto may retry a short answer as brief, which prefills again)
    e = H2MT(eng.index, replace(eng.config, prefill=PrefillConfig(mode="hybrid", max_new_tokens=3, task="short")),
             encoder=eng.encoder, backend=setup["backend"])
    q = "What does the signal trap do?"
    ans = e.answer(q, budget=120)
    kept = e.route(q, budget=120).kept
    hybrid, text = e.prompt(q, kept), e.prompt(q, kept, PrefillConfig(max_new_tokens=3, task="short"))
    assert hybrid.mode == PrefillMode.HYBRID and hybrid.soft is not None and hybrid.soft.node_ids
    assert [s.node.id for s in ans.sources] == [k.node.id for k in kept]
    # the answer prefilled the hybrid prompt's positions (memories + lead), not the text prompt's
    assert ans.accounting.prompt_tokens == hybrid.positions < text.positions


def test_memory_routing_mixes_memory_search(eng) -> None:
    q = "What does the signal trap do?"
    base = eng.route(q, budget=120)
    same = eng.route(q, RouteConfig(budget=120, memory_weight=0.0))
    assert [(k.node.id, k.score) for k in base.kept] == [(k.node.id, k.score) for k in same.kept]
    mixed = eng.route(q, RouteConfig(budget=120, memory_weight=0.5))
    assert mixed.kept and [k.score for k in mixed.kept] != [k.score for k in base.kept]
    reader = eng.memory_reader()
    assert reader.keys.shape[0] == len(eng.index.nodes)
    cos = reader.keys @ reader.query(q)
    assert np.all(np.abs(cos) <= 1 + 1e-5)


def test_clear_errors_without_memories(setup, small_cfg, encoder, counter) -> None:
    e = H2MT.build([manual()], small_cfg, encoder=encoder, token_counter=counter, backend=setup["backend"])
    r = e.route("signal trap", budget=100)
    with pytest.raises(ConfigError, match="--memories hmt"):
        e.prompt("signal trap", r.kept, PrefillConfig(mode="memory"))
    with pytest.raises(ConfigError, match="memories"):
        e.route("signal trap", RouteConfig(budget=100, memory_weight=0.5))


def test_weights_for_another_generator_are_refused(setup, eng) -> None:
    from h2mt.backends import load_backend
    from h2mt.config import BackendConfig

    other_dir = make_tiny_model_dir(setup["root"] / "llama-1", seed=1)
    other = load_backend(BackendConfig(model=str(other_dir), device="cpu"))
    with pytest.raises(ModelError, match="another backbone"):  # the shipped-for-another-model HMT
        H2MT(eng.index, eng.config, encoder=eng.encoder, backend=other).memory_reader()
    own = _hmt_folder(other_dir, setup["root"] / "hmt-1")  # an HMT that fits, but the index was made by another
    from dataclasses import replace

    cfg = replace(eng.config, memory=MemoryConfig(weights=str(own)))
    with pytest.raises(ModelError, match="another generator"):
        H2MT(eng.index, cfg, encoder=eng.encoder, backend=other).memory_reader()


def test_incremental_add_remove_matches_a_fresh_build(setup) -> None:
    a, b, c = _doc(1, "<a>"), _doc(2, "<b>"), _doc(3, "<c>")
    e = _engine(setup, [a, b])
    e.add([c], token_counter=SimpleTokenCounter())
    fresh = _engine(setup, [a, b, c]).index
    assert np.array_equal(e.index.hmt_memory, fresh.hmt_memory)
    assert np.array_equal(e.index.hmt_summary, fresh.hmt_summary)
    e.remove(["<b>"])
    fresh2 = _engine(setup, [a, c]).index
    assert np.array_equal(e.index.hmt_memory, fresh2.hmt_memory)
    assert np.array_equal(e.index.hmt_summary, fresh2.hmt_summary)


def test_bench_memory_methods_prefill_soft_tokens(setup, eng, tmp_path: Path) -> None:
    from h2mt.eval.datasets.types import BenchDataset, BenchQuestion
    from h2mt.eval.methods.base import GroupView
    from h2mt.eval.methods.registry import make_methods
    from h2mt.eval.worker import answer_row

    memory, hybrid, mw = make_methods(["h2mt-memory", "h2mt-hybrid", "h2mt-mw50"], (8,),
                                      hmt_weights=str(setup["weights"]), memory_cache=str(tmp_path))
    assert (memory.name, hybrid.name, mw.name) == ("h2mt-memory", "h2mt-hybrid", "h2mt-mw50")
    from dataclasses import replace

    def bare_view() -> GroupView:  # a cached bench index has no memories; no generator attached: the worker's is used
        meta = {k: v for k, v in eng.index.meta.items() if k != "hmt"}
        return GroupView(H2MT(replace(eng.index, hmt_memory=None, hmt_summary=None, meta=meta), eng.config,
                              encoder=eng.encoder))

    view = bare_view()
    q = BenchQuestion("q1", "What does the signal trap do?", ["trap"], "g")
    ds = BenchDataset("tiny", [q], {}, "hotpotqa", 3)
    memory.prepare_generation(view, setup["backend"])
    assert len(list(tmp_path.glob("hmt-*.npz"))) == 1  # made once, kept for the other methods
    again = bare_view()
    hybrid.prepare_generation(again, setup["backend"])  # read back from the cache
    assert np.array_equal(again.index.hmt_memory, eng.index.hmt_memory)
    rows = {m.name: answer_row(ds, q, m, 120, view, setup["backend"]) for m in (memory, hybrid)}
    for row in rows.values():
        assert "error" not in row and row["prompt_tokens"] > 0 and row["ttft_ms"] > 0
    sel = memory.select(view, q.question, 120)
    assert rows["h2mt-memory"]["prompt_tokens"] < rows["h2mt-hybrid"]["prompt_tokens"] or len(sel.nodes) <= 1
    routed = GroupView(H2MT(eng.index, eng.config, encoder=eng.encoder, backend=setup["backend"]))
    mw.prepare(routed)  # memory routing runs on the engine's generator
    assert mw.select(routed, q.question, 120).nodes


def test_llama_index_query_engine_prefill_setting(setup, eng) -> None:
    pytest.importorskip("llama_index.core")
    from h2mt_integrations.llama_index import H2MTQueryEngine

    qe = H2MTQueryEngine(eng, budget=50, prefill="memory")
    resp = qe.query("What does the signal trap do?")
    assert resp.source_nodes and resp.metadata["prompt_tokens"] is not None
    text = H2MTQueryEngine(eng, budget=50).query("What does the signal trap do?")
    assert resp.metadata["prompt_tokens"] < text.metadata["prompt_tokens"]


def test_langchain_runnable_prefill_setting(setup) -> None:
    pytest.importorskip("langchain_core")
    from langchain_core.documents import Document

    from h2mt_integrations.langchain import ChatH2MT, H2MTRunnable

    docs = [Document(page_content=f"Section {i}: the trap builtin runs a command on signal {i}.") for i in range(6)]
    chat = ChatH2MT(backend=setup["backend"], max_tokens=3)
    common = {"encoder": HashingEncoder(64), "token_counter": SimpleTokenCounter(), "budget": 60}
    mem = H2MTRunnable(llm=chat, prefill="hybrid", hmt_weights=str(setup["weights"]), **common)
    out = mem.invoke({"question": "What does trap do?", "documents": docs})
    assert out["sources"] and out["stats"]["prompt_tokens"]
    streamed = list(mem.stream({"question": "What does trap do?", "documents": docs}))
    assert "stats" in streamed[-1]
    text = H2MTRunnable(llm=chat, **common).invoke({"question": "What does trap do?", "documents": docs})
    assert out["stats"]["prompt_tokens"] < text["stats"]["prompt_tokens"]


def test_cli_build_inspect_ask_with_memories(setup, tmp_path: Path, capsys) -> None:
    import json

    from tests.test_cli import MD, run

    src = tmp_path / "guide.md"
    src.write_text(MD, encoding="utf-8")
    out = tmp_path / "g.h2mt"
    model = str(setup["model_dir"])
    code, _, err = run(["build", src, "-o", out, "--encoder", "hashing", "--model", model, "--memories", "hmt",
                        "--hmt-weights", setup["weights"]], capsys)
    assert code == 0, err
    code, text, _ = run(["inspect", out], capsys)
    assert code == 0 and "HMT memories (recall, float16)" in text
    code, text, err = run(["ask", out, "What does trap do?", "--model", model, "--device", "cpu", "--prefill", "memory",
                           "--max-new-tokens", "2", "--budget", "60", "--json",
                           "--no-placed-sentences"], capsys)  # generated from memories, not quoted
    assert code == 0, err
    acc = json.loads(text)["accounting"]
    assert acc["prompt_tokens"] and acc["prompt_tokens"] > 0
    plain = tmp_path / "p.h2mt"
    assert run(["build", src, "-o", plain, "--encoder", "hashing", "--model", model], capsys)[0] == 0
    code, _, err = run(["ask", plain, "What does trap do?", "--model", model, "--device", "cpu", "--prefill", "memory"],
                       capsys)
    assert code == 2 and "--memories hmt" in err  # ConfigError, one line


def test_hybrid_with_every_leaf_as_text_has_only_the_leading_memory(eng) -> None:
    q = "What does the signal trap do?"
    r = eng.route(q, budget=120)
    p = eng.prompt(q, r.kept, PrefillConfig(mode="hybrid", text_leaves=len(r.kept)))
    text = eng.prompt(q, r.kept)
    assert p.soft is not None and p.soft.positions == [] and p.soft.vectors.shape == (0, 64)
    assert p.ids == text.ids and p.positions == len(text.ids) + 1


def test_memory_prefill_on_the_default_generators_family(tmp_path: Path) -> None:
    """Qwen2 (q/k/v biases, the default generator's architecture): memories, soft positions,
    text mode untouched by the attached LoRA, and the shipped-memory lookup refusing it."""
    from h2mt.backends import load_backend
    from h2mt.config import BackendConfig
    from h2mt.hmt.attach import weights_path

    model_dir = make_tiny_model_dir(tmp_path / "qwen2", arch="qwen2")
    weights = _hmt_folder(model_dir, tmp_path / "hmt")
    backend = load_backend(BackendConfig(model=str(model_dir), device="cpu"))
    assert backend.model.config.model_type == "qwen2"
    probe = backend.chat_ids([{"role": "user", "content": "What is PIPESTATUS?"}])
    bare, _ = backend.prefill_logits(probe)
    cfg = H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8), memory=MemoryConfig(weights=str(weights)))
    eng = H2MT.build([manual()], cfg, encoder=HashingEncoder(64), backend=backend,
                     token_counter=SimpleTokenCounter(), memories="hmt")
    assert eng.index.hmt_memory is not None and eng.index.hmt_memory.shape == (len(eng.index.nodes), 64)
    q = "What does the signal trap do?"
    r = eng.route(q, budget=120)
    p = eng.prompt(q, r.kept, PrefillConfig(mode="memory"))
    assert p.soft is not None and len(p.soft.positions) == len(r.kept) and p.positions == len(p.ids) + 1
    gen = eng.generate(p, PrefillConfig(mode="memory", max_new_tokens=3))
    gen.run()
    assert gen.stats.prompt_tokens == p.positions
    after, _ = backend.prefill_logits(probe)  # LoRA attached, text forwards run without it
    assert torch.equal(after, bare)
    assert weights_path(MemoryConfig(kind="hmt"), eng.index.meta, backend.model) == weights  # the recorded one
    with pytest.raises(ConfigError, match="no HMT memory is shipped"):  # nothing recorded, nothing shipped
        weights_path(MemoryConfig(kind="hmt"), {}, backend.model)
