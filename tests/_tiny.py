"""Offline tiny-model helpers shared by the test suite.

``make_tiny_model_dir(path)`` writes a tiny random ``LlamaForCausalLM`` plus a small
byte-level BPE tokenizer (trained in code, no hub access) with a ChatML chat template
into ``path`` and returns ``path``. The folder loads with
``AutoModelForCausalLM.from_pretrained(path)`` / ``AutoTokenizer.from_pretrained(path)``
and with ``h2mt.backends.load_backend(BackendConfig(model=str(path), device="cpu"))``.

Stable contract (other test modules rely on it):

- signature ``make_tiny_model_dir(path: str | Path, *, seed: int = 0) -> Path``;
- idempotent: a folder already holding a tiny model is reused as is;
- deterministic weights for a given ``seed``; ``max_position_embeddings == TINY_CONTEXT``;
- special tokens ``<|endoftext|>`` (bos/pad), ``<|im_start|>``, ``<|im_end|>`` (eos).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["TINY_CONTEXT", "TINY_CORPUS", "make_tiny_model_dir"]

TINY_CONTEXT = 512  # max_position_embeddings of the tiny model

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

TINY_CORPUS = [
    "The capital of France is Paris. The capital of Italy is Rome.",
    "Hierarchical memory routes a question to the few sections that matter.",
    "Answer the question using only the context. Be brief.",
    "PostgreSQL stores tables in pages; the Bash manual documents PIPESTATUS and globstar.",
    "Tokens, leaves, sections, documents and a corpus form a tree of nodes.",
    "Zurich, Köln, Łódź, naïve café — unicode text must survive decoding: 日本語 😀.",
    "one two three four five six seven eight nine ten eleven twelve",
]


def _train_tokenizer(vocab_size: int = 384) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(TINY_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        model_max_length=TINY_CONTEXT,
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def make_tiny_model_dir(path: str | Path, *, seed: int = 0, arch: str = "llama") -> Path:
    """Write a tiny random Llama (or ``arch="qwen2"``: Qwen2, the default generator's family,
    with q/k/v biases) model + offline tokenizer into ``path``; return ``path``."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    out = Path(path)
    if (out / "config.json").exists() and (out / "tokenizer.json").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer()
    eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    bos_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config_cls, model_cls = (Qwen2Config, Qwen2ForCausalLM) if arch == "qwen2" else (LlamaConfig, LlamaForCausalLM)
    config = config_cls(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=TINY_CONTEXT,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=bos_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = model_cls(config)
    with torch.no_grad():  # larger logits so greedy paths are not near-ties
        model.lm_head.weight.mul_(8.0)
    model.generation_config = GenerationConfig(bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=bos_id)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
