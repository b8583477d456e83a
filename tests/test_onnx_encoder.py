"""h2mt.index.encoders.onnx: the MiniLM encoder on ONNX Runtime (fp32 and int8), its cache, its name."""

from __future__ import annotations

import numpy as np
import pytest
from h2mt import H2MT, ConfigError, EncoderConfig
from h2mt.index.encoders.base import DEFAULT_ENCODER_NAME, encoder_meta, encoder_name, load_encoder

SENTENCES = [
    "PIPESTATUS is an array variable holding the exit status of each command in the last pipeline.",
    "max_connections determines the maximum number of concurrent connections to the database server.",
    "The capital of France is Paris.",
    "short",
    "FUNCNEST: if set to a numeric value greater than 0, defines a maximum function nesting level. " * 12,
]


def test_encoder_names_keep_the_torch_name_and_add_the_runtime():
    # old indexes keep working
    assert encoder_name(EncoderConfig(backend="torch")) == DEFAULT_ENCODER_NAME == "all-MiniLM-L6-v2"
    assert encoder_name(EncoderConfig()) == "all-MiniLM-L6-v2:onnx-int8"  # auto: int8 on the CPU
    assert encoder_name(EncoderConfig(device="cuda")) == "all-MiniLM-L6-v2"  # auto: torch on a GPU
    assert EncoderConfig(kind="hashing").runtime == "torch"  # auto means nothing for other kinds
    assert encoder_name(EncoderConfig(backend="onnx")) == "all-MiniLM-L6-v2:onnx"
    assert encoder_name(EncoderConfig(backend="onnx-int8")) == "all-MiniLM-L6-v2:onnx-int8"
    assert encoder_name(EncoderConfig(model="/m/bge-small/", backend="onnx")) == "st:bge-small:onnx"


def test_encoder_backend_is_validated():
    with pytest.raises(ConfigError, match="auto, torch, onnx or onnx-int8"):
        EncoderConfig(backend="tensorrt")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="kind='sentence-transformers' only"):
        EncoderConfig(kind="hashing", backend="onnx")


def _batcher(batch_size: int, batch_tokens: int):
    from h2mt.index.encoders.onnx import OnnxEncoder

    enc = OnnxEncoder.__new__(OnnxEncoder)  # the batching rule alone: no model needed
    enc.batch_size, enc.batch_tokens = batch_size, batch_tokens
    return enc


@pytest.mark.parametrize(("batch_size", "batch_tokens"), [(16, 512), (4, 10_000), (64, 100), (1, 1)])
def test_batches_are_token_sorted_and_bounded(batch_size: int, batch_tokens: int) -> None:
    lengths = [int(x) for x in np.random.default_rng(batch_size).integers(1, 257, size=300)] + [300, 7, 7]
    batches = _batcher(batch_size, batch_tokens).batches(lengths)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))  # every text once
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)  # longest first, by tokens
    for b in batches:
        assert 1 <= len(b) <= batch_size
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= batch_tokens  # padded tokens bounded
    assert _batcher(16, 512).batches([]) == []


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    """One export cache for the module: EncoderConfig.cache_dir, and $H2MT_CACHE_DIR for encoders
    rebuilt from an index's record."""
    root = str(tmp_path_factory.mktemp("onnx-cache"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("H2MT_CACHE_DIR", root)
        yield root


@pytest.fixture(scope="module")
def torch_rows() -> np.ndarray:
    pytest.importorskip("sentence_transformers")
    return load_encoder(EncoderConfig(backend="torch")).encode(SENTENCES)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.integration
@pytest.mark.parametrize(("variant", "floor"), [("onnx", 0.99), ("onnx-int8", 0.97)])
def test_onnx_embeddings_match_torch(variant: str, floor: float, cache: str, torch_rows: np.ndarray) -> None:
    pytest.importorskip("onnxruntime", reason="pip install 'h2mt[hf]'")
    enc = load_encoder(EncoderConfig(backend=variant, cache_dir=cache, batch_size=2))  # type: ignore[arg-type]
    rows = enc.encode(SENTENCES)
    assert rows.shape == torch_rows.shape and rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    cos = _cos(rows, torch_rows)
    assert cos.min() > floor, cos
    if variant == "onnx":
        assert cos.min() > 0.9999  # the same fp32 weights: float error only
    # length-sorted batching returns rows in the given order, whatever the batch size
    np.testing.assert_allclose(enc.encode(SENTENCES[::-1])[::-1], rows, atol=1e-5)
    plan = enc.plan(SENTENCES)  # the batches encode() uses, one by one (what Ray actors run)
    by_plan = np.zeros_like(rows)
    for b in plan:
        by_plan[b] = enc.encode_batch([SENTENCES[i] for i in b])
    np.testing.assert_array_equal(by_plan, rows)
    if variant == "onnx":  # padding is masked: a row does not depend on its batch mates
        enc.batch_size, enc.batch_tokens = 64, 1
        np.testing.assert_allclose(enc.encode(SENTENCES), rows, atol=1e-5)  # one text per batch
        enc.batch_size, enc.batch_tokens = 64, 100_000
        np.testing.assert_allclose(enc.encode(SENTENCES), rows, atol=1e-5)  # one batch
        enc.batch_size, enc.batch_tokens = 2, 512
    assert enc.encode([]).shape == (0, enc.dim)
    # meta round trip: the index's record rebuilds the same runtime from the cache
    meta = encoder_meta(enc)
    assert meta == {"name": f"all-MiniLM-L6-v2:{variant}", "dim": 384, "kind": "sentence-transformers",
                    "model": None, "backend": variant}
    again = load_encoder({**meta})
    assert again.name == enc.name and again.folder == enc.folder  # the cached export, not a new one
    assert (enc.folder / "model.onnx").is_file() and str(enc.folder).startswith(cache)
    assert not [p for p in enc.folder.parent.iterdir() if p.name.startswith(".h2mt-tmp-")]  # published whole
    alone = again.encode(SENTENCES[:2])
    if variant == "onnx":
        np.testing.assert_allclose(alone, rows[:2], atol=1e-5)
    else:  # dynamic int8 scales activations per batch: other batch mates move a row slightly
        assert _cos(alone, rows[:2]).min() > 0.99


@pytest.mark.integration
def test_a_cached_onnx_encoder_runs_without_torch(cache: str, torch_rows: np.ndarray) -> None:
    pytest.importorskip("onnxruntime", reason="pip install 'h2mt[hf]'")
    import subprocess
    import sys

    load_encoder(EncoderConfig(backend="onnx-int8"))  # exported (or found) in the module's cache
    code = ("import sys; from h2mt import EncoderConfig; from h2mt.index.encoders.base import load_encoder; "
            "e = load_encoder(EncoderConfig(backend='onnx-int8')); x = e.encode(['The capital of France is Paris.']); "
            "print(x.shape, 'torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split()[-2:] == ["False", "False"], out.stdout + out.stderr  # onnxruntime + tokenizers only


@pytest.mark.integration
def test_index_refuses_an_encoder_of_another_runtime(cache: str, tmp_path) -> None:
    pytest.importorskip("onnxruntime", reason="pip install 'h2mt[hf]'")
    from h2mt.index.chunking import SimpleTokenCounter

    from tests._docs import manual

    onnx = load_encoder(EncoderConfig(backend="onnx-int8", cache_dir=cache))
    eng = H2MT.build([manual()], encoder=onnx, token_counter=SimpleTokenCounter())
    assert eng.index.meta["encoder"]["name"] == "all-MiniLM-L6-v2:onnx-int8"
    eng.save(tmp_path / "m.h2mt")
    with pytest.raises(ConfigError, match=r"built with encoder 'all-MiniLM-L6-v2:onnx-int8' but 'all-MiniLM-L6-v2'"):
        H2MT.load(tmp_path / "m.h2mt", encoder=load_encoder(EncoderConfig(backend="torch")))
    back = H2MT.load(tmp_path / "m.h2mt")
    assert back.encoder.name == "all-MiniLM-L6-v2:onnx-int8"  # rebuilt from the index's record
    r1 = back.route("What does PIPESTATUS contain?", budget=256)
    r2 = eng.route("What does PIPESTATUS contain?", budget=256)
    assert r1.kept and [k.node.id for k in r1.kept] == [k.node.id for k in r2.kept]


def test_missing_scale_extras_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without onnxruntime / ray / openai each option names its extra in one line."""
    from h2mt import BackendConfig, MissingExtraError
    from h2mt.backends.openai_backend import OpenAIBackend
    from h2mt.index.distributed import build_on_ray

    for mod in ("onnxruntime", "ray", "openai"):
        monkeypatch.setitem(__import__("sys").modules, mod, None)  # import fails as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'h2mt\[hf\]'"):  # the default runtime is in [hf]
        load_encoder(EncoderConfig(backend="onnx-int8"))
    with pytest.raises(MissingExtraError, match=r"Building on Ray needs ray.*pip install 'h2mt\[ray\]'"):
        build_on_ray(["notes.md"])
    with pytest.raises(MissingExtraError, match=r"pip install 'h2mt\[openai\]'"):
        OpenAIBackend(BackendConfig(kind="openai", base_url="http://127.0.0.1:1/v1"), tokenizer=None)
