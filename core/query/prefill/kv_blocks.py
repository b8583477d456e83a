"""Building blocks of KV-cache reuse of routed leaves (issue 24): re-rotate, prefill a block, join.

A leaf block is run once after a shared prefix cache and its K/V kept with RoPE applied at the
positions it was computed at (its *stored offset*). At query time each block's keys are
re-rotated to the block's *final offset* and the blocks are concatenated after the prefix's cache;
the question suffix is then prefilled on the joined cache.

Why re-rotation is exact. The models here (Llama, Qwen2, SmolLM2) apply RoPE as
``k_p = s * (k * cos(p * f) + rotate_half(k) * sin(p * f))`` with ``f = cat(inv_freq, inv_freq)``
and a constant ``s`` (``attention_scaling``). When the angle is linear in the position ``p`` and
``inv_freq`` / ``s`` do not depend on the sequence, the rotation is a group action:
``R(p + δ) = R(δ) R(p)``, so ``k_{p+δ} = R(δ) k_p`` and the constant ``s`` already in ``k_p`` is
kept as is: the re-rotation itself uses the *unscaled* cos/sin of ``δ * inv_freq``, and
``attention_scaling`` is only checked to be a constant of the model (it is never applied twice).

Rope types (transformers' ``rope_parameters["rope_type"]``):

- ``default``, ``linear`` (``inv_freq / factor``), ``llama3`` (a fixed per-frequency rescaling of
  ``inv_freq``), ``yarn`` (fixed blended ``inv_freq``, constant ``attention_factor``) and
  ``proportional`` (fixed ``inv_freq``): all fixed at load time, the angle is ``p * inv_freq`` —
  linear in position, so re-rotation is exact.
- ``dynamic`` (dynamic NTK) recomputes ``inv_freq`` from the current sequence length, and
  ``longrope`` switches between short and long factors at ``original_max_position_embeddings``:
  a key stored under one length's frequencies is not a rotation of the key under another's, so
  both are refused (:class:`~h2mt.errors.ConfigError`), as is any type not listed above and
  per-layer rope parameters; use the text prefill for those models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import DynamicCache

from ...backends.kv import cache_keyword
from ...errors import ConfigError

__all__ = [
    "LINEAR_ROPE_TYPES",
    "LayerKV",
    "BlockKV",
    "rope_type",
    "rotary_embedding",
    "rope_inv_freq",
    "rerotate",
    "layer_kv",
    "copy_cache",
    "prefill_block",
    "prefill_blocks",
    "join",
]

LINEAR_ROPE_TYPES = frozenset({"default", "linear", "llama3", "yarn", "proportional"})  # angle = p * inv_freq

LayerKV = tuple[torch.Tensor, torch.Tensor]  # (keys, values), each (B, H_kv, T, D)
BlockKV = list[LayerKV]  # one LayerKV per decoder layer


def _text_config(model: Any) -> Any:
    config = model.config
    return config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config


def rope_type(model: Any) -> str:
    """The model's rope type; :class:`ConfigError` unless it is linear in position."""
    config = _text_config(model)
    params = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if params and all(isinstance(v, dict) for v in params.values()):
        raise ConfigError("kv prefill: per-layer rope parameters are not supported; use the text prefill")
    kind = str(params.get("rope_type", params.get("type", "default")))
    if kind not in LINEAR_ROPE_TYPES:
        raise ConfigError(f"kv prefill: rope type {kind!r} is not linear in position; use the text prefill")
    return kind


def rotary_embedding(model: Any) -> Any:
    """The model's rotary embedding module (the one holding ``inv_freq``); checks :func:`rope_type`."""
    rope_type(model)
    base = getattr(model, "model", model)
    module = getattr(base, "rotary_emb", None)
    if module is None:
        module = next((m for _, m in model.named_modules() if hasattr(m, "inv_freq")), None)
    if module is None or not isinstance(getattr(module, "inv_freq", None), torch.Tensor):
        raise ConfigError("kv prefill: the model has no rotary embedding (inv_freq); use the text prefill")
    return module


def rope_inv_freq(model: Any) -> torch.Tensor:
    """(D/2,) float32 inverse frequencies the model rotates with (after its rope scaling)."""
    module = rotary_embedding(model)
    inv_freq = module.inv_freq.detach().float()  # (D/2,)
    config = _text_config(model)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    if 2 * inv_freq.numel() != head_dim:
        raise ConfigError("kv prefill: partial rotary embeddings are not supported; use the text prefill")
    return inv_freq


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    """transformers' ``rotate_half`` (Llama / Qwen2): (x1, x2) -> (-x2, x1) over the last dim."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rerotate(keys: torch.Tensor, delta: int | torch.Tensor, model: Any) -> torch.Tensor:
    """``keys`` (B, H_kv, T, D) with RoPE at positions p, returned as if at p + ``delta``.

    ``delta``: an int, a 0-d tensor, or a (T,) tensor (one shift per position). The math is
    fp32 with the model's own ``inv_freq``; the result has the keys' dtype and device.
    """
    inv_freq = rope_inv_freq(model).to(keys.device)  # (D/2,)
    shift = torch.as_tensor(delta, dtype=torch.float32, device=keys.device).reshape(-1, 1)  # (T or 1, 1)
    angles = shift * inv_freq  # (T or 1, D/2)
    emb = torch.cat((angles, angles), dim=-1)  # (T or 1, D)
    cos, sin = emb.cos(), emb.sin()  # (T or 1, D), unscaled: the stored keys already carry the scaling
    k = keys.float()  # (B, H_kv, T, D)
    out = k * cos + _rotate_half(k) * sin  # (B, H_kv, T, D)
    return out.to(keys.dtype)


def layer_kv(cache: DynamicCache, layer: int) -> LayerKV:
    """``cache``'s (keys, values) at ``layer``, each (B, H_kv, T, D); ConfigError for a layer without them."""
    entry = cache.layers[layer]
    keys, values = getattr(entry, "keys", None), getattr(entry, "values", None)
    if not isinstance(keys, torch.Tensor) or not isinstance(values, torch.Tensor):
        raise ConfigError(f"kv prefill: cache layer {layer} holds no keys/values; use the text prefill")
    return keys, values


def copy_cache(cache: DynamicCache | None, model: Any) -> DynamicCache:
    """A fresh :class:`DynamicCache` holding clones of ``cache``'s K/V (``update`` appends in place)."""
    if cache is None or cache.get_seq_length() == 0:
        return DynamicCache(config=model.config)
    data = [tuple(t.clone() for t in layer_kv(cache, i)) for i in range(len(cache.layers))]  # each (B, H_kv, P, D)
    return DynamicCache(ddp_cache_data=data, config=model.config)


def prefill_block(
    model: Any, prefix_cache: DynamicCache | None, block_ids: torch.Tensor | Sequence[int], start: int
) -> BlockKV:
    """Run ``block_ids`` (T,) or (1, T) after a copy of ``prefix_cache`` at positions start..start+T-1;
    return only the block's (keys, values) per layer, each (1, H_kv, T, D). ``prefix_cache`` is untouched."""
    rope_type(model)
    device = model.get_input_embeddings().weight.device
    ids = torch.as_tensor(block_ids, dtype=torch.long, device=device).reshape(1, -1)  # (1, T)
    length = ids.shape[1]
    cache = copy_cache(prefix_cache, model)
    position_ids = torch.arange(start, start + length, device=device).unsqueeze(0)  # (1, T)
    cache_position = torch.arange(cache.get_seq_length(), cache.get_seq_length() + length, device=device)  # (T,)
    kwargs: dict[str, Any] = {
        "input_ids": ids,  # (1, T)
        "position_ids": position_ids,  # (1, T)
        "cache_position": cache_position,  # (T,): the mask's query offset is the cache length
        cache_keyword(model): cache,
        "use_cache": True,
        "logits_to_keep": 1,
    }
    with torch.inference_mode():
        model(**kwargs)
    kv = [layer_kv(cache, i) for i in range(len(cache.layers))]
    return [(k[:, :, -length:].clone(), v[:, :, -length:].clone()) for k, v in kv]  # each (1, H_kv, T, D)


def prefill_blocks(
    model: Any, prefix_cache: DynamicCache | None, blocks: Sequence[Sequence[int]], start: int
) -> list[BlockKV]:
    """:func:`prefill_block` of several blocks in one forward: the blocks side by side after a copy of
    ``prefix_cache``, each at positions start..start+T_i-1, under a block-diagonal causal mask (each
    block sees the prefix and itself only), so each block's K/V are those of its own forward."""
    if len(blocks) <= 1:
        return [prefill_block(model, prefix_cache, b, start) for b in blocks]
    rope_type(model)
    device = model.get_input_embeddings().weight.device
    lengths = [len(b) for b in blocks]
    ids = torch.tensor([[i for b in blocks for i in b]], dtype=torch.long, device=device)  # (1, N)
    total = ids.shape[1]
    cache = copy_cache(prefix_cache, model)
    cached = cache.get_seq_length()  # P
    position_ids = torch.cat([torch.arange(start, start + n, device=device) for n in lengths]).unsqueeze(0)  # (1, N)
    owner = torch.cat([torch.full((n,), i, device=device) for i, n in enumerate(lengths)])  # (N,) block of each token
    local = position_ids[0]  # (N,): causal order inside a block
    same = owner.unsqueeze(1) == owner.unsqueeze(0)  # (N, N)
    causal = local.unsqueeze(0) <= local.unsqueeze(1)  # (N, N): key position <= query position
    allowed = torch.cat([torch.ones(total, cached, dtype=torch.bool, device=device), same & causal], dim=1)
    dtype = model.get_input_embeddings().weight.dtype
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)  # (N, P + N)
    kwargs: dict[str, Any] = {
        "input_ids": ids,  # (1, N)
        "position_ids": position_ids,  # (1, N)
        "cache_position": torch.arange(cached, cached + total, device=device),  # (N,)
        "attention_mask": mask[None, None],  # (1, 1, N, P + N): used as given
        cache_keyword(model): cache,
        "use_cache": True,
        "logits_to_keep": 1,
    }
    with torch.inference_mode():
        model(**kwargs)
    kv = [layer_kv(cache, i) for i in range(len(cache.layers))]  # each (1, H_kv, P + N, D)
    out: list[BlockKV] = []
    at = cached
    for n in lengths:
        out.append([(k[:, :, at : at + n].clone(), v[:, :, at : at + n].clone()) for k, v in kv])
        at += n
    return out


def join(
    model: Any, prefix_cache: DynamicCache | None, blocks: Sequence[BlockKV], deltas: Sequence[int]
) -> DynamicCache:
    """A new cache: ``prefix_cache``'s K/V, then each block's keys re-rotated by its delta
    (final offset − stored offset) and its values, in order. Inputs are not modified."""
    if len(blocks) != len(deltas):
        raise ConfigError(f"kv prefill: {len(blocks)} blocks but {len(deltas)} deltas")
    num_layers = _text_config(model).num_hidden_layers
    joined: list[LayerKV] = []
    for layer in range(num_layers):
        keys: list[torch.Tensor] = []  # each (B, H_kv, T_i, D)
        values: list[torch.Tensor] = []
        if prefix_cache is not None and prefix_cache.get_seq_length() > 0:
            prefix_k, prefix_v = layer_kv(prefix_cache, layer)  # (B, H_kv, P, D)
            keys.append(prefix_k)
            values.append(prefix_v)
        for block, delta in zip(blocks, deltas, strict=True):
            k, v = block[layer]
            keys.append(rerotate(k, delta, model) if delta else k)
            values.append(v)
        if not keys:
            return DynamicCache(config=model.config)
        joined.append((torch.cat(keys, dim=2), torch.cat(values, dim=2)))  # (B, H_kv, P + ΣT_i, D)
    return DynamicCache(ddp_cache_data=joined, config=model.config)
