"""The leaf KV store (h2mt.query.prefill.kv_store) and kv prefill through every caller, on a tiny Llama.

Store: entries survive save/load bit-exactly (float16, float32) and int8 within its scales; a
corrupted, foreign or truncated entry is never used; a store made for another generator, prefix or
storage dtype is refused in one line; LRU eviction keeps the newest. Engine: kv prefill with every
token recomputed gives text prefill's answer in the same layout; lazy fill then reuse gives the same
answer; ``add``/``remove`` invalidate exactly the changed documents' entries; the CLI and the
benchmark rows run.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from h2mt import ChunkConfig, H2MTConfig, PrefillConfig
from h2mt.config import KVConfig, PrefillMode
from h2mt.engine import H2MT
from h2mt.errors import ConfigError
from h2mt.index.encoders.base import HashingEncoder
from h2mt.query.prefill.kv_store import KVShape, KVStore, block_key, store_info, store_path

from tests._docs import make_doc
from tests._tiny import make_tiny_model_dir

SHAPE = KVShape(layers=2, kv_heads=2, head_dim=8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models gain nothing from threads


def _kv(tokens: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(2, 2, tokens, 8, generator=g) * 30, torch.randn(2, 2, tokens, 8, generator=g))


def _store(root: Path | None, dtype: str = "float16", **kw) -> KVStore:
    return KVStore(root, generator="gen0", prefix_ids=[1, 2, 3], shape=SHAPE, dtype=dtype, **kw)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_entries_survive_save_and_load_bit_exactly(tmp_path: Path, dtype: str) -> None:
    k, v = _kv(7)
    store = _store(tmp_path, dtype)
    store.put("a" * 32, k, v, doc="d1")
    got = _store(tmp_path, dtype).get("a" * 32, torch.float32)  # a new instance reads the file
    assert got is not None
    want = torch.float16 if dtype == "float16" else torch.float32
    assert torch.equal(got.keys, k.to(want).float()) and torch.equal(got.values, v.to(want).float())
    assert got.nbytes == (tmp_path / "gen0-" f"{store.prefix}" / f"{'a' * 32}.safetensors").stat().st_size


def test_int8_storage_is_within_its_scales(tmp_path: Path) -> None:
    k, v = _kv(64)
    store = _store(tmp_path, "int8")
    store.put("b" * 32, k, v)
    got = store.get("b" * 32)
    assert got is not None
    k_step = k.abs().amax(dim=2, keepdim=True) / 126  # per channel
    v_step = v.abs().amax(dim=3, keepdim=True) / 126  # per token
    assert ((got.keys - k).abs() <= k_step * 0.51).all()  # half a step (scale rounded to float16)
    assert ((got.values - v).abs() <= v_step * 0.51).all()
    half = _store(tmp_path / "f16", "float16")
    assert got.nbytes < 0.7 * half.put("b" * 32, k, v)  # about half of float16 (plus the scales)


def test_corrupted_or_foreign_entries_are_never_used(tmp_path: Path, caplog) -> None:
    store = _store(tmp_path)
    k, v = _kv(5)
    for key in ("c" * 32, "d" * 32, "e" * 32):
        store.put(key, k, v)
    path = store.folder / f"{'c' * 32}.safetensors"  # type: ignore[operator]
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # one flipped byte in the tensor data
    path.write_bytes(bytes(data))
    assert store.get("c" * 32) is None and not path.exists()  # refused, removed: lazy fill recomputes it
    assert "corrupted" in caplog.text
    short = store.folder / f"{'d' * 32}.safetensors"  # type: ignore[operator]
    short.write_bytes(short.read_bytes()[:40])  # truncated
    assert store.get("d" * 32) is None
    os.replace(store.folder / f"{'e' * 32}.safetensors", store.folder / f"{'f' * 32}.safetensors")  # type: ignore[operator]
    assert store.get("f" * 32) is None  # an entry under another key's name


def test_a_store_of_other_settings_is_refused_in_one_line(tmp_path: Path) -> None:
    _store(tmp_path, "float16")
    with pytest.raises(ConfigError, match=r"dtype=.*--rebuild"):
        _store(tmp_path, "int8")  # same generator and prefix folder, other storage
    other_gen = KVStore(tmp_path, generator="gen1", prefix_ids=[1, 2, 3], shape=SHAPE)
    assert other_gen.folder != _store(tmp_path).folder and other_gen.get("a" * 32) is None
    wrong_shape = KVShape(layers=3, kv_heads=2, head_dim=8)
    with pytest.raises(ConfigError, match="layers=2"):
        KVStore(tmp_path, generator="gen0", prefix_ids=[1, 2, 3], shape=wrong_shape)
    with pytest.raises(ConfigError, match="does not fit"):
        _store(tmp_path).put("x" * 32, torch.zeros(3, 2, 4, 8), torch.zeros(3, 2, 4, 8))


def test_lru_eviction_keeps_the_most_recently_used(tmp_path: Path) -> None:
    store = _store(tmp_path)
    k, v = _kv(6)
    size = store.put("1" * 32, k, v)
    store.put("2" * 32, k, v)
    store.put("3" * 32, k, v)
    old = time.time() - 100
    for i, key in enumerate(("1" * 32, "2" * 32, "3" * 32)):
        os.utime(store.folder / f"{key}.safetensors", (old + i, old + i))  # type: ignore[operator]
    assert store.get("1" * 32) is not None  # used now: the newest
    assert store.evict(2 * size) == 1
    assert set(store.keys()) == {"1" * 32, "3" * 32}
    capped = _store(tmp_path, max_bytes=size)
    capped.put("4" * 32, k, v)  # a write evicts down to the cap, never the entry just written
    assert capped.keys() == ["4" * 32]


def test_block_key_and_info(tmp_path: Path) -> None:
    assert block_key([1, 2, 3]) != block_key([1, 2, 4]) and len(block_key([1])) == 32
    store = _store(tmp_path)
    k, v = _kv(4)
    store.put("a" * 32, k, v)
    info = store.info()
    assert info["entries"] == 1 and info["tokens"] == 4 and info["bytes"] > 2 * k.numel() * 2
    listed = store_info(tmp_path)
    assert len(listed) == 1 and listed[0]["entries"] == 1 and listed[0]["generator"] == "gen0"
    assert store_path("x/bash.h2mt") == Path("x/bash.h2mt.kv")


# -- through the engine, on a tiny Llama with a tokenizer -------------------------------------
def tiny_kv_engine(root: Path) -> dict:
    """A tiny Llama with a tokenizer and an engine over three small documents (shared by the kv tests)."""
    from h2mt.backends import load_backend
    from h2mt.config import BackendConfig

    model_dir = make_tiny_model_dir(root / "llama")
    backend = load_backend(BackendConfig(model=str(model_dir), device="cpu"))
    cfg = H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8), prefill=PrefillConfig(max_new_tokens=6))
    docs = [make_doc([(1, "1 redirections", 4), (1, "2 signals", 4)], seed=s, title=f"Doc {s}", source=f"d{s}.md")
            for s in (1, 2, 3)]
    eng = H2MT.build(docs, cfg, encoder=HashingEncoder(64), backend=backend)
    return {"root": root, "model_dir": model_dir, "backend": backend, "eng": eng, "docs": docs}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    out = tiny_kv_engine(tmp_path_factory.mktemp("kvstore"))
    out["eng"].save(out["root"] / "x.h2mt")
    return out


def _answer(eng: H2MT, prefill: PrefillConfig, q: str = "What does the signal trap do?", budget: int = 120):
    kept = eng.route(q, budget=budget).kept
    p = eng.prompt(q, kept, prefill)
    g = eng.generate(p, prefill)
    return g.run(), g.stats, p


def test_full_recompute_gives_the_text_answer_in_the_same_layout(setup) -> None:
    eng = setup["eng"]
    text, tstats, tp = _answer(eng, PrefillConfig(max_new_tokens=6, layout="blocks"))
    kv_cfg = PrefillConfig(max_new_tokens=6, mode="kv", kv=KVConfig(recompute_ratio=1.0, dtype="float32",
                                                                   path=str(setup["root"] / "f32")))
    kv, kstats, kp = _answer(eng, kv_cfg)
    assert kp.ids == tp.ids and kp.blocks is not None and len(kp.blocks.blocks) == len(kp.sources) > 1
    assert kv == text
    assert kstats.positions_recomputed == sum(len(b) for b in kp.blocks.blocks) and kstats.positions_reused == 0


def test_lazy_fill_then_reuse_gives_the_same_answer(setup) -> None:
    eng = setup["eng"]
    cfg = PrefillConfig(max_new_tokens=6, mode="kv", kv=KVConfig(recompute_first=2))
    cold, cold_stats, p = _answer(eng, cfg)
    warm, warm_stats, _ = _answer(eng, cfg)
    assert cold == warm
    assert cold_stats.kv_misses == len(p.sources) > 0 and warm_stats.kv_misses == 0
    assert warm_stats.kv_bytes_read > 0 and warm_stats.positions_reused > 0
    assert store_path(setup["root"] / "x.h2mt").is_dir()  # beside the index it was loaded from


def test_add_and_remove_invalidate_exactly_the_changed_documents(setup) -> None:
    eng = H2MT.load(setup["root"] / "x.h2mt", setup["eng"].config, encoder=HashingEncoder(64),
                    backend=setup["backend"])
    cfg = PrefillConfig(max_new_tokens=6, mode="kv", task="short")
    eng.kv_build(cfg)
    store = eng.kv_store(eng._kv_prompts(replace(cfg, task="short"))[0].blocks.prefix, cfg.kv)  # type: ignore[union-attr]
    docs_of = lambda: {json.loads(json.dumps(store._doc_of(p))) for p in store._entries()}  # noqa: E731
    before = set(store.keys())
    assert docs_of() == {d["key"] for d in eng.index.documents}
    changed = make_doc([(1, "1 redirections", 4)], seed=9, title="Doc 2", source="d2.md")  # replaces d2.md
    eng.add([changed])
    d2 = next(d["key"] for d in eng.index.documents if d["source"].endswith("d2.md"))
    assert d2 not in docs_of()  # the replaced document's entries are gone ...
    kept = set(store.keys())
    assert kept < before and len(docs_of()) == 2  # ... and only those
    eng.remove(["d3.md"])
    assert len(docs_of()) == 1
    assert eng.kv_build(cfg)["computed"] > 0  # the changed leaves are computed again
    assert eng.kv_prune(cfg)["stale"] == 0


def test_fill_never_and_a_server_backend_are_refused(setup) -> None:
    eng = H2MT.load(setup["root"] / "x.h2mt", replace(setup["eng"].config), encoder=HashingEncoder(64),
                    backend=setup["backend"])
    never = PrefillConfig(max_new_tokens=6, mode="kv", kv=KVConfig(fill="never", path=str(setup["root"] / "empty")))
    with pytest.raises(ConfigError, match="h2mt kv build"):
        _answer(eng, never)
    with pytest.raises(ConfigError, match="layout='blocks'"):
        PrefillConfig(mode="kv", layout="default")
    assert PrefillConfig(mode=PrefillMode.KV).prompt_layout.value == "blocks"


def test_cli_kv_build_info_prune_and_ask(setup, tmp_path: Path, capsys) -> None:
    from tests.test_cli import MD, run

    src = tmp_path / "guide.md"
    src.write_text(MD, encoding="utf-8")
    out = tmp_path / "g.h2mt"
    model = str(setup["model_dir"])
    assert run(["build", src, "-o", out, "--encoder", "hashing", "--model", model], capsys)[0] == 0
    code, text, _ = run(["kv", "info", out], capsys)
    assert code == 0 and "no KV store yet" in text
    code, text, err = run(["kv", "build", out, "--model", model], capsys)
    assert code == 0, err
    assert "computed" in text and "0 already stored" in text
    code, text, err = run(["kv", "build", out, "--model", model], capsys)
    assert code == 0 and "computed 0 leaves" in text  # resumable: nothing left to do
    code, text, _ = run(["kv", "info", out], capsys)
    assert code == 0 and "2 generator/prefix folders" in text  # task auto: the short and the brief prefix
    code, text, err = run(["ask", out, "What does trap do?", "--model", model, "--device", "cpu", "--prefill", "kv",
                           "--recompute-first", "4", "--max-new-tokens", "3", "--budget", "80", "--json",
                           "--no-placed-sentences"], capsys)  # generated over the stored KV, not quoted
    assert code == 0, err
    acc = json.loads(text)["accounting"]
    assert acc["kv_misses"] == 0 and acc["positions_reused"] > 0 and acc["kv_bytes_read"] > 0
    code, _, err = run(["ask", out, "q?", "--prefill", "kv", "--server", "http://127.0.0.1:9/v1"], capsys)
    assert code == 2 and "--prefill kv needs the local generator" in err
    code, text, _ = run(["kv", "prune", out, "--model", model, "--max-mb", "0.001"], capsys)
    assert code == 0 and "least recently used" in text


def test_bench_rows_blocks_and_kv(setup, tmp_path: Path) -> None:
    from h2mt.eval.datasets.types import BenchDataset, BenchQuestion
    from h2mt.eval.methods.base import GroupView
    from h2mt.eval.methods.registry import make_methods
    from h2mt.eval.report import paired_cells
    from h2mt.eval.worker import answer_row

    blocks, kv, full, cold = make_methods(["h2mt-blocks", "h2mt-kv-f4-r15", "h2mt-kv-r100", "h2mt-kv-cold"], (8,),
                                          memory_cache=str(tmp_path))
    assert (kv.name, full.name, cold.name) == ("h2mt-kv-f4-r15", "h2mt-kv-r100", "h2mt-kv-cold")
    view = GroupView(setup["eng"])
    q = BenchQuestion("q1", "What does the signal trap do?", ["trap"], "g")
    ds = BenchDataset("tiny", [q], {}, "hotpotqa", 4)
    rows = [answer_row(ds, q, m, 120, view, setup["backend"]) for m in (blocks, kv, full, cold)]
    for row in rows:
        assert "error" not in row, row
    assert rows[2]["prediction"] == rows[0]["prediction"]  # every token recomputed: the text answer
    assert rows[2]["prompt_tokens"] == rows[0]["prompt_tokens"]
    assert list((tmp_path / "kv").glob("*/*/*.safetensors"))  # the warm rows' store, in the results cache
    pairs = paired_cells(rows)
    assert {p["method"] for p in pairs} == {"h2mt-kv-f4-r15", "h2mt-kv-r100", "h2mt-kv-cold"}
    assert next(p for p in pairs if p["method"] == "h2mt-kv-r100")["f1_diff"][0] == 0.0


def test_llama_index_query_engine_kv(setup) -> None:
    pytest.importorskip("llama_index.core")
    from h2mt_integrations.llama_index import H2MTQueryEngine

    eng = setup["eng"]
    text = H2MTQueryEngine(eng, budget=120).query("What does the signal trap do?")
    kv = H2MTQueryEngine(eng, budget=120, prefill="kv").query("What does the signal trap do?")
    assert kv.source_nodes and kv.metadata["positions_reused"] > 0
    assert text.metadata["positions_reused"] == 0


def test_langchain_runnable_kv(setup) -> None:
    pytest.importorskip("langchain_core")
    from langchain_core.documents import Document

    from h2mt_integrations.langchain import ChatH2MT, H2MTRunnable

    docs = [Document(page_content=f"Section {i}: the trap builtin runs a command on signal {i}.") for i in range(6)]
    chat = ChatH2MT(backend=setup["backend"], max_tokens=3)
    common = {"encoder": HashingEncoder(64), "budget": 60, "task": "short"}
    full = H2MTRunnable(llm=chat, prefill="kv", recompute_ratio=1.0, **common)
    out = full.invoke({"question": "What does trap do?", "documents": docs})
    assert out["sources"] and out["stats"]["positions_recomputed"] > 0 and out["stats"]["kv_misses"] > 0
    streamed = list(H2MTRunnable(llm=chat, prefill="kv", **common).stream(
        {"question": "What does trap do?", "documents": docs}))
    assert "stats" in streamed[-1]


def test_a_changed_prefix_or_generator_never_reads_the_old_entries(setup, tmp_path: Path) -> None:
    from h2mt.backends import load_backend
    from h2mt.config import BackendConfig

    eng = setup["eng"]
    cfg = PrefillConfig(max_new_tokens=2, mode="kv", task="short", kv=KVConfig(path=str(tmp_path)))
    _answer(eng, cfg)
    _, again, p = _answer(eng, cfg)
    assert again.kv_misses == 0
    _, other_prefix, _ = _answer(eng, replace(cfg, system_prompt="Answer from the context."))
    assert other_prefix.kv_misses == len(p.sources)  # another prefix: its own entries, computed now
    other_dir = make_tiny_model_dir(tmp_path / "other", seed=5)  # same shapes, other weights
    other = H2MT(eng.index, eng.config, encoder=eng.encoder,
                 backend=load_backend(BackendConfig(model=str(other_dir), device="cpu")))
    _, other_gen, _ = _answer(other, cfg)
    assert other_gen.kv_misses == len(p.sources)
    assert len(store_info(tmp_path)) == 3  # one folder per (generator, prefix)


def test_the_prompts_recompute_setting_is_used_whatever_decodes_it(setup) -> None:
    eng = setup["eng"]
    made = PrefillConfig(max_new_tokens=3, mode="kv", kv=KVConfig(recompute_first=3))
    kept = eng.route("What does the signal trap do?", budget=120).kept
    p = eng.prompt("What does the signal trap do?", kept, made)
    g = eng.generate(p, PrefillConfig(max_new_tokens=3))  # e.g. a benchmark's own decoding settings
    g.run()
    assert g.stats.positions_recomputed == 3 * (len(kept) - 1) > 0
