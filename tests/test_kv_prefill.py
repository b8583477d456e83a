"""KV prefill (h2mt.query.prefill.kv): store -> re-rotate -> join -> recompute -> question, on tiny models.

Parity checks against text prefill of the same ids: one block, or every token recomputed, gives
text's logits; EPIC/CacheBlend selections recompute what they say; the recompute forward with
its 4-D mask equals a plain causal prefill when every token is chosen.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from h2mt.config import KVConfig
from h2mt.errors import ConfigError
from h2mt.query.prefill.kv import (
    KVPlan,
    kv_deviation,
    load_blocks,
    prefill_from_store,
    prefix_cache,
    select_recompute,
)
from h2mt.query.prefill.kv_blocks import join
from h2mt.query.prefill.kv_store import KVShape, KVStore, block_key, generator_fingerprint
from h2mt.query.prompt import PromptBlocks
from h2mt.types import GenerationStats
from transformers import DynamicCache

from .test_kv_blocks import VOCAB, _model

ARCHS = ["llama", "qwen2", "smollm2"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models gain nothing from threads


@pytest.fixture(scope="module", params=ARCHS)
def model(request: pytest.FixtureRequest) -> Any:
    return _model(request.param)


def _ids(n: int, seed: int) -> list[int]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (n,), generator=g).tolist()


def _blocks(sizes: tuple[int, ...] = (9, 13, 7), prefix: int = 6, suffix: int = 5, seed: int = 1) -> PromptBlocks:
    return PromptBlocks(_ids(prefix, seed), [_ids(n, seed + 10 + i) for i, n in enumerate(sizes)],
                        _ids(suffix, seed + 99))


def _text_logits(model: Any, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids]), use_cache=False)
    return out.logits[0, -1]


def _store(model: Any, blocks: PromptBlocks, dtype: str = "float32") -> KVStore:
    # the weights' identity, as the engine keys it: an id() may be reused by the next module's model, whose
    # prefix would then be read from the cache kept for the freed one
    return KVStore(None, generator=generator_fingerprint(model), prefix_ids=blocks.prefix, shape=KVShape.of(model),
                   dtype=dtype)


def _kv_logits(model: Any, blocks: PromptBlocks, cfg: KVConfig, store: KVStore | None = None,
               stats: GenerationStats | None = None) -> tuple[torch.Tensor, DynamicCache]:
    store = store or _store(model, blocks)
    plan = KVPlan(store, ["doc"] * len(blocks.blocks))
    with torch.inference_mode():
        return prefill_from_store(model, blocks, plan, cfg, stats or GenerationStats())


def test_full_recompute_equals_text(model: Any) -> None:
    blocks = _blocks()
    logits, cache = _kv_logits(model, blocks, KVConfig(recompute_ratio=1.0))
    assert torch.allclose(logits, _text_logits(model, blocks.ids), atol=1e-4)
    assert cache.get_seq_length() == len(blocks.ids)


def test_one_block_equals_text_without_recompute(model: Any) -> None:
    blocks = _blocks((17,))
    logits, _ = _kv_logits(model, blocks, KVConfig())
    assert torch.allclose(logits, _text_logits(model, blocks.ids), atol=1e-4)


def test_naive_join_differs_and_recompute_moves_toward_text(model: Any) -> None:
    blocks = _blocks((11, 11, 11))
    text = _text_logits(model, blocks.ids)
    naive, _ = _kv_logits(model, blocks, KVConfig())
    assert not torch.allclose(naive, text, atol=1e-3)  # blocks never attended to each other
    err = {r: (_kv_logits(model, blocks, KVConfig(recompute_ratio=r))[0] - text).abs().max().item()
           for r in (0.0, 1.0)}
    assert err[1.0] < 1e-4 < err[0.0]


def test_recompute_every_token_via_epic_equals_text(model: Any) -> None:
    # recompute_first larger than every block after the first: every stale token is recomputed
    blocks = _blocks((8, 6, 5))
    logits, _ = _kv_logits(model, blocks, KVConfig(recompute_first=64))
    assert torch.allclose(logits, _text_logits(model, blocks.ids), atol=1e-4)


def test_selection_epic_and_ratio(model: Any) -> None:
    blocks = _blocks((5, 7, 6))
    store = _store(model, blocks)
    plan = KVPlan(store, ["d"] * 3)
    with torch.inference_mode():
        prefix = prefix_cache(model, blocks.prefix, store)
        stored = load_blocks(model, plan, blocks, KVConfig(), GenerationStats())  # re-rotated
        cache = join(model, prefix, stored, [0] * len(stored))
        epic = select_recompute(model, cache, blocks, KVConfig(recompute_first=2)).tolist()
        assert epic == [5, 6, 12, 13]  # first two tokens of blocks 2 and 3 (block 1 is exact)
        ratio = select_recompute(model, cache, blocks, KVConfig(recompute_ratio=0.25))
        assert len(ratio) == 5  # ceil(0.25 * 18)
        ctx = torch.tensor([[i for b in blocks.blocks for i in b]])
        dev = kv_deviation(model, cache, ctx, len(blocks.prefix), 1)
    assert dev[:5].abs().max() < 1e-6  # the first block sits where it was computed: no deviation
    assert set(ratio.tolist()) == set(dev.topk(5).indices.tolist())


def test_stats_and_lazy_fill(model: Any) -> None:
    blocks = _blocks((6, 6, 6))
    store = _store(model, blocks)
    cold, warm = GenerationStats(), GenerationStats()
    first, _ = _kv_logits(model, blocks, KVConfig(recompute_first=2), store, cold)
    second, _ = _kv_logits(model, blocks, KVConfig(recompute_first=2), store, warm)
    assert cold.kv_misses == 3 and warm.kv_misses == 0
    assert torch.equal(first, second)  # lazy fill then reuse: identical
    assert warm.positions_recomputed == 4 and warm.positions_reused == 14
    assert warm.kv_bytes_read == cold.kv_bytes_read > 0


def test_fill_never_refuses_a_miss(model: Any) -> None:
    blocks = _blocks((4,))
    with pytest.raises(ConfigError, match="h2mt kv build"):
        _kv_logits(model, blocks, KVConfig(fill="never"))


def test_fp16_store_is_close_and_int8_closer_than_naive(model: Any) -> None:
    blocks = _blocks((10, 10))
    ref, _ = _kv_logits(model, blocks, KVConfig(), _store(model, blocks, "float32"))
    half, _ = _kv_logits(model, blocks, KVConfig(), _store(model, blocks, "float16"))
    assert torch.allclose(half, ref, atol=5e-2)
    assert block_key(blocks.blocks[0]) != block_key(blocks.blocks[1])


def test_blocks_prefilled_together_equal_one_by_one(model: Any) -> None:
    from h2mt.query.prefill.kv_blocks import prefill_block, prefill_blocks

    blocks = _blocks((7, 12, 5))
    store = _store(model, blocks)
    with torch.inference_mode():
        prefix = prefix_cache(model, blocks.prefix, store)
        together = prefill_blocks(model, prefix, blocks.blocks, len(blocks.prefix))
        for ids, kv in zip(blocks.blocks, together, strict=True):
            alone = prefill_block(model, prefix, ids, len(blocks.prefix))
            for (k1, v1), (k2, v2) in zip(kv, alone, strict=True):
                assert k1.shape == k2.shape and torch.allclose(k1, k2, atol=1e-5) and torch.allclose(v1, v2, atol=1e-5)
        assert prefix.get_seq_length() == len(blocks.prefix)  # the prefix cache is untouched
