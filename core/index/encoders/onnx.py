"""The sentence-transformers encoder on ONNX Runtime (fp32, or int8 dynamically quantized).

The transformer of a sentence-transformers folder (default: the embedded all-MiniLM-L6-v2) is
exported once with ``torch.onnx`` (int8: then quantized with ONNX Runtime's dynamic
quantization) into a cache folder beside the converted generators
(``<cache root>/onnx/<model>-<hash>-<variant>``), written to a temporary folder first and
published with one rename, so an interrupted export never leaves a half-written model. Later
loads need only ``onnxruntime`` and ``tokenizers`` (no torch). Mean pooling and L2 normalisation are done
here in numpy, as the model's ``1_Pooling`` / ``2_Normalize`` modules do.

Texts are tokenized first and encoded in batches sorted by token count (longest first), each
batch at most ``batch_size`` texts and ``batch_tokens`` padded tokens, so a batch pads little and
stays small enough for the CPU caches (sorting by characters, as sentence-transformers does,
pads code and SQL badly: token-sorted batches of at most 512 tokens encode the PostgreSQL
leaves about 2x faster). The rows come back in the given order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ...errors import ModelError, ModelNotFoundError
from ...extras import require

if TYPE_CHECKING:
    import numpy as np

__all__ = ["OnnxEncoder", "OnnxVariant", "export_onnx", "onnx_cache_dir"]

log = logging.getLogger(__name__)

OnnxVariant = Literal["onnx", "onnx-int8"]
_FORMAT = 3  # bump to invalidate exports written by an older version of this module
_MARKER = "h2mt-onnx.json"  # written last: its presence means the folder is complete
_MODEL_FILE = "model.onnx"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                    "config.json", "sentence_bert_config.json")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_OPSET = 17


def _weights_key(model_dir: Path) -> str:
    """Short hash of the weight files' names, sizes and mtimes (changes when the model does)."""
    digest = hashlib.sha256(f"{_FORMAT}".encode())
    for f in sorted(model_dir.iterdir()):
        if f.is_file() and f.suffix in (".safetensors", ".bin", ".json"):
            st = f.stat()
            digest.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return digest.hexdigest()[:12]


def onnx_cache_dir(model_dir: Path, variant: OnnxVariant, cache_dir: str | None = None) -> Path:
    """Cache folder of the ``variant`` export of ``model_dir``."""
    from ...backends.resolve import cache_root
    from ...config import BackendConfig

    root = cache_root(BackendConfig(cache_dir=cache_dir))
    return root / "onnx" / f"{model_dir.resolve().name}-{_weights_key(model_dir)}-{variant}"


def _export_fp32(model_dir: Path, out: Path) -> None:
    """``torch.onnx`` export of the transformer: (B, T) ids/mask/types -> (B, T, D) hidden states."""
    torch = require("torch", "Exporting the encoder to ONNX")
    transformers = require("transformers", "Exporting the encoder to ONNX")
    from ...backends.quiet import quiet_progress_bars

    with quiet_progress_bars():
        model = transformers.AutoModel.from_pretrained(str(model_dir), attn_implementation="eager",
                                                       local_files_only=True).eval()

    class _Hidden(torch.nn.Module):  # type: ignore[misc, name-defined]
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state  # (B, T, D)

    ids = torch.ones((2, 8), dtype=torch.long)  # (B, T) dummy batch; both axes are dynamic
    axes = {name: {0: "batch", 1: "seq"} for name in (*_INPUTS, "last_hidden_state")}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on shape-dependent branches that do not apply here
        torch.onnx.export(_Hidden(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(out),
                          dynamo=False, input_names=list(_INPUTS), output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=_OPSET)


def _fuse(src: Path, out: Path, model_dir: Path) -> None:
    """ONNX Runtime's transformer optimizer on the fp32 export: the BERT attention, LayerNorm, GELU
    and bias-add subgraphs become single fused operators (same arithmetic, fewer kernels)."""
    optimizer = require("onnxruntime.transformers.optimizer", "Optimising the ONNX encoder")
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = optimizer.optimize_model(str(src), model_type="bert", opt_level=1, use_gpu=False,
                                         num_heads=int(config.get("num_attention_heads", 0)),
                                         hidden_size=int(config.get("hidden_size", 0)))
    model.save_model_to_file(str(out))


def _quiet_quantizer(record: logging.LogRecord) -> bool:
    """Root-logger filter: drop the quantizer's own records below ERROR."""
    return record.levelno >= logging.ERROR or "onnxruntime" not in record.pathname


def _export_into(model_dir: Path, variant: OnnxVariant, dest: Path) -> None:
    raw = dest / "raw.onnx"
    _export_fp32(model_dir, raw)
    fused = dest / (_MODEL_FILE if variant == "onnx" else "fp32.onnx")
    _fuse(raw, fused, model_dir)
    raw.unlink()
    if variant == "onnx-int8":
        quant = require("onnxruntime.quantization", "Quantizing the ONNX encoder to int8")
        root = logging.getLogger()
        root.addFilter(_quiet_quantizer)  # its generic advice goes to the root logger; nothing else is hidden
        try:
            quant.quantize_dynamic(str(fused), str(dest / _MODEL_FILE), weight_type=quant.QuantType.QInt8,
                                  per_channel=True,  # per-tensor scales lose too much (cosine ~0.93)
                                  extra_options={"DefaultTensorType": 1})  # FLOAT, for the fused operators
        finally:
            root.removeFilter(_quiet_quantizer)
        fused.unlink()
    for name in _TOKENIZER_FILES:
        if (model_dir / name).is_file():
            shutil.copy2(model_dir / name, dest / name)
    info = {"source": str(model_dir), "variant": variant, "format": _FORMAT, "time": time.time()}
    (dest / _MARKER).write_text(json.dumps(info, indent=1), encoding="utf-8")  # last


def export_onnx(model_dir: str | os.PathLike[str], variant: OnnxVariant = "onnx",
                cache_dir: str | None = None) -> Path:
    """Return the cached ONNX folder of ``model_dir`` (``variant`` ``onnx`` or ``onnx-int8``),
    exporting it first if needed; the export is published atomically."""
    src = Path(model_dir)
    final = onnx_cache_dir(src, variant, cache_dir)
    if (final / _MARKER).is_file():
        return final
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"Cannot create the encoder cache folder {final.parent}: {exc}. "
                         "Set EncoderConfig.cache_dir or $H2MT_CACHE_DIR.") from exc
    log.info("exporting the encoder %s to %s once; cached at %s", src.name, variant, final)
    tmp = Path(tempfile.mkdtemp(prefix=f".h2mt-tmp-{final.name}-", dir=final.parent))
    try:
        try:
            _export_into(src, variant, tmp)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ModelError(f"Could not export the encoder {src} to ONNX: {exc}") from exc
        os.chmod(tmp, 0o755)
        try:
            os.replace(tmp, final)
        except OSError as exc:
            if not (final / _MARKER).is_file():  # a concurrent export that won is kept
                raise ModelError(
                    f"Could not write the ONNX encoder to {final}; check permissions and disk space."
                ) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _max_length(folder: Path) -> int:
    """The model's ``max_seq_length`` (sentence-transformers config), else the tokenizer's limit, else 512."""
    for name, key in (("sentence_bert_config.json", "max_seq_length"), ("tokenizer_config.json", "model_max_length")):
        f = folder / name
        if f.is_file():
            value = json.loads(f.read_text(encoding="utf-8")).get(key)
            if isinstance(value, int) and 0 < value <= 8192:
                return value
    return 512


def _load_tokenizer(folder: Path, max_length: int) -> Any:
    """The fast tokenizer alone (``tokenizers``, no torch): no padding, truncation at ``max_length``."""
    tokenizers = require("tokenizers", "The ONNX encoder's tokenizer")
    if not (folder / "tokenizer.json").is_file():
        raise ModelNotFoundError(f"The ONNX encoder needs a fast tokenizer (tokenizer.json) in {folder}")
    tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()  # batches are padded by the encoder, after sorting by token count
    tok.enable_truncation(max_length=max_length)
    return tok


class OnnxEncoder:
    """A sentence-transformers model (mean pooling, normalised) run by ONNX Runtime on CPU.

    ``variant`` ``onnx`` is the fp32 export (embeddings equal torch's within float error),
    ``onnx-int8`` the dynamically quantized one (smaller and faster; cosine to torch > 0.97).
    The recorded name is the torch encoder's name plus ``:onnx`` / ``:onnx-int8``, so an index
    refuses queries embedded by a different runtime.
    """

    def __init__(self, model: str | None = None, *, variant: OnnxVariant = "onnx", batch_size: int = 16,
                 batch_tokens: int = 512, cache_dir: str | None = None, threads: int | None = None) -> None:
        from .names import default_encoder_path, encoder_name

        ort = require("onnxruntime", "The ONNX encoder")
        src = Path(model or default_encoder_path())
        if not (src / "config.json").is_file():
            raise ModelNotFoundError(
                f"The encoder folder {src} has no config.json; give a sentence-transformers folder"
            )
        self.folder = export_onnx(src, variant, cache_dir)
        self.max_length = _max_length(self.folder)
        self._tokenizer = _load_tokenizer(self.folder, self.max_length)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(self.folder / _MODEL_FILE), opts, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dim = int(self._session.get_outputs()[0].shape[-1])
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.variant: OnnxVariant = variant
        self.kind = "sentence-transformers"
        self.model = model
        from ...config import EncoderConfig

        self.name = encoder_name(EncoderConfig(model=model, backend=variant))

    def meta(self) -> dict[str, Any]:
        """What the index records about this encoder (enough for :func:`h2mt.index.encoders.base.load_encoder`)."""
        return {"name": self.name, "dim": self.dim, "kind": self.kind, "model": self.model, "backend": self.variant}

    def _run(self, encs: Sequence[Any]) -> np.ndarray:
        """Mean-pooled hidden states of one batch of tokenized texts, padded here to the longest."""
        import numpy as np

        width = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), width), dtype=np.int64)  # (B, T), pad id 0
        mask = np.zeros_like(ids)  # (B, T)
        types = np.zeros_like(ids)  # (B, T)
        for j, e in enumerate(encs):
            ids[j, : len(e.ids)] = e.ids
            mask[j, : len(e.ids)] = 1
            types[j, : len(e.ids)] = e.type_ids
        given = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden = self._session.run(None, {k: v for k, v in given.items() if k in self._inputs})[0]  # (B, T, D)
        m = mask[..., None].astype(np.float32)  # (B, T, 1)
        return np.asarray((hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9), dtype=np.float32)  # (B, D)

    def batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Row indices grouped into batches: longest first by token count, each batch at most
        ``batch_size`` texts and ``batch_tokens`` padded tokens (a longer text goes alone)."""
        order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
        out: list[list[int]] = []
        s = 0
        while s < len(order):
            width = max(1, lengths[order[s]])  # the longest left: it sets this batch's padding
            n = max(1, min(self.batch_size, self.batch_tokens // width))
            out.append(order[s : s + n])
            s += n
        return out

    def plan(self, texts: Sequence[str]) -> list[list[int]]:
        """The batches :meth:`encode` uses for ``texts``: row indices, see :meth:`batches`. A
        distributed build encodes exactly these batches (:meth:`encode_batch`), so its
        embeddings equal a local build's even with int8's per-batch activation scales."""
        return self.batches([len(e.ids) for e in self._tokenizer.encode_batch(list(texts))])

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` as one batch (no sorting or splitting); L2-normalised rows."""
        from .names import normalise_rows as _normalise

        return _normalise(self._run(self._tokenizer.encode_batch(list(texts))))

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed in token-length-sorted batches; rows in the given order, L2-normalised."""
        import numpy as np
        from tqdm.auto import tqdm

        from .names import normalise_rows as _normalise

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encs = self._tokenizer.encode_batch(list(texts))  # truncated at max_length, unpadded
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for rows in tqdm(self.batches([len(e.ids) for e in encs]), desc="encoding", unit="batch",
                         disable=not progress):
            out[rows] = self._run([encs[i] for i in rows])
        return _normalise(out)
