"""KV-cache reuse building blocks (h2mt.query.prefill.kv_blocks) on tiny random models, fp32.

Models are built in memory (no tokenizer needed: random ids): Llama and Qwen2 with the sizes of
``tests/_tiny.py`` and a SmolLM2-shaped Llama (GQA 9/3 heads, tied embeddings, rope_theta 1e5).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from h2mt.backends.kv import cache_keyword
from h2mt.errors import ConfigError
from h2mt.query.prefill.kv_blocks import copy_cache, join, prefill_block, rerotate, rope_inv_freq
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

VOCAB = 96
ARCHS = ["llama", "qwen2", "smollm2", "llama-yarn"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models gain nothing from threads


def _model(arch: str, rope: dict[str, Any] | None = None) -> Any:
    common: dict[str, Any] = dict(vocab_size=VOCAB, num_hidden_layers=2, max_position_embeddings=512)
    if arch == "qwen2":
        config: Any = Qwen2Config(
            hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, **common
        )
        cls: Any = Qwen2ForCausalLM
    elif arch == "smollm2":  # SmolLM2-135M's shape, scaled down: 9 heads over 3 KV heads, tied embeddings
        config = LlamaConfig(
            hidden_size=72,
            intermediate_size=96,
            num_attention_heads=9,
            num_key_value_heads=3,
            head_dim=8,
            tie_word_embeddings=True,
            rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
            **common,
        )
        cls = LlamaForCausalLM
    else:
        if arch == "llama-yarn":  # static YaRN: blended inv_freq and attention_factor != 1
            rope = {"rope_type": "yarn", "factor": 4.0, "rope_theta": 10000.0, "original_max_position_embeddings": 128}
        extra = {"rope_parameters": rope} if rope else {}
        config = LlamaConfig(
            hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, **common, **extra
        )
        cls = LlamaForCausalLM
    torch.manual_seed(0)
    model = cls(config).float().eval()
    with torch.no_grad():  # larger logits, as in tests/_tiny.py
        model.lm_head.weight.mul_(8.0)
    return model


@pytest.fixture(scope="module", params=ARCHS)
def model(request: pytest.FixtureRequest) -> Any:
    return _model(request.param)


def _ids(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (1, n), generator=g)  # (1, n)


def _forward(model: Any, ids: torch.Tensor, start: int, cache: DynamicCache | None = None) -> tuple[Any, Any]:
    """Forward ids (1, T) at positions start.. after ``cache`` (a fresh empty one if None);
    returns ((V,) last logits, cache)."""
    cache = cache if cache is not None else DynamicCache(config=model.config)
    offset = cache.get_seq_length()
    length = ids.shape[1]
    with torch.inference_mode():
        out = model(
            input_ids=ids,
            position_ids=torch.arange(start, start + length).unsqueeze(0),  # (1, T)
            cache_position=torch.arange(offset, offset + length),  # (T,)
            use_cache=True,
            logits_to_keep=1,
            **{cache_keyword(model): cache},
        )
    return out.logits[0, -1], cache


def test_rerotate_round_trip(model: Any) -> None:
    torch.manual_seed(1)
    d = 2 * rope_inv_freq(model).numel()
    keys = 4.0 * torch.randn(1, 2, 11, d)  # (B, H_kv, T, D)
    back = rerotate(rerotate(keys, 37, model), -37, model)
    assert back.shape == keys.shape and back.dtype == keys.dtype
    assert (back - keys).abs().max().item() < 1e-5  # fp32 rounding
    per_token = torch.arange(11) * 3  # (T,) one shift per position
    back = rerotate(rerotate(keys, per_token, model), -per_token, model)
    assert (back - keys).abs().max().item() < 1e-5
    assert torch.equal(rerotate(keys, 0, model), keys)


def test_rerotate_matches_model_keys_at_shifted_positions(model: Any) -> None:
    ids = _ids(12, seed=2)
    _, at_p = _forward(model, ids, start=3)
    _, at_shifted = _forward(model, ids, start=3 + 41)
    for layer in range(len(at_p.layers)):
        moved = rerotate(at_p.layers[layer].keys, 41, model)
        want = at_shifted.layers[layer].keys
        assert (moved - want).abs().max().item() < 1e-4


def test_single_block_at_its_stored_offset_equals_text(model: Any) -> None:
    prefix, block, suffix = _ids(7, seed=3), _ids(13, seed=4), _ids(5, seed=5)
    _, prefix_cache = _forward(model, prefix, start=0)
    before = prefix_cache.layers[0].keys.clone()
    kv = prefill_block(model, prefix_cache, block[0].tolist(), start=7)
    assert torch.equal(prefix_cache.layers[0].keys, before) and prefix_cache.get_seq_length() == 7  # untouched
    joined = join(model, prefix_cache, [kv], [0])
    assert joined.get_seq_length() == 20
    logits, _ = _forward(model, suffix, start=20, cache=joined)
    text, _ = _forward(model, torch.cat([prefix, block, suffix], dim=1), start=0)
    assert (logits - text).abs().max().item() < 1e-4


def test_blocks_rerotated_to_new_offsets_equal_shifted_forward(model: Any) -> None:
    """Stored at s, joined at s' = s + δ: the block's K/V depend on its context only through relative
    positions, so re-rotating every cached key by the same δ (the prefix kept as a block too) must
    give the logits of a forward of the same ids at positions δ..δ+N-1."""
    prefix, block, suffix = _ids(6, seed=6), _ids(10, seed=7), _ids(4, seed=8)
    delta = 29
    prefix_kv = prefill_block(model, None, prefix[0], start=0)  # stored at 0..5
    _, prefix_cache = _forward(model, prefix, start=0)
    block_kv = prefill_block(model, prefix_cache, block[0], start=6)  # stored at 6..15, after the prefix
    joined = join(model, None, [prefix_kv, block_kv], [delta, delta])  # final 29..34 and 35..44
    logits, _ = _forward(model, suffix, start=16 + delta, cache=joined)
    shifted, _ = _forward(model, torch.cat([prefix, block, suffix], dim=1), start=delta)
    assert (logits - shifted).abs().max().item() < 1e-4  # without the rotation: 8e-3 .. 5e-2
    # the same block joined after an unrotated prefix with a gap: positions differ from any text layout,
    # but the joined keys must be exactly the stored ones rotated by δ
    gapped = join(model, prefix_cache, [block_kv], [delta])
    for layer, (k, v) in enumerate(block_kv):
        assert torch.equal(gapped.layers[layer].values[:, :, 6:], v)
        assert torch.equal(gapped.layers[layer].keys[:, :, 6:], rerotate(k, delta, model))


def test_gqa_shapes(model: Any) -> None:
    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    assert cfg.num_key_value_heads < cfg.num_attention_heads
    _, prefix_cache = _forward(model, _ids(5, seed=9), start=0)
    blocks = [prefill_block(model, prefix_cache, _ids(n, seed=10 + n)[0], start=5) for n in (3, 8)]
    for kv in blocks:
        assert len(kv) == cfg.num_hidden_layers
    joined = join(model, prefix_cache, blocks, [0, 3])
    copied = copy_cache(joined, model)
    for layer in range(cfg.num_hidden_layers):
        for cache in (joined, copied):
            assert cache.layers[layer].keys.shape == (1, cfg.num_key_value_heads, 16, head_dim)
            assert cache.layers[layer].values.shape == (1, cfg.num_key_value_heads, 16, head_dim)
    assert copied.layers[0].keys.data_ptr() != joined.layers[0].keys.data_ptr()


@pytest.mark.parametrize(
    "rope",
    [
        {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0},
        {
            "rope_type": "longrope",
            "rope_theta": 10000.0,
            "short_factor": [1.0] * 8,
            "long_factor": [2.0] * 8,
            "original_max_position_embeddings": 128,
        },
    ],
)
def test_non_linear_rope_is_refused(rope: dict[str, Any]) -> None:
    model = _model("llama", rope)
    keys = torch.zeros(1, 2, 3, 16)
    with pytest.raises(ConfigError, match="not linear in position"):
        rerotate(keys, 1, model)
    with pytest.raises(ConfigError, match="text prefill"):
        prefill_block(model, None, [1, 2, 3], start=0)
    with pytest.raises(ConfigError):
        join(model, None, [[(keys, keys)] * 2], [1])
