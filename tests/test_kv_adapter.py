"""The kv block-attention adapter (h2mt.query.prefill.kv_adapter) and its trainer (h2mt.train), on tiny models.

Invariants: a disabled adapter is the bare generator (same logits, same fingerprint, so the leaf KV
store is shared); save then load gives the same adapted logits; a damaged or foreign adapter is
refused; in kv prefill the adapter changes only the question's positions (the stored leaves and
the joined cache are the bare generator's) and text prefill never sees it. Trainer: the
distillation loss is zero when the student is the teacher, one block read from the joined cache
is text mode, and a few steps lower the loss on their examples.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from h2mt import PrefillConfig
from h2mt.config import KVConfig
from h2mt.engine import H2MT
from h2mt.errors import ModelError
from h2mt.index.encoders.base import HashingEncoder
from h2mt.query.prefill.kv import KVPlan, prefill_from_store
from h2mt.query.prefill.kv_adapter import (
    adapter_on,
    attached,
    inject,
    load_adapter,
    resolve_adapter,
    save_adapter,
    set_enabled,
)
from h2mt.query.prefill.kv_store import KVShape, KVStore, generator_fingerprint
from h2mt.query.prompt import PromptBlocks
from h2mt.train.kv_adapter import AdapterTrainConfig, distill_loss, student_logp, train_adapter
from h2mt.train.kv_examples import Example, joined_cache, load_example, save_example, teacher
from h2mt.types import GenerationStats

from .test_kv_blocks import VOCAB, _model
from .test_kv_store import tiny_kv_engine

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models gain nothing from threads


def _ids(n: int, seed: int) -> list[int]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (n,), generator=g).tolist()


def _logits(model: Any, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]  # (T, V)


def _randomize_lora(model: Any, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:  # values float16 holds exactly (adapters are saved in float16)
                p.copy_((torch.randn(p.shape, generator=g) * 0.2).half().float())


def _adapted(arch: str = "qwen2") -> tuple[Any, Any]:
    """(bare model, a copy carrying a random adapter, left off)."""
    bare = _model(arch)
    model = copy.deepcopy(bare)
    inject(model, 4, 8, ("q_proj", "v_proj"))
    _randomize_lora(model)
    set_enabled(model, False)
    return bare, model


@pytest.mark.parametrize("arch", ["llama", "qwen2", "smollm2"])
def test_a_disabled_adapter_is_the_bare_generator(arch: str) -> None:
    bare, model = _adapted(arch)
    ids = _ids(12, 1)
    assert generator_fingerprint(model) == generator_fingerprint(bare)  # the store's key is unchanged
    assert torch.equal(_logits(model, ids), _logits(bare, ids))
    with adapter_on(model):
        on = _logits(model, ids)
    assert not torch.allclose(on, _logits(bare, ids), atol=1e-3)
    assert torch.equal(_logits(model, ids), _logits(bare, ids))  # off again after the context


def test_save_then_load_gives_the_same_adapter_and_damage_is_refused(tmp_path: Path) -> None:
    bare, model = _adapted()
    folder = save_adapter(model, tmp_path / "a", {"generator": "tiny"})
    fresh = copy.deepcopy(bare)
    digest = load_adapter(fresh, folder)
    assert attached(fresh) == digest and load_adapter(fresh, folder) == digest  # loaded once
    ids = _ids(10, 2)
    assert torch.equal(_logits(fresh, ids), _logits(bare, ids))  # loaded off
    with adapter_on(fresh), adapter_on(model):
        assert torch.equal(_logits(fresh, ids), _logits(model, ids))

    info = json.loads((folder / "h2mt_adapter.json").read_text())
    (folder / "h2mt_adapter.json").write_text(json.dumps({**info, "sha256": "0" * 64}))
    with pytest.raises(ModelError, match="checksum"):
        load_adapter(copy.deepcopy(bare), folder)
    (folder / "h2mt_adapter.json").write_text(json.dumps(info))
    other = _model("qwen2")
    with torch.no_grad():
        other.get_input_embeddings().weight.add_(1.0)  # other weights: another generator
    with pytest.raises(ModelError, match="another generator"):
        load_adapter(other, folder)
    (folder / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="cannot be read"):
        load_adapter(copy.deepcopy(bare), folder)
    assert resolve_adapter(copy.deepcopy(bare), "off") is False


def test_in_kv_prefill_the_adapter_changes_only_the_question_positions(tmp_path: Path) -> None:
    bare, model = _adapted("llama")
    blocks = PromptBlocks(_ids(6, 3), [_ids(9, 4), _ids(11, 5), _ids(7, 6)], _ids(5, 7))
    store = KVStore(None, generator=generator_fingerprint(bare), prefix_ids=blocks.prefix, shape=KVShape.of(bare),
                    dtype="float32")
    plan = KVPlan(store, ["d"] * 3)
    with torch.inference_mode():
        off_logits, off_cache = prefill_from_store(model, blocks, plan, KVConfig(), GenerationStats())
        on_logits, on_cache = prefill_from_store(model, blocks, plan, KVConfig(), GenerationStats(), adapter=True)
        bare_logits, _ = prefill_from_store(bare, blocks, plan, KVConfig(), GenerationStats())
    context = len(blocks.prefix) + sum(len(b) for b in blocks.blocks)
    for a, b in zip(off_cache.layers, on_cache.layers, strict=True):
        assert torch.equal(a.keys[:, :, :context], b.keys[:, :, :context])  # stored leaves: the bare generator's
        assert torch.equal(a.values[:, :, :context], b.values[:, :, :context])
        assert not torch.allclose(a.values[:, :, context:], b.values[:, :, context:], atol=1e-4)  # the question's
    assert torch.equal(off_logits, bare_logits)
    assert not torch.allclose(on_logits, off_logits, atol=1e-3)


# -- through the engine, on a tiny Llama with a tokenizer --------------------------------------------
@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    out = tiny_kv_engine(tmp_path_factory.mktemp("kvadapter"))
    backend, root = out["backend"], out["root"]
    # an adapter for this generator: trained elsewhere, here random, saved from a copy of the model
    donor = copy.deepcopy(backend.model)
    inject(donor, 4, 8, ("q_proj", "k_proj", "v_proj", "o_proj"))
    _randomize_lora(donor, seed=3)
    folder = save_adapter(donor, root / "adapter", {"generator": "tiny"})
    return {**out, "adapter": folder}


def _answer(eng: H2MT, prefill: PrefillConfig, q: str = "What does the signal trap do?", budget: int = 120):
    kept = eng.route(q, budget=budget).kept
    prompt = eng.prompt(q, kept, prefill)
    gen = eng.generate(prompt, prefill)
    return gen.run(), gen.stats


def test_engine_kv_with_adapter_text_unchanged_and_accounting(setup) -> None:
    eng, root = setup["eng"], setup["root"]
    text_cfg = PrefillConfig(max_new_tokens=6, layout="blocks", temperature=0.0)
    text_before, _ = _answer(eng, text_cfg)
    kv_path = str(root / "kvstore")
    kv_off = PrefillConfig(max_new_tokens=6, mode="kv", kv=KVConfig(path=kv_path, dtype="float32"))
    kv_on = PrefillConfig(max_new_tokens=6, mode="kv",
                          kv=KVConfig(path=kv_path, dtype="float32", adapter=str(setup["adapter"])))
    _, off_stats = _answer(eng, kv_off)
    files = sorted(p.name for p in Path(kv_path).rglob("*.safetensors"))
    _, on_stats = _answer(eng, kv_on)
    assert off_stats.kv_adapter == "" and on_stats.kv_adapter == attached(setup["backend"].model) != ""
    assert on_stats.kv_misses == 0  # the leaves stored without the adapter are read as they are
    assert sorted(p.name for p in Path(kv_path).rglob("*.safetensors")) == files
    text_after, _ = _answer(eng, text_cfg)
    assert text_after == text_before  # text prefill never sees the adapter
    with pytest.raises(Exception, match="not a folder"):
        missing = KVConfig(path=kv_path, dtype="float32", adapter=str(root / "no"))
        _answer(eng, PrefillConfig(max_new_tokens=6, mode="kv", kv=missing))


# -- the trainer ---------------------------------------------------------------------------------------
def _example(model: Any, tmp: Path, seed: int, sizes: tuple[int, ...] = (9, 11, 8)) -> Path:
    blocks = PromptBlocks(_ids(5, seed), [_ids(n, seed + i + 1) for i, n in enumerate(sizes)], _ids(6, seed + 50))
    with torch.no_grad():
        answer, top_ids, top_logp = teacher(model, blocks.ids, len(blocks.suffix), set(), 4, 16)
        kv = joined_cache(model, blocks.prefix, blocks.blocks)
    path = tmp / f"{seed}.safetensors"
    save_example(path, kv, [*blocks.suffix, *answer], top_ids, top_logp,
                 {"suffix": len(blocks.suffix), "prefix": len(blocks.prefix)})
    return path


def test_loss_is_zero_when_the_student_is_the_teacher(tmp_path: Path) -> None:
    model = _model("qwen2")
    one = load_example(_example(model, tmp_path, 1, sizes=(14,)))  # one block: the joined cache is text's
    assert one.cached == 5 + 14 and one.top_ids.shape[0] == 6 + 4
    with torch.no_grad():
        logp = student_logp(model, one)
        assert float(distill_loss(logp, one)) < 1e-3  # fp16 cache on disk: not bit-exact
        three = load_example(_example(model, tmp_path, 2))  # three blocks: cross-block attention missing
        assert float(distill_loss(student_logp(model, three), three)) > 10 * float(distill_loss(logp, one))
    ex = Example(one.kv, one.tokens, one.top_ids, one.top_logp, one.meta)
    assert float(distill_loss(torch.log_softmax(torch.randn(logp.shape), -1), ex)) > 0.1


def test_a_few_steps_lower_the_loss_on_their_examples(tmp_path: Path) -> None:
    model = _model("llama")
    files = [_example(model, tmp_path, s) for s in (3, 4)]
    out = tmp_path / "run"
    cfg = AdapterTrainConfig(lora_r=4, lora_alpha=8, lr=3e-3, steps=30, warmup=1, save_every=10, eval_every=10,
                             ce_weight=0.0)
    summary = train_adapter(model, files, files, out, cfg, generator="tiny", progress=False)
    assert summary["steps"] == 30
    assert summary["after"]["kl"] < 0.5 * summary["before"]["kl"]
    assert summary["best_step"] in (10, 20, 30)  # the written adapter is the best held-out one
    assert summary["after"]["token_agreement"] >= summary["before"]["token_agreement"]
    assert (out / "final" / "adapter_model.safetensors").is_file() and (out / "ckpt.pt").is_file()
    fresh = _model("llama")  # the same seeded weights: the adapter fits it
    load_adapter(fresh, out / "final")
    with adapter_on(fresh):
        assert abs(float(distill_loss(student_logp(fresh, load_example(files[0])), load_example(files[0])))
                   - float(distill_loss(student_logp(model, load_example(files[0])), load_example(files[0])))) < 1e-4


def test_langchain_runnable_and_llama_index_take_the_adapter(setup) -> None:
    pytest.importorskip("langchain_core")
    from dataclasses import replace

    from langchain_core.documents import Document

    from h2mt_integrations.langchain import ChatH2MT, H2MTRunnable

    docs = [Document(page_content=f"Section {i}: the trap builtin runs a command on signal {i}.") for i in range(6)]
    chat = ChatH2MT(backend=setup["backend"], max_tokens=3)
    run = H2MTRunnable(llm=chat, prefill="kv", kv_adapter=str(setup["adapter"]), encoder=HashingEncoder(64),
                       budget=60, task="short")
    out = run.invoke({"question": "What does trap do?", "documents": docs})
    assert out["stats"]["kv_adapter"] == attached(setup["backend"].model)

    pytest.importorskip("llama_index.core")
    from h2mt_integrations.llama_index import H2MTQueryEngine

    eng = setup["eng"]
    kv = replace(eng.config.prefill.kv, adapter=str(setup["adapter"]), path=str(setup["root"] / "li"))
    eng2 = H2MT(eng.index, replace(eng.config, prefill=replace(eng.config.prefill, kv=kv)),
                encoder=HashingEncoder(64), backend=setup["backend"])
    res = H2MTQueryEngine(eng2, budget=120, prefill="kv").query("What does the signal trap do?")
    assert res.metadata["kv_adapter"] == attached(setup["backend"].model)


def test_auto_finds_the_adapter_shipped_for_this_generator_only(tmp_path: Path, monkeypatch) -> None:
    import h2mt.query.prefill.kv_adapter as kv_adapter

    bare, model = _adapted()
    monkeypatch.setattr(kv_adapter, "WEIGHTS", tmp_path)
    assert kv_adapter.shipped_adapter(bare) is None and resolve_adapter(copy.deepcopy(bare), "auto") is False
    folder = save_adapter(model, tmp_path / "tiny-qwen2" / "kv_adapter", {"generator": "tiny"})
    assert kv_adapter.shipped_adapter(bare) == folder
    other = _model("llama")
    assert kv_adapter.shipped_adapter(other) is None and resolve_adapter(other, "auto") is False
    fresh = copy.deepcopy(bare)
    assert resolve_adapter(fresh, "auto") is True and attached(fresh) is not None
