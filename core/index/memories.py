"""Node memories from the generator: each tree node gets an HMT memory M and a summary key S.

- leaf: the HMT cell run on the leaf's tokens (section title line + text, as the encoder reads
  it) from an empty state — :meth:`HMT.segment_step` with the learned initial memory, then the
  read-out memory (a leaf longer than one segment is read segment by segment; its memory is the
  last one); its key is :meth:`HMT.encode_summary` of the same tokens;
- internal node, bottom-up in post-order: the query q is the summary of its title when it has
  one, else the mean of its children's summaries; its memory is HMT's cross-attention pooling
  of the children's memories, softmax((q W_q)(M W_k)^T / sqrt(d_h)) M (:meth:`HMT.recall`), or
  their plain mean (``aggregate="mean"``, the baseline); its key is q.

Arrays are (N, d) float32 here; the index stores them as ``MemoryConfig.dtype``. The index's
``meta["hmt"]`` records the backbone fingerprint and a hash of the HMT weights, so a memory is
never read by a generator or HMT it was not made with (:func:`check_memories`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..config import MemoryConfig
from ..errors import ConfigError, ModelError
from ..types import Node, NodeKind

if TYPE_CHECKING:
    import os

    import numpy as np
    from torch import Tensor

    from .index import Index

__all__ = ["fill_memories", "refresh_root", "AGGREGATES", "leaf_input", "weights_hash", "memory_meta",
           "leaf_memory", "aggregate_node", "compute_memories", "reaggregate_root", "check_memories",
           "require_memories"]

log = logging.getLogger(__name__)

AGGREGATES = ("recall", "mean")


def leaf_input(node: Node) -> str:
    """What the HMT cell reads for a leaf: its section title line, then its text."""
    return node.titled_text


def weights_hash(hmt: Any) -> str:
    """SHA-256 (hex, first 16) of the HMT's trained tensors (memory parameters, LoRA), as float32."""
    import torch

    from ..hmt.adapt import trained_state

    h = hashlib.sha256()
    for name, p in sorted(trained_state(hmt).items()):
        h.update(name.encode())
        h.update(p.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def memory_meta(hmt: Any, aggregate: str, weights: str, dtype: str) -> dict[str, Any]:
    """``meta["hmt"]`` of an index with memories: who made them and how."""
    from ..hmt.artifact import backbone_fingerprint

    return {"fingerprint": backbone_fingerprint(hmt.backbone), "weights_sha256": weights_hash(hmt),
            "weights": weights, "aggregate": aggregate, "dim": int(hmt.hidden_size), "dtype": dtype,
            "config": hmt.config.to_dict()}


def _ids(tokenizer: Any, text: str, device: Any) -> Tensor:
    import torch

    ids = [int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"]] or [0]
    return torch.tensor([ids], dtype=torch.long, device=device)  # (1, T)


def leaf_memory(hmt: Any, ids: Tensor) -> tuple[Tensor, Tensor]:
    """(M, S), each ``(d,)`` float32, of one leaf's token ids ``(1, T)`` read from an empty state."""
    from ..hmt.model import HMTState
    from ..hmt.segments import segment_bounds

    state, memory = HMTState(), None
    for a, e in segment_bounds(ids.shape[1], hmt.config.new_tokens):
        res = hmt.segment_step(ids[:, a:e], state, logits=False)
        state, memory = res.state, res.memory
    if memory is None:
        raise ConfigError("this HMT has use_memory=False: it makes no memories; load a trained memory")
    summary = hmt.encode_summary(ids)  # (1, d)
    return memory[0].float(), summary[0].float()


def aggregate_node(hmt: Any, child_mem: Tensor, child_sum: Tensor, title_sum: Tensor | None,
                   aggregate: str) -> tuple[Tensor, Tensor]:
    """(M, q) ``(d,)`` of an internal node from its children's memories/summaries ``(C, d)``."""
    import math

    import torch

    q = title_sum if title_sum is not None else child_sum.mean(dim=0)  # (d,)
    if aggregate == "mean":
        return child_mem.mean(dim=0), q
    if child_mem.shape[0] <= hmt.config.cache_size:
        pooled = hmt.recall(q[None], [m[None] for m in child_mem])[0]  # (d,) HMT's memory search
        return pooled.float(), q
    # more children than HMT's cache holds: the same attention over all of them
    k = child_mem.float() @ hmt.w_k.weight.float().T  # (C, d_h)
    s = (hmt.w_q.weight.float() @ q.float()) @ k.T / math.sqrt(hmt.config.key_dim)  # (C,)
    return torch.softmax(s, dim=0) @ child_mem.float(), q


def _title_summaries(hmt: Any, tokenizer: Any, nodes: Sequence[Node]) -> dict[int, Tensor]:
    return {n.id: hmt.encode_summary(_ids(tokenizer, n.title, hmt.device))[0].float()
            for n in nodes if n.kind != NodeKind.LEAF and n.title}


def compute_memories(
    index: Index, hmt: Any, tokenizer: Any, aggregate: str = "recall", *, progress: bool = False,
    dtype: str = "float32",
) -> tuple[np.ndarray, np.ndarray]:
    """(memory, summary), each (N, d) float32, for every node of ``index`` (post-order).

    Every row is rounded to the storage ``dtype`` before its parent reads it, so each stored
    internal memory is exactly the aggregate of its stored children.
    """
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    store = getattr(torch, dtype)

    def rounded(pair: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        return pair[0].to(store).float(), pair[1].to(store).float()

    if aggregate not in AGGREGATES:
        raise ConfigError(f"MemoryConfig.aggregate must be one of {', '.join(AGGREGATES)}, got {aggregate!r}")
    nodes = index.nodes
    mem: dict[int, Tensor] = {}
    summ: dict[int, Tensor] = {}
    leaves = [n for n in nodes if n.kind == NodeKind.LEAF]
    with torch.inference_mode():
        for n in tqdm(leaves, desc="HMT memories", unit="leaf", disable=not progress):
            mem[n.id], summ[n.id] = rounded(leaf_memory(hmt, _ids(tokenizer, leaf_input(n), hmt.device)))
        titles = _title_summaries(hmt, tokenizer, nodes)
        for n in reversed(nodes):  # pre-order ids: reverse id order is a post-order
            if n.kind == NodeKind.LEAF:
                continue
            kids = n.children
            m, s = aggregate_node(hmt, torch.stack([mem[c].to(hmt.device) for c in kids]),
                                  torch.stack([summ[c].to(hmt.device) for c in kids]), titles.get(n.id), aggregate)
            mem[n.id], summ[n.id] = rounded((m, s))
    out_m = np.stack([mem[i].float().cpu().numpy() for i in range(len(nodes))]).astype(np.float32)
    out_s = np.stack([summ[i].float().cpu().numpy() for i in range(len(nodes))]).astype(np.float32)
    return out_m, out_s


def reaggregate_root(index: Index, hmt: Any, tokenizer: Any, aggregate: str) -> None:
    """Recompute the root's memory and key from its (document) children, in place (after an update)."""
    import numpy as np
    import torch

    assert index.hmt_memory is not None and index.hmt_summary is not None
    root = index.root
    kids = root.children
    with torch.inference_mode():
        title = _title_summaries(hmt, tokenizer, [root]).get(root.id)
        m, s = aggregate_node(hmt, torch.as_tensor(index.hmt_memory[kids]).float().to(hmt.device),
                              torch.as_tensor(index.hmt_summary[kids]).float().to(hmt.device), title, aggregate)
    dtype = index.hmt_memory.dtype
    index.hmt_memory = np.array(index.hmt_memory, copy=True)
    index.hmt_summary = np.array(index.hmt_summary, copy=True)
    index.hmt_memory[0] = m.float().cpu().numpy().astype(dtype)
    index.hmt_summary[0] = s.float().cpu().numpy().astype(dtype)


def require_memories(index: Index, what: str) -> None:
    """Raise :class:`ConfigError` when ``index`` holds no HMT memories but ``what`` needs them."""
    if index.hmt_memory is None or index.hmt_summary is None:
        raise ConfigError(
            f"{what} needs HMT node memories, but this index has none; rebuild it with "
            "`h2mt build ... --memories hmt` (or H2MT.build(..., memories='hmt')), or use the text prefill "
            "and memory_weight=0."
        )


def check_memories(index: Index, hmt: Any, what: str = "memory prefill") -> None:
    """Refuse memories made by another generator (fingerprint) or another HMT (weights hash)."""
    from ..hmt.artifact import backbone_fingerprint

    require_memories(index, what)
    made = index.meta.get("hmt", {})
    actual = backbone_fingerprint(hmt.backbone)
    diffs = [k for k in ("model_type", "hidden_size", "vocab_size", "num_hidden_layers", "embed_sha256")
             if made.get("fingerprint", {}).get(k) != actual.get(k)]
    if diffs:
        raise ModelError(
            f"the index's HMT memories were made with another generator (differs in {', '.join(diffs)}); "
            "load the generator the index was built with, or rebuild it with `h2mt build --memories hmt`."
        )
    if made.get("weights_sha256") != weights_hash(hmt):
        raise ModelError(
            f"the index's HMT memories were made with other HMT weights ({made.get('weights')!r}); "
            "load those weights (--hmt-weights), or rebuild the index with these."
        )


def fill_memories(index: Index, hmt: Any, tokenizer: Any, cfg: MemoryConfig, weights: str | os.PathLike[str],
                  progress: bool = False) -> None:
    """Compute every node's HMT memory and key into ``index`` (stored as ``cfg.dtype``)."""
    import time

    t0 = time.perf_counter()
    memory, summary = compute_memories(index, hmt, tokenizer, cfg.aggregate, progress=progress, dtype=cfg.dtype)
    index.hmt_memory, index.hmt_summary = memory.astype(cfg.dtype), summary.astype(cfg.dtype)
    index.meta["hmt"] = {**memory_meta(hmt, cfg.aggregate, str(weights), cfg.dtype),
                         "build_s": time.perf_counter() - t0}


def refresh_root(index: Index, hmt: Any, tokenizer: Any) -> None:
    """After add/remove: re-aggregate the root from its documents with the index's own rule."""
    if index.has_memories:
        reaggregate_root(index, hmt, tokenizer, str(index.meta.get("hmt", {}).get("aggregate", "recall")))
