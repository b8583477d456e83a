"""HMT (h2mt.hmt) on tiny random Llama and Qwen2 models: bookkeeping, math, gradients, I/O, decoding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from h2mt.errors import ConfigError, InputError, ModelError, ModelNotFoundError
from h2mt.hmt import HMT, HMTConfig, HMTState, load_hmt, save_hmt, segment_bounds, segment_layout
from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM

from tests._tiny import make_tiny_model_dir

VOCAB = 300  # ids drawn below every tiny tokenizer's size


def small_cfg(**kw: object) -> HMTConfig:
    base: dict[str, object] = {
        "segment_len": 16, "sensory_len": 3, "key_dim": 24, "cache_size": 8, "trainable": "memory"
    }
    base.update(kw)
    return HMTConfig(**base)  # type: ignore[arg-type]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models gain nothing from threads


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model_dir(tmp_path_factory.mktemp("hmt-llama"))


def llama(llama_dir: Path, seed: int | None = None, tmp: Path | None = None) -> torch.nn.Module:
    if seed is not None:
        assert tmp is not None
        return AutoModelForCausalLM.from_pretrained(make_tiny_model_dir(tmp / f"llama-{seed}", seed=seed)).eval()
    return AutoModelForCausalLM.from_pretrained(llama_dir).eval()


def qwen2(seed: int = 0) -> torch.nn.Module:
    cfg = Qwen2Config(
        vocab_size=384,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(cfg)
    with torch.no_grad():
        model.lm_head.weight.mul_(8.0)
    return model.eval()


def backbones(llama_dir: Path) -> list[torch.nn.Module]:
    return [llama(llama_dir), qwen2()]


def ids_of(n: int, seed: int = 0, batch: int = 1) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, n), generator=torch.Generator().manual_seed(seed))


def perturb(hmt: HMT, seed: int = 1) -> None:
    """Random values for every trained tensor (so LoRA B is non-zero)."""
    from h2mt.hmt.adapt import trained_state

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in trained_state(hmt).values():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)


# ------------------------------------------------------------------ bookkeeping
def test_segment_bookkeeping_numbers() -> None:
    cfg = HMTConfig(segment_len=256, sensory_len=32)
    assert cfg.new_tokens == 222 and cfg.summary_tokens == 111
    assert HMTConfig(segment_len=256, use_memory=False).new_tokens == 256
    assert HMTConfig(segment_len=256, sensory_len=32, summary_len=7).summary_tokens == 7
    assert segment_bounds(500, 222) == [(0, 222), (222, 444), (444, 500)]
    first = segment_layout(10, 0, True)
    assert (first.memory_in, first.token_start, first.token_end, first.memory_out, first.length) == (0, 1, 11, 11, 12)
    later = segment_layout(10, 4, True)
    assert (later.token_start, later.token_end, later.memory_out, later.length) == (5, 15, 15, 16)
    assert segment_layout(10, 4, True, read_out=False).length == 15
    off = segment_layout(10, 4, False)
    assert (off.token_start, off.token_end, off.memory_out, off.length) == (0, 10, None, 10)


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_segment_inputs_sensory_and_positions_restart(llama_dir: Path, family: str) -> None:
    backbone = llama(llama_dir) if family == "llama" else qwen2()
    cfg = small_cfg()
    hmt = HMT(backbone, cfg).eval()
    ids = ids_of(2 * cfg.new_tokens + 5)
    B, k = cfg.new_tokens, cfg.sensory_len
    with torch.no_grad():
        s0 = hmt.segment_step(ids[:, :B], HMTState())
        assert s0.layout.sensory == 0 and s0.layout.length == B + 2
        assert torch.equal(s0.state.sensory, ids[:, B - k : B])
        assert len(s0.state.memories) == 1 and s0.state.segments == 1
        s1 = hmt.segment_step(ids[:, B : 2 * B], s0.state)
        assert s1.layout.sensory == k and s1.layout.length == cfg.segment_len
        assert torch.equal(s1.state.sensory, ids[:, 2 * B - k : 2 * B])
        # by hand: [P, E(sensory), E(H_1), P] at positions 0..L-1
        emb = backbone.get_input_embeddings()
        p = hmt.memory_for(ids[:, B : 2 * B], s0.state)
        x = torch.cat([p, emb(ids[:, B - k : B]), emb(ids[:, B : 2 * B]), p], dim=1)
        ref = backbone(inputs_embeds=x, position_ids=torch.arange(x.shape[1])[None], output_hidden_states=True)
        torch.testing.assert_close(s1.logits, ref.logits[:, 1 + k : 1 + k + B], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(s1.memory, ref.hidden_states[-1][:, -1], rtol=1e-5, atol=1e-5)
        # reading into memory only (no LM head over the segment): the same memory and state
        lean = hmt.segment_step(ids[:, B : 2 * B], s0.state, logits=False)
        assert lean.logits is None
        torch.testing.assert_close(lean.memory, s1.memory, rtol=0, atol=0)
        assert torch.equal(lean.state.sensory, s1.state.sensory)
    # positions restart at 0 in every segment pass (seen by the rotary embedding)
    seen: list[torch.Tensor] = []

    def record(_m: object, args: tuple[object, ...], kwargs: dict[str, object], _o: object) -> None:
        pos = kwargs["position_ids"] if "position_ids" in kwargs else args[1]
        assert isinstance(pos, torch.Tensor)
        seen.append(pos.clone())

    hook = backbone.model.rotary_emb.register_forward_hook(record, with_kwargs=True)
    with torch.no_grad():
        hmt(ids)
    hook.remove()
    j = cfg.summary_tokens  # each later segment also has its summary pass [T, H[:j], T] first
    lengths = (B + 2, j + 2, cfg.segment_len, min(j, 5) + 2, 5 + k + 2)
    assert [p.flatten().tolist() for p in seen] == [list(range(n)) for n in lengths]


def test_memory_search_equals_hand_softmax(llama_dir: Path) -> None:
    hmt = HMT(llama(llama_dir), small_cfg(cache_size=3)).eval()
    g = torch.Generator().manual_seed(3)
    d = hmt.hidden_size
    summary = torch.randn(2, d, generator=g)
    memories = [torch.randn(2, d, generator=g) for _ in range(5)]
    with torch.no_grad():
        got = hmt.recall(summary, memories)
    wq = hmt.w_q.weight.detach().double().numpy()  # (d_h, d)
    wk = hmt.w_k.weight.detach().double().numpy()
    import numpy as np

    for b in range(2):
        m = np.stack([x[b].double().numpy() for x in memories[-3:]])  # only the last N = 3
        q = wq @ summary[b].double().numpy()
        scores = (m @ wk.T) @ q / np.sqrt(wq.shape[0])
        w = np.exp(scores - scores.max())
        w /= w.sum()
        np.testing.assert_allclose(got[b].double().numpy(), w @ m, rtol=1e-5, atol=1e-6)
    assert got.dtype == torch.float32


def test_recall_on_first_segment_uses_initial_memory(llama_dir: Path) -> None:
    hmt = HMT(llama(llama_dir), small_cfg()).eval()
    with torch.no_grad():
        p = hmt.memory_for(ids_of(5, batch=2), HMTState())
    assert p.shape == (2, 1, hmt.hidden_size)
    torch.testing.assert_close(p[0, 0], hmt.init_memory[0])


def test_disabled_memory_one_segment_equals_backbone(llama_dir: Path) -> None:
    for backbone in backbones(llama_dir):
        hmt = HMT(backbone, small_cfg(use_memory=False)).eval()
        ids = ids_of(hmt.config.segment_len, batch=2)
        with torch.no_grad():
            got = hmt(ids).logits
            ref = backbone(ids).logits
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ gradients
def _grads(hmt: HMT, ids: torch.Tensor, depth: int | None) -> dict[str, torch.Tensor | None]:
    hmt.zero_grad(set_to_none=True)
    out = hmt(ids, labels=ids, loss_on="last", bptt_depth=depth)
    assert out.loss is not None
    out.loss.backward()
    return {
        n: p.grad
        for n, p in hmt.named_parameters()
        if n in ("summary_token", "init_memory", "w_q.weight", "w_k.weight")
    }


def _nonzero(g: torch.Tensor | None) -> bool:
    return g is not None and float(g.abs().sum()) > 0


def test_gradients_reach_memory_parameters_through_segments(llama_dir: Path) -> None:
    for backbone in backbones(llama_dir):
        hmt = HMT(backbone, small_cfg())
        ids = ids_of(3 * hmt.config.new_tokens)  # loss on segment 2 only: earlier ones learn through memory
        grads = _grads(hmt, ids, None)
        assert all(_nonzero(g) for g in grads.values()), {n: _nonzero(g) for n, g in grads.items()}


def test_truncated_bptt_really_stops_gradients(llama_dir: Path) -> None:
    hmt = HMT(llama(llama_dir), small_cfg())
    ids = ids_of(3 * hmt.config.new_tokens)
    full = _grads(hmt, ids, None)
    cut = _grads(hmt, ids, 1)
    assert _nonzero(full["init_memory"])
    assert not _nonzero(cut["init_memory"])  # used only in segment 0, detached before segment 2
    assert _nonzero(cut["w_q.weight"]) and _nonzero(cut["summary_token"])  # the last segment's own search
    two = _grads(hmt, ids, 2)  # cut at segment 2: segment 0 is still out of reach
    assert not _nonzero(two["init_memory"])


# ------------------------------------------------------------------ save / load
@pytest.mark.parametrize("mode", ["memory", "lora"])
def test_save_load_roundtrip_identical_logits(llama_dir: Path, tmp_path: Path, mode: str) -> None:
    cfg = small_cfg(trainable=mode, lora_r=2, lora_targets=("q_proj", "v_proj"))
    hmt = HMT(llama(llama_dir), cfg).eval()
    perturb(hmt)
    ids = ids_of(3 * cfg.new_tokens + 4)
    with torch.no_grad():
        ref = hmt(ids).logits
    folder = save_hmt(hmt, tmp_path / "mem")
    loaded = load_hmt(llama(llama_dir), folder)
    with torch.no_grad():
        got = loaded(ids).logits
    assert torch.equal(got, ref)
    if mode == "lora":
        with torch.no_grad(), loaded.adapters_disabled():
            bare = loaded(ids).logits
        assert not torch.allclose(bare, ref)  # the adapters really were loaded
        plain = llama(llama_dir)
        released = loaded.release()  # LoRA layers removed: the plain backbone again
        assert not any("lora_" in n for n, _ in released.named_parameters())
        with torch.no_grad():
            torch.testing.assert_close(released(ids).logits, plain(ids).logits)
    from h2mt.hmt.artifact import export_hmt, read_meta

    half = export_hmt(folder, tmp_path / "half", "float16")
    assert read_meta(half)["storage_dtype"] == "float16"
    with torch.no_grad():
        approx = load_hmt(llama(llama_dir), half)(ids).logits
    torch.testing.assert_close(approx, ref, rtol=0.05, atol=0.05)


def test_checkpoint_holds_only_trained_tensors(llama_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    hmt = HMT(llama(llama_dir), small_cfg(trainable="memory"))
    names = set(load_file(str(save_hmt(hmt, tmp_path / "m") / "hmt.safetensors")))
    assert names == {"summary_token", "init_memory", "w_q.weight", "w_k.weight"}
    lora = HMT(llama(llama_dir), small_cfg(trainable="lora", lora_targets=("q_proj",)))
    lnames = set(load_file(str(save_hmt(lora, tmp_path / "l") / "hmt.safetensors")))
    assert names < lnames and all("lora_" in n for n in lnames - names)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"segment_len": 34, "sensory_len": 32}, "raise segment_len"),
        ({"segment_len": 16, "sensory_len": 3, "summary_len": 12}, "summary_len"),
        ({"trainable": "everything"}, "trainable"),
        ({"bptt_depth": 0}, "bptt_depth"),
        ({"cache_size": 0}, "cache_size"),
        ({"trainable": "lora", "lora_targets": ()}, "lora_targets"),
        ({"loss_on": "first"}, "loss_on"),
    ],
)
def test_bad_configs_raise_clear_errors(kw: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        HMTConfig(**kw)  # type: ignore[arg-type]


def test_config_dict_roundtrip_and_unknown_keys() -> None:
    cfg = small_cfg(lora_targets=("q_proj",))
    assert HMTConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown HMTConfig fields"):
        HMTConfig.from_dict({**cfg.to_dict(), "colour": "red"})


def test_lora_targets_missing_from_backbone(llama_dir: Path) -> None:
    with pytest.raises(ConfigError, match="lora_targets"):
        HMT(llama(llama_dir), small_cfg(trainable="lora", lora_targets=("no_such_proj",)))


def test_mismatched_checkpoint_is_refused(llama_dir: Path, tmp_path: Path) -> None:
    folder = save_hmt(HMT(llama(llama_dir), small_cfg()), tmp_path / "mem")
    with pytest.raises(ModelError, match="trained for another backbone.*embed_sha256"):
        load_hmt(llama(llama_dir, seed=1, tmp=tmp_path), folder)
    with pytest.raises(ModelError, match="model_type"):
        load_hmt(qwen2(), folder)
    with pytest.raises(ModelNotFoundError, match="not an HMT memory folder"):
        load_hmt(llama(llama_dir), tmp_path / "nowhere")


def test_empty_input_is_refused(llama_dir: Path) -> None:
    hmt = HMT(llama(llama_dir), small_cfg())
    with pytest.raises(InputError, match="non-empty"):
        hmt(torch.zeros(1, 0, dtype=torch.long))


# ------------------------------------------------------------------ decoding
@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_generate_long_prompt_equals_stepwise_greedy(llama_dir: Path, family: str) -> None:
    backbone = llama(llama_dir) if family == "llama" else qwen2()
    cfg = small_cfg(segment_len=24, sensory_len=4)  # B = 18
    hmt = HMT(backbone, cfg).eval()
    perturb(hmt, seed=5)
    prompt = ids_of(3 * cfg.new_tokens + 5, seed=7)
    n_new = 8  # 5 + 8 <= B: decoding stays inside the last segment
    with torch.no_grad():
        got = hmt.generate(prompt, max_new_tokens=n_new)
        ref = prompt
        for _ in range(n_new):
            nxt = hmt(ref).logits[:, -1].argmax(dim=-1, keepdim=True)
            ref = torch.cat([ref, nxt], dim=1)
    assert got.shape == (1, n_new)
    assert torch.equal(got, ref[:, prompt.shape[1] :])


def test_generate_stops_at_eos(llama_dir: Path) -> None:
    hmt = HMT(llama(llama_dir), small_cfg()).eval()
    prompt = ids_of(40, seed=2)
    first = hmt.generate(prompt, max_new_tokens=3)
    out = hmt.generate(prompt, max_new_tokens=10, eos_token_id=int(first[0, 1]))
    assert out.shape[1] == 2 and int(out[0, -1]) == int(first[0, 1])


# ------------------------------------------------------------------ training, QA, import cost
def test_trainer_runs_both_stages_and_resumes(llama_dir: Path, tmp_path: Path) -> None:
    from h2mt.hmt.train.data import TokenizedDocument
    from h2mt.hmt.train.trainer import HMTTrainer

    docs = [TokenizedDocument(f"d{i}", tuple(ids_of(200, seed=i)[0].tolist())) for i in range(3)]
    cfg = small_cfg(trainable="lora", lora_targets=("q_proj",), stage1_steps=2, stage2_steps=2, stage2_segments=3,
                    save_every=1, lr=1e-2)
    out = tmp_path / "run"
    first = HMTTrainer(HMT(llama(llama_dir), cfg), docs, out, progress=False).train(max_minutes=0.0)
    assert first.stopped_early and first.steps == 1
    second = HMTTrainer(HMT(llama(llama_dir), cfg), docs, out, progress=False).train()
    assert second.steps == 4 and not second.stopped_early
    assert (out / "log.jsonl").read_text().count("\n") == 4
    loaded = load_hmt(llama(llama_dir), second.final_dir)
    assert loaded.config.memory_search and loaded.config.trainable == "lora"
    with pytest.raises(ConfigError, match="another HMTConfig"):
        HMTTrainer(HMT(llama(llama_dir), cfg.replace(lr=5e-3)), docs, out, progress=False).train()


def test_document_split_is_deterministic_and_disjoint() -> None:
    from h2mt.hmt.train.data import Document, split_documents

    docs = [Document(f"doc{i}.html", "x") for i in range(200)]
    train, held = split_documents(docs, 0.2)
    train2, held2 = split_documents(list(reversed(docs)), 0.2)
    assert {d.name for d in held} == {d.name for d in held2} and {d.name for d in train} == {d.name for d in train2}
    assert not {d.name for d in train} & {d.name for d in held}
    assert 20 <= len(held) <= 60


def test_answer_with_memory_reports_stats(llama_dir: Path) -> None:
    from h2mt.hmt import answer_with_memory
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(llama_dir)
    hmt = HMT(llama(llama_dir), small_cfg(segment_len=64, sensory_len=8)).eval()
    doc = " ".join(["The capital of France is Paris."] * 40)
    ans = answer_with_memory(hmt, tok, doc, "What is the capital of France?", max_new_tokens=5)
    assert isinstance(ans.text, str)
    assert 1 <= ans.stats.completion_tokens <= 5
    assert ans.stats.prompt_tokens > len(tok(doc)["input_ids"])
    assert 0 < ans.stats.first_token_ms <= ans.stats.total_ms
    assert ans.segments >= 2


def test_import_is_cheap() -> None:
    code = "import sys, h2mt.hmt; h2mt.hmt.HMTConfig(); assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_eval_methods_agree_where_they_must(llama_dir: Path) -> None:
    from h2mt.hmt.train.evaluate import markdown_table, score_method

    backbone = llama(llama_dir)
    ids = ids_of(40, seed=4)
    full = score_method("full", ids, 64, backbone=backbone)
    assert full[1] == 39
    for method in ("segments", "sliding"):  # a window holding the whole input is full context
        got = score_method(method, ids, 64, backbone=backbone)
        assert got[1] == 39 and abs(got[0] - full[0]) < 1e-3 * abs(full[0])
    seg, slide = score_method("segments", ids, 8, backbone=backbone), score_method("sliding", ids, 8, backbone=backbone)
    assert seg[1] == slide[1] == 39 and seg[0] != slide[0]
    hmt = HMT(backbone, small_cfg(use_memory=False, segment_len=8))
    nll, n = score_method("hmt", ids, 8, hmt=hmt)  # memory off = the no-memory segments baseline
    assert n == 39 and abs(nll - seg[0]) < 1e-3 * abs(seg[0])
    rows = [{"length": 40, "method": m, "docs": 1, "ppl": p, "peak_rss_mb": 1.0, "s_per_1k_tokens": 0.1}
            for m, p in (("segments", 10.0), ("hmt", 9.0))]
    table = markdown_table(rows + [{"length": 40, "method": "full", "skipped": "> context window 8"}])
    assert "-10.0%" in table and "n/a (> context window 8)" in table


def test_gradient_checkpointing_gives_the_same_gradients(llama_dir: Path) -> None:
    ids = ids_of(3 * small_cfg().new_tokens)
    grads = []
    for ckpt in (False, True):
        hmt = HMT(llama(llama_dir), small_cfg(trainable="lora", lora_targets=("q_proj",)))
        if ckpt:
            hmt.enable_gradient_checkpointing()
        hmt.train()
        grads.append(_grads(hmt, ids, None))
    for name, g in grads[0].items():
        assert g is not None
        torch.testing.assert_close(grads[1][name], g, rtol=1e-4, atol=1e-6)


def test_bfloat16_backbone_runs_and_keeps_fp32_search(llama_dir: Path) -> None:
    backbone = AutoModelForCausalLM.from_pretrained(llama_dir, dtype=torch.bfloat16).eval()
    hmt = HMT(backbone, small_cfg())
    assert hmt.dtype == torch.bfloat16 and hmt.w_q.weight.dtype == torch.float32
    ids = ids_of(3 * hmt.config.new_tokens + 2)
    out = hmt(ids, labels=ids)
    assert out.logits is not None and out.logits.dtype == torch.bfloat16 and torch.isfinite(out.loss).all()
    assert all(m.dtype == torch.bfloat16 for m in out.state.memories)
    assert hmt.generate(ids, max_new_tokens=3).shape == (1, 3)


@pytest.mark.integration
def test_shipped_memory_fits_the_default_generator() -> None:
    from h2mt.hmt import default_weights_path, load_default_hmt
    from h2mt.hmt.artifact import read_meta

    folder = default_weights_path()
    if not (folder / "hmt.json").is_file():
        pytest.skip("no shipped HMT memory in this checkout")
    assert (folder / "hmt.safetensors").stat().st_size < 10 * 2**20  # small enough to ship
    meta = read_meta(folder)
    assert meta["storage_dtype"] in ("float16", "bfloat16") and meta["config"]["trainable"] == "lora"
    try:
        hmt, tok = load_default_hmt(device="cpu")
    except ModelNotFoundError:
        pytest.skip("the default generator is not installed")
    assert hmt.w_q.weight.dtype == torch.float32  # stored half, loaded back to float32
    ids = tok("Bash is the GNU shell. " * 30, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = hmt(ids, labels=ids, return_logits=False)
    assert out.loss is not None and float(out.loss) < 5.0 and len(out.state.memories) >= 1


def test_shipped_memory_lookup_refuses_a_generator_without_one(llama_dir: Path) -> None:
    from h2mt.config import MemoryConfig
    from h2mt.hmt.artifact import shipped_memories, shipped_weights_path
    from h2mt.hmt.attach import weights_path

    shipped = shipped_memories()
    assert all(fp["hidden_size"] != 64 for fp in shipped.values())  # nothing shipped for a tiny model
    with pytest.raises(ConfigError, match="no HMT memory is shipped for this generator"):
        shipped_weights_path(llama(llama_dir))
    with pytest.raises(ConfigError, match="--hmt-weights"):
        weights_path(MemoryConfig(kind="hmt"), {}, llama(llama_dir))
    # an explicit folder always wins, and is not looked up
    assert weights_path(MemoryConfig(kind="hmt", weights="/some/run"), {}, llama(llama_dir)) == Path("/some/run")


def test_shipped_memory_lookup_matches_the_embedding_not_only_the_sizes(llama_dir: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from h2mt.hmt import artifact

    root = tmp_path / "weights"
    model = llama(llama_dir)
    save_hmt(HMT(model, small_cfg()), root / "for-this-model")
    monkeypatch.setattr(artifact, "_WEIGHTS_DIR", root)
    assert artifact.shipped_weights_path(model) == root / "for-this-model"
    other = llama(llama_dir, seed=7, tmp=tmp_path)  # same sizes, other weights
    with pytest.raises(ConfigError, match="for-this-model"):
        artifact.shipped_weights_path(other)


@pytest.mark.integration
def test_every_shipped_memory_names_its_generator() -> None:
    from h2mt.backends.presets import PRESETS
    from h2mt.hmt.artifact import shipped_memories

    shipped = {f.name: fp for f, fp in shipped_memories().items()}
    assert "smollm2-135m-instruct" in shipped
    for name, fp in shipped.items():  # folder = a preset's model name, lower case; its sizes match it
        assert any(p.model_name.lower() == name for p in PRESETS.values()), name
        assert (fp["model_type"], fp["hidden_size"]) in {("llama", 576), ("qwen2", 896)}, (name, fp)


def test_cached_memories_do_not_pin_segment_activations(llama_dir: Path) -> None:
    hmt = HMT(llama(llama_dir), small_cfg()).eval()
    with torch.no_grad():
        state = hmt.read(ids_of(5 * hmt.config.new_tokens))
    assert len(state.memories) == 5
    for m in state.memories:  # each cached memory owns just its (b, d) values
        assert m.untyped_storage().nbytes() == m.numel() * m.element_size()
