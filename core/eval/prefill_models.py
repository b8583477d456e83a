"""Random-weight models with the real shapes of the families h2mt users run, their FLOP model,
and the synthetic document the prefill benchmark routes over.

Prefill cost does not depend on weight values, so a model of a real shape is randomly
initialised once (seed 0), saved in bf16 with a small offline character tokenizer, and loaded
through h2mt's backend with the quantization under test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..types import ParsedDocument, Section

__all__ = ["SHAPES", "prefill_flops", "ensure_model", "char_tokenizer", "synthetic_document"]

SHAPES: dict[str, dict[str, Any]] = {  # real configurations of the families h2mt users run
    "llama-3.1-8b": dict(model_type="llama", vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                         num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                         max_position_embeddings=131072, rope_theta=500000.0),
    "qwen2.5-1.5b": dict(model_type="qwen2", vocab_size=151936, hidden_size=1536, intermediate_size=8960,
                         num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                         max_position_embeddings=131072, rope_theta=1000000.0, tie_word_embeddings=True),
    "qwen2.5-0.5b": dict(model_type="qwen2", vocab_size=151936, hidden_size=896, intermediate_size=4864,
                         num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                         max_position_embeddings=131072, rope_theta=1000000.0, tie_word_embeddings=True),
    "tiny": dict(model_type="llama", vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096),
}

_WORDS = "shell server memory buffer signal trap redirect variable history config index cache".split()
_SECTION_TOKENS = 400  # tokens per synthetic section body


def prefill_flops(shape: dict[str, Any], tokens: int) -> float:
    """Forward FLOPs of a prefill: 2 x params x T for the matmuls plus causal attention scores."""
    h, layers, inter = shape["hidden_size"], shape["num_hidden_layers"], shape["intermediate_size"]
    kv = h * shape["num_key_value_heads"] // shape["num_attention_heads"]
    per_layer = h * h * 2 + h * kv * 2 + 3 * h * inter  # q,o + k,v + gate/up/down
    attn = 2 * 2 * layers * h * tokens * tokens / 2  # QK^T and AV, causal half
    return 2.0 * layers * per_layer * tokens + attn + 2.0 * h * shape["vocab_size"]  # last-position head only


def ensure_model(shape_name: str, cache: Path) -> Path:
    """A randomly initialised model of the named shape, saved once in bf16 under ``cache``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = cache / f"random-{shape_name}"
    if (folder / "config.json").exists():
        return folder
    shape = dict(SHAPES[shape_name])
    config = AutoConfig.for_model(shape.pop("model_type"), **shape)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    tmp = folder.with_name(folder.name + ".tmp")
    model.save_pretrained(tmp)
    char_tokenizer().save_pretrained(tmp)
    os.replace(tmp, folder)
    return folder


def char_tokenizer() -> Any:
    """A small offline tokenizer (one token per character, ChatML template): token ids, not
    words, drive the cost."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "[UNK]"]
    vocab = {w: i for i, w in enumerate(specials + [chr(c) for c in range(33, 127)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = ("{% for m in messages %}"
                          "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    return fast


def _body(section: int, words: int) -> str:
    return " ".join(_WORDS[(section * 7 + i) % len(_WORDS)] + f"{i % 50}" for i in range(words)) + "."


def _heading(section: int) -> tuple[str, str]:
    return f"{section // 20} chapter", f"{section} section"


def synthetic_document(tokens: int, count: Callable[[Sequence[str]], list[int]]) -> ParsedDocument:
    """A document of about ``tokens`` context tokens (as the prompt shows it: breadcrumb heading plus
    body per section) in sections of ~400 tokens (the last one shorter), two heading levels,
    deterministic text."""
    per_word = count([_body(0, _SECTION_TOKENS)])[0] / _SECTION_TOKENS
    words = max(8, round(_SECTION_TOKENS / per_word))
    chapter, title = _heading(0)
    per_section = count([f"## doc > {chapter} > {title}\n\n{_body(0, words)}"])[0] + 2  # + the joining break
    n, rest = divmod(max(tokens, per_section), per_section)
    sizes = [words] * n + ([round(words * rest / per_section)] if rest > per_section // 8 else [])
    text, sections = "", []
    for s, size in enumerate(sizes):
        start = len(text)
        body = _body(s, size)
        text += body + "\n\n"
        sections.append(Section(_heading(s)[1], _heading(s), 2, start, start + len(body)))
    return ParsedDocument("synthetic", "doc", text, sections)
