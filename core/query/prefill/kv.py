"""KV prefill: the kept leaves' precomputed KV caches, re-rotated, joined and repaired; only the question is prefilled.

The prompt is the blocks layout (:func:`h2mt.query.prompt.build_block_prompt`): a shared prefix
(template, system message, ``Context:``), one self-contained block per kept leaf, and the question
suffix. Text prefill in that layout runs exactly these ids; kv prefill reaches the same cache in
named steps:

1. ``prefix_cache`` — the shared prefix's K/V (computed once per generator and prefix, kept in memory).
2. ``load_blocks`` — each kept leaf's K/V from the leaf KV store (:mod:`.kv_store`), computed after
   the prefix and stored on a miss (``KVConfig.fill="lazy"``); every block was computed at the
   position right after the prefix.
3. ``rerotate`` and ``join`` (:mod:`.kv_blocks`) — keys re-rotated from that position to the block's
   final offset (as they are loaded), the blocks concatenated after the prefix in document order.
   Each block has attended only to the prefix and itself: attention across blocks is missing.
4. ``recompute`` — the tokens chosen by ``select_recompute`` run again through the whole model on
   the joined cache, attending to every earlier position (the freshly recomputed tokens among them),
   and their K/V replace the stored ones in every layer. ``KVConfig.recompute_first`` (EPIC) takes
   the first k tokens of every block after the first, where a block's attention sink sits;
   ``recompute_ratio`` (CacheBlend) the share of context tokens whose K/V after a fresh pass through
   the first ``blend_layer + 1`` layers deviate most from the joined ones. Choosing every token is
   text prefill.
5. ``prefill_suffix`` — the question on the repaired cache; decoding goes on from there
   (:meth:`~h2mt.backends.transformers_backend.TransformersBackend.stream_prefilled`). With
   ``KVConfig.adapter`` the block-attention adapter (:mod:`.kv_adapter`) is on for these
   positions only — the question and the answer — never for the stored leaves.

Accounting: ``positions_reused`` counts context positions read from the store and kept as stored,
``positions_recomputed`` those recomputed, ``kv_bytes_read`` the store's bytes read and ``kv_misses``
the kept leaves computed now because the store had no entry for them.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from transformers import DynamicCache

from ...backends.kv import cache_keyword
from ...config import KVConfig, PrefillConfig, PrefillMode
from ...errors import ConfigError
from ...types import GenerationStats, ScoredNode
from ..prompt import Encode, Prompt, PromptBlocks, SplitTemplate, build_block_prompt
from .base import PromptTools
from .kv_adapter import adapter_on, attached, resolve_adapter
from .kv_blocks import BlockKV, join, layer_kv, prefill_block, prefill_blocks, rerotate
from .kv_store import KVStore, block_key

if TYPE_CHECKING:
    from ...backends.base import Backend

__all__ = ["KVPlan", "KVPrefill", "STRATEGY", "prefix_cache", "load_blocks", "select_recompute", "kv_deviation",
           "recompute", "prefill_suffix", "prefill_from_store", "fill_store", "kv_prompt"]


@dataclass(frozen=True)
class KVPlan:
    """Where a kv prompt's blocks come from and how they are repaired: the store, each block's document
    key (for invalidation) and the :class:`KVConfig` the prompt was made with (its recompute settings)."""

    store: KVStore
    docs: list[str]
    kv: KVConfig = KVConfig()


def _device(model: Any) -> torch.device:
    return model.get_input_embeddings().weight.device


def _dtype(model: Any) -> torch.dtype:
    return model.get_input_embeddings().weight.dtype


def _forward(model: Any, cache: DynamicCache, ids: torch.Tensor, positions: torch.Tensor,
             mask: torch.Tensor | None = None) -> torch.Tensor:
    """``ids`` (1, S) at ``positions`` (1, S) appended to ``cache``; returns the last position's logits (V,)."""
    start = cache.get_seq_length()
    kwargs: dict[str, Any] = {
        "input_ids": ids,  # (1, S)
        "position_ids": positions,  # (1, S)
        "cache_position": torch.arange(start, start + ids.shape[1], device=ids.device),  # (S,): mask query offset
        cache_keyword(model): cache,
        "use_cache": True,
        "logits_to_keep": 1,
    }
    if mask is not None:
        kwargs["attention_mask"] = mask  # (1, 1, S, cache + S): used as given
    out = model(**kwargs)
    return out.logits[0, -1]  # (V,)


# -- 1. the shared prefix ---------------------------------------------------------------------
_PREFIXES: OrderedDict[tuple[str, str, str], BlockKV] = OrderedDict()
_PREFIX_LOCK = threading.Lock()
_PREFIX_SLOTS = 8


def prefix_cache(model: Any, prefix_ids: Sequence[int], store: KVStore) -> DynamicCache:
    """The prefix's cache (a fresh :class:`DynamicCache`; its K/V are computed once per generator and prefix)."""
    key = (store.generator, store.prefix, str(_dtype(model)))
    with _PREFIX_LOCK:
        kv = _PREFIXES.get(key)
        if kv is not None:
            _PREFIXES.move_to_end(key)
    if kv is None:
        kv = prefill_block(model, None, list(prefix_ids), 0) if prefix_ids else []
        with _PREFIX_LOCK:
            _PREFIXES[key] = kv
            while len(_PREFIXES) > _PREFIX_SLOTS:
                _PREFIXES.popitem(last=False)
    if not kv:
        return DynamicCache(config=model.config)
    return DynamicCache(ddp_cache_data=[(k.clone(), v.clone()) for k, v in kv], config=model.config)


# -- 2. the kept leaves' blocks ---------------------------------------------------------------
def load_blocks(
    model: Any, plan: KVPlan, blocks: PromptBlocks, cfg: KVConfig, stats: GenerationStats
) -> list[BlockKV]:
    """Each block's K/V from the store, as computed right after the prefix (position ``len(prefix)``),
    keys re-rotated to the block's final offset (all layers in one rotation); missing blocks are
    computed and stored by :func:`fill_store` (``fill="lazy"``) and then read back, so a cold and a
    warm store give the same K/V. ``ConfigError`` on a miss with ``fill="never"``."""
    device, dtype = _device(model), _dtype(model)
    start = len(blocks.prefix)
    keys_of = [block_key(ids) for ids in blocks.blocks]
    entries = {key: plan.store.get(key, dtype) for key in dict.fromkeys(keys_of)}
    missing = [i for i, key in enumerate(keys_of) if entries[key] is None]
    if missing and cfg.fill == "never":
        raise ConfigError(f"kv prefill: the leaf KV store has no entry for {len(missing)} kept leaves and "
                          "fill='never'; fill it with: h2mt kv build INDEX")
    if missing:  # computed together (block-diagonal mask), stored, read back
        computed, _ = fill_store(model, plan.store, blocks.prefix, [blocks.blocks[i] for i in missing],
                                 [plan.docs[i] for i in missing])
        stats.kv_misses += computed
        entries.update({keys_of[i]: plan.store.get(keys_of[i], dtype) for i in missing})
    out: list[BlockKV] = []
    for key, offset in zip(keys_of, blocks.offsets, strict=True):
        entry = entries[key]
        if entry is None:
            raise ConfigError(f"kv prefill: the leaf KV store could not read back entry {key[:12]}")
        stats.kv_bytes_read += entry.nbytes
        keys, values = entry.keys.to(device), entry.values.to(device)  # (L, H_kv, T, D)
        if offset != start:
            keys = rerotate(keys, offset - start, model)  # from the stored offset to the final one
        out.append([(keys[i : i + 1], values[i : i + 1]) for i in range(keys.shape[0])])  # per layer (1, H_kv, T, D)
    return out


# -- 4. recompute -----------------------------------------------------------------------------
class _Stop(Exception):
    """Raised by a forward hook to end a forward after the layer it is on."""


def _decoder_layers(model: Any) -> Sequence[Any]:
    base = getattr(model, "model", model)
    layers = getattr(base, "layers", None)
    if layers is None:
        raise ConfigError("kv prefill: the model's decoder layers were not found; use recompute_ratio=0")
    return layers  # type: ignore[no-any-return]


def kv_deviation(
    model: Any, cache: DynamicCache, context_ids: torch.Tensor, prefix_len: int, layer: int
) -> torch.Tensor:
    """(C,) how far each context token's K/V in the joined ``cache`` at ``layer`` are from a fresh
    forward of the whole context after the prefix, run through layers 0..``layer`` only:
    ``‖K_fresh − K_joined‖² + ‖V_fresh − V_joined‖²`` over heads and head dim (CacheBlend's selection)."""
    layers = _decoder_layers(model)
    layer = min(layer, len(layers) - 1)
    fresh = DynamicCache(
        ddp_cache_data=[tuple(t[:, :, :prefix_len].clone() for t in layer_kv(cache, i)) for i in range(len(layers))],
        config=model.config,
    ) if prefix_len else DynamicCache(config=model.config)
    length = context_ids.shape[1]
    positions = torch.arange(prefix_len, prefix_len + length, device=context_ids.device).unsqueeze(0)  # (1, C)

    def stop(*_: Any) -> None:
        raise _Stop

    handle = layers[layer].register_forward_hook(stop)
    try:
        _forward(model, fresh, context_ids, positions)
    except _Stop:
        pass
    finally:
        handle.remove()
    fk, fv = layer_kv(fresh, layer)  # (1, H_kv, P + C, D)
    jk, jv = layer_kv(cache, layer)  # (1, H_kv, P + C, D)
    ctx = slice(prefix_len, prefix_len + length)
    dk = (fk[:, :, ctx].float() - jk[:, :, ctx].float()).pow(2).sum(dim=(0, 1, 3))  # (C,)
    dv = (fv[:, :, ctx].float() - jv[:, :, ctx].float()).pow(2).sum(dim=(0, 1, 3))  # (C,)
    return dk + dv


def select_recompute(model: Any, cache: DynamicCache, blocks: PromptBlocks, cfg: KVConfig) -> torch.Tensor:
    """(S,) sorted context indices (0 = the first token after the prefix) to recompute: the first
    ``recompute_first`` tokens of every block after the first, and the ``recompute_ratio`` share of
    tokens with the largest :func:`kv_deviation` (every token when the ratio is 1)."""
    lengths = [len(b) for b in blocks.blocks]
    total = sum(lengths)
    device = _device(model)
    chosen = torch.zeros(total, dtype=torch.bool, device=device)  # (C,)
    if total == 0:
        return chosen.nonzero().flatten()
    if cfg.recompute_ratio >= 1.0:
        chosen[:] = True
        return chosen.nonzero().flatten()
    at = 0
    for i, n in enumerate(lengths):
        if i > 0 and cfg.recompute_first:  # the first block was computed where it stands: nothing to repair
            chosen[at : at + min(cfg.recompute_first, n)] = True
        at += n
    if cfg.recompute_ratio > 0:
        count = min(total, math.ceil(cfg.recompute_ratio * total))
        ids = torch.tensor([i for b in blocks.blocks for i in b], dtype=torch.long, device=device).unsqueeze(0)
        deviation = kv_deviation(model, cache, ids, len(blocks.prefix), cfg.blend_layer)  # (C,)
        chosen[deviation.topk(count).indices] = True
    return chosen.nonzero().flatten()  # (S,)


def recompute(model: Any, cache: DynamicCache, context_ids: torch.Tensor, selected: torch.Tensor,
              prefix_len: int) -> None:
    """Recompute the ``selected`` context tokens (S,) on the joined ``cache`` (1 × H_kv × (P + C) × D per
    layer) in one forward and write their K/V over the stored ones, in every layer.

    The selected tokens run appended after the cache at their own positions; a 4-D mask lets token
    ``j`` see the prefix, the stored tokens before it that are not being recomputed, and the
    recomputed tokens up to itself — the causal attention of the full sequence, with the stale
    copies of recomputed tokens replaced by the fresh ones. The appended part is then moved into
    place and the cache cut back to P + C."""
    count = int(selected.numel())
    if count == 0:
        return
    device = context_ids.device
    length = context_ids.shape[1]  # C
    cached = prefix_len + length  # P + C
    ids = context_ids[:, selected]  # (1, S)
    positions = (prefix_len + selected).unsqueeze(0)  # (1, S)
    is_selected = torch.zeros(length, dtype=torch.bool, device=device)
    is_selected[selected] = True  # (C,)
    sel = selected.unsqueeze(1)  # (S, 1)
    ctx = torch.arange(length, device=device).unsqueeze(0)  # (1, C)
    see_context = (ctx < sel) & ~is_selected.unsqueeze(0)  # (S, C): stored tokens before j, not recomputed
    see_new = selected.unsqueeze(0) <= sel  # (S, S): recomputed tokens up to j
    see_prefix = torch.ones(count, prefix_len, dtype=torch.bool, device=device)  # (S, P)
    allowed = torch.cat([see_prefix, see_context, see_new], dim=1)  # (S, P + C + S)
    dtype = _dtype(model)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    _forward(model, cache, ids, positions, mask[None, None])  # (1, 1, S, P + C + S)
    target = prefix_len + selected  # (S,)
    for entry in cache.layers:
        for name in ("keys", "values"):
            t = getattr(entry, name)  # (1, H_kv, P + C + S, D)
            base = t[:, :, :cached].clone()  # (1, H_kv, P + C, D)
            base[:, :, target] = t[:, :, cached:]
            setattr(entry, name, base)


# -- 5. the question --------------------------------------------------------------------------
def prefill_suffix(model: Any, cache: DynamicCache, suffix_ids: Sequence[int], adapter: bool = False) -> torch.Tensor:
    """The question suffix on the repaired cache, right after it (with the kv adapter on when
    ``adapter``); returns the last logits (V,)."""
    if not suffix_ids:
        raise ConfigError("kv prefill: the prompt has no question suffix to prefill")
    device = _device(model)
    start = cache.get_seq_length()
    ids = torch.tensor([list(suffix_ids)], dtype=torch.long, device=device)  # (1, Q)
    positions = torch.arange(start, start + ids.shape[1], device=device).unsqueeze(0)  # (1, Q)
    with adapter_on(model) if adapter else nullcontext():
        return _forward(model, cache, ids, positions)


def prefill_from_store(
    model: Any, blocks: PromptBlocks, plan: KVPlan, cfg: KVConfig, stats: GenerationStats, adapter: bool = False
) -> tuple[torch.Tensor, DynamicCache]:
    """Steps 1-5 (the caller holds the model, e.g. ``backend.exclusive()``): the last logits (V,) and
    the cache of every prompt position, ready to decode from; ``adapter``: the question suffix runs
    with the kv adapter on (:func:`~.kv_adapter.resolve_adapter` loaded it)."""
    prefix = prefix_cache(model, blocks.prefix, plan.store)
    stored = load_blocks(model, plan, blocks, cfg, stats)  # keys already at their final offsets
    start = len(blocks.prefix)
    cache = join(model, prefix, stored, [0] * len(stored))
    device = _device(model)
    context = torch.tensor([[i for b in blocks.blocks for i in b]], dtype=torch.long, device=device)  # (1, C)
    selected = select_recompute(model, cache, blocks, cfg)  # (S,)
    recompute(model, cache, context, selected, start)
    stats.positions_recomputed = int(selected.numel())
    stats.positions_reused = context.shape[1] - stats.positions_recomputed
    return prefill_suffix(model, cache, blocks.suffix, adapter), cache


def kv_prompt(
    question: str,
    kept: Sequence[ScoredNode],
    cfg: PrefillConfig,
    split: SplitTemplate,
    encode: Encode,
    open_store: Callable[[Sequence[int], KVConfig], KVStore],
    docs: Sequence[str],
    make_messages: Callable[[str, str], list[dict[str, str]]] | None = None,
) -> Prompt:
    """The blocks-layout prompt of kv prefill, with its :class:`KVPlan`: the store ``open_store(prefix
    ids, cfg.kv)`` and each block's document key (``docs``, parallel to ``kept``)."""
    prompt = build_block_prompt(question, kept, cfg, split, encode, PrefillMode.KV, make_messages)
    assert prompt.blocks is not None
    prompt.kv = KVPlan(open_store(prompt.blocks.prefix, cfg.kv), list(docs), cfg.kv)
    return prompt


class KVPrefill:
    """Kept leaves as stored K/V: re-rotated, joined after the shared prefix, repaired; the question prefilled."""

    mode = PrefillMode.KV

    def prompt(self, question: str, kept: Sequence[ScoredNode], cfg: PrefillConfig, tools: PromptTools) -> Prompt:
        """The blocks-layout prompt with the store its blocks are read from."""
        if tools.split is None or tools.encode is None or tools.kv_store is None:
            raise ConfigError("kv prefill needs the local generator (a transformers backend) and an index; "
                              "use the text prefill with a server")
        docs = [tools.doc_key(k.node) if tools.doc_key is not None else "" for k in kept]
        return kv_prompt(question, kept, cfg, tools.split, tools.encode, tools.kv_store, docs)

    def stream(self, backend: Backend, prompt: Prompt, cfg: PrefillConfig, stats: GenerationStats) -> Iterator[str]:
        """Steps 1-5 on the backend's model as its prefill (with the prompt's own :class:`KVConfig`), then
        its decode loop (decoding per ``cfg``)."""
        exclusive = getattr(backend, "exclusive", None)
        stream_prefilled = getattr(backend, "stream_prefilled", None)
        if exclusive is None or stream_prefilled is None:
            raise ConfigError(f"kv prefill needs the local generator; {backend.name} cannot take a KV cache")
        blocks, plan = prompt.blocks, prompt.kv
        if blocks is None or not isinstance(plan, KVPlan):
            raise ConfigError("kv prefill: the prompt was not made by the kv strategy (no blocks or store)")

        model = getattr(backend, "model", None)
        adapter = False
        if plan.kv.adapter != "off":
            with exclusive():
                adapter = resolve_adapter(model, plan.kv.adapter)
        stats.kv_adapter = (attached(model) or "") if adapter else ""

        def start() -> tuple[torch.Tensor, DynamicCache]:
            with exclusive() as model:  # recompute as the prompt was made for (plan.kv), decode per cfg
                return prefill_from_store(model, blocks, plan, plan.kv, stats, adapter)

        around = (lambda: adapter_on(model)) if adapter else None  # the answer is decoded with the adapter on
        pieces: Iterator[str] = stream_prefilled(start, len(blocks.ids), cfg, stats, around=around)
        return pieces


def fill_store(
    model: Any, store: KVStore, prefix_ids: Sequence[int], blocks: Sequence[Sequence[int]], docs: Sequence[str],
    *, progress: bool = False, batch_tokens: int = 1024,
) -> tuple[int, int]:
    """Compute and store every block missing from ``store`` (the caller holds the model), up to
    ``batch_tokens`` tokens of blocks per forward; returns (computed, already there). Resumable:
    entries written so far stay."""
    from tqdm.auto import tqdm

    prefix = prefix_cache(model, prefix_ids, store) if prefix_ids else None
    todo: dict[str, tuple[Sequence[int], str]] = {}
    present = 0
    for ids, doc in zip(blocks, docs, strict=True):
        key = block_key(ids)
        if key in store:
            present += 1
        else:
            todo.setdefault(key, (ids, doc))
    batches: list[list[str]] = [[]]
    size = 0
    for key, (ids, _) in todo.items():
        if batches[-1] and size + len(ids) > batch_tokens:
            batches.append([])
            size = 0
        batches[-1].append(key)
        size += len(ids)
    with tqdm(total=len(todo), desc="kv build", unit="leaf", disable=not progress) as bar:
        for batch in (b for b in batches if b):
            computed = prefill_blocks(model, prefix, [list(todo[k][0]) for k in batch], len(prefix_ids))
            for key, kv in zip(batch, computed, strict=True):  # per layer (1, H_kv, T, D)
                store.put(key, torch.cat([k for k, _ in kv]), torch.cat([v for _, v in kv]), todo[key][1])
            bar.update(len(batch))
    return len(todo), present


STRATEGY = KVPrefill()
