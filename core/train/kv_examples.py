"""Training examples of the kv block-attention adapter: routed prompts, the text-mode teacher, the joined cache.

One example is one question over real documentation, routed by h2mt under a budget and laid out
as the blocks prompt kv prefill reads (:func:`h2mt.query.prompt.build_block_prompt`). Making it:

1. ``teacher`` — the bare generator prefills the whole prompt with full causal attention (text
   mode) and answers greedily; its log-probabilities over the question suffix and the answer
   (top ``k`` per position) are the target.
2. ``joined_cache`` — the same prompt as kv prefill sees it: the shared prefix, then each kept
   leaf computed right after the prefix on its own (block-diagonal mask) and its keys re-rotated
   to the leaf's final offset. Attention across leaves is missing: that is what the adapter
   learns to do without.

The example file (safetensors) holds the joined K/V in float16 (``k{layer}``/``v{layer}``,
each (1, H_kv, P + C, D)), ``tokens`` — the suffix then the teacher's answer, (N,) — and the
teacher's ``top_ids`` / ``top_logp`` (N, k) at each of those positions.

Questions come from templates over the kept leaves' headings ("What does X do?", "What is the
difference between X and Y?"); prompts take the engine's ``short`` and ``brief`` tasks and the
benchmark's LongBench templates in turn. The documents are the training side of
:func:`h2mt.hmt.train.data.split_documents` (never the Bash manual) minus every page the answer
dev set or the manual questions read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["ExampleConfig", "Example", "QUESTION_TEMPLATES", "PAIR_TEMPLATES", "make_question", "teacher",
           "joined_cache", "save_example", "load_example", "iter_prompts", "example_name", "make_examples"]

log = logging.getLogger(__name__)

QUESTION_TEMPLATES = (
    "What does {a} do?",
    "What is {a}?",
    "What is the default value of {a}?",
    "What does the documentation say about {a}?",
    "When should {a} be used?",
    "Which arguments or options does {a} take?",
    "What does {a} return?",
)
PAIR_TEMPLATES = (
    "What is the difference between {a} and {b}?",
    "What do {a} and {b} have in common?",
    "Which is described first, {a} or {b}?",
)
STYLES = ("short", "brief", "hotpotqa", "multifieldqa_en")


@dataclass(frozen=True)
class ExampleConfig:
    """How examples are made: budgets drawn per question, answer length, top-k kept of the teacher."""

    budgets: tuple[int, ...] = (512, 1024, 2048)
    answer_tokens: int = 32
    top_k: int = 32
    seed: int = 0


@dataclass
class Example:
    """A loaded example: the joined cache's K/V per layer, the suffix + answer tokens and the teacher's top-k."""

    kv: list[tuple[torch.Tensor, torch.Tensor]]  # per layer (1, H_kv, P + C, D)
    tokens: torch.Tensor  # (N,) suffix then answer
    top_ids: torch.Tensor  # (N, k)
    top_logp: torch.Tensor  # (N, k) float32
    meta: dict[str, Any]

    @property
    def cached(self) -> int:
        """P + C: the positions of the joined cache."""
        return int(self.kv[0][0].shape[2])


def _clean_title(title: str) -> str:
    title = re.sub(r"\s+", " ", title).strip().rstrip(":¶")
    words = title.split(" ")
    return " ".join(words[:8])


def make_question(titles: Sequence[str], rng: random.Random) -> str:
    """A templated question over one heading, or two (a third of the time when two differ)."""
    usable = [t for t in (_clean_title(t) for t in titles) if 2 <= len(t) <= 80]
    if not usable:
        usable = ["this section"]
    a = rng.choice(usable)
    others = [t for t in usable if t != a]
    if others and rng.random() < 1 / 3:
        return rng.choice(PAIR_TEMPLATES).format(a=a, b=rng.choice(others))
    return rng.choice(QUESTION_TEMPLATES).format(a=a)


def _stop_ids(tokenizer: Any) -> set[int]:
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    for name in ("<|im_end|>", "<|endoftext|>"):
        tid = tokenizer.convert_tokens_to_ids(name)
        if isinstance(tid, int) and tid >= 0 and tid != tokenizer.unk_token_id:
            ids.add(tid)
    return ids


def teacher(model: Any, ids: Sequence[int], suffix_len: int, stop_ids: set[int], answer_tokens: int,
            top_k: int) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """Text mode's greedy answer to the prompt ``ids`` (full attention) and its top-k log-probs at every
    position from the suffix's first token to the answer's last: (answer ids, (N, k) ids, (N, k) log-probs)
    with N = ``suffix_len`` + len(answer)."""
    from transformers import DynamicCache

    device = model.get_input_embeddings().weight.device
    cache = DynamicCache(config=model.config)
    x = torch.tensor([list(ids)], dtype=torch.long, device=device)  # (1, T)
    out = model(input_ids=x, past_key_values=cache, use_cache=True, logits_to_keep=suffix_len)
    rows = [out.logits[0].float()]  # (suffix_len, V)
    answer: list[int] = []
    at = len(ids)
    for _ in range(answer_tokens):
        nxt = int(rows[-1][-1].argmax())
        answer.append(nxt)
        if nxt in stop_ids:
            break
        step = torch.tensor([[nxt]], dtype=torch.long, device=device)  # (1, 1)
        out = model(input_ids=step, past_key_values=cache, use_cache=True,
                    position_ids=torch.tensor([[at]], device=device))
        at += 1
        rows.append(out.logits[0].float())  # (1, V)
    logits = torch.cat(rows)[: suffix_len + len(answer)]  # (N, V): the last row predicts after the answer
    logp = torch.log_softmax(logits, dim=-1)
    top = logp.topk(top_k, dim=-1)
    return answer, top.indices, top.values


def joined_cache(
    model: Any, prefix: Sequence[int], blocks: Sequence[Sequence[int]]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The cache kv prefill joins (no recompute): the prefix's K/V, then every block computed right after the
    prefix on its own and re-rotated to its final offset; per layer (1, H_kv, P + C, D)."""
    from transformers import DynamicCache

    from ..query.prefill.kv_blocks import join, layer_kv, prefill_block, prefill_blocks

    start = len(prefix)
    prefix_kv = prefill_block(model, None, list(prefix), 0)
    prefix_cache = DynamicCache(ddp_cache_data=prefix_kv, config=model.config)
    computed = prefill_blocks(model, prefix_cache, [list(b) for b in blocks], start)
    deltas, at = [], start
    for b in blocks:
        deltas.append(at - start)
        at += len(b)
    cache = join(model, prefix_cache, computed, deltas)
    return [layer_kv(cache, i) for i in range(len(cache.layers))]


def save_example(path: Path, kv: Sequence[tuple[torch.Tensor, torch.Tensor]], tokens: Sequence[int],
                 top_ids: torch.Tensor, top_logp: torch.Tensor, meta: dict[str, Any]) -> None:
    """Write one example atomically (float16 K/V)."""
    from safetensors.torch import save_file

    tensors = {f"k{i}": k.detach().to(torch.float16).contiguous() for i, (k, _) in enumerate(kv)}
    tensors.update({f"v{i}": v.detach().to(torch.float16).contiguous() for i, (_, v) in enumerate(kv)})
    tensors["tokens"] = torch.tensor(list(tokens), dtype=torch.long)
    tensors["top_ids"] = top_ids.detach().to(torch.long).contiguous()
    tensors["top_logp"] = top_logp.detach().to(torch.float32).contiguous()
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"meta": json.dumps(meta)})
    tmp.replace(path)


def load_example(path: Path, dtype: torch.dtype = torch.float32) -> Example:
    """One example back, K/V in ``dtype``."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {}).get("meta", "{}"))
        layers = sum(1 for name in f.keys() if name.startswith("k"))
        kv = [(f.get_tensor(f"k{i}").to(dtype), f.get_tensor(f"v{i}").to(dtype)) for i in range(layers)]
        return Example(kv, f.get_tensor("tokens"), f.get_tensor("top_ids"), f.get_tensor("top_logp"), meta)


def iter_prompts(eng: Any, backend: Any, count: int, cfg: ExampleConfig) -> Iterator[tuple[str, str, int, Any]]:
    """(question, style, budget, PromptBlocks) for ``count`` questions, deterministic in ``cfg.seed``."""
    from ..config import AnswerTask, PrefillConfig, PrefillMode
    from ..eval.datasets.longbench import build_prompt
    from ..query.prompt import build_block_prompt
    from ..types import NodeKind

    rng = random.Random(cfg.seed)
    leaves = [n for n in eng.index.nodes if n.kind == NodeKind.LEAF and n.path]
    made = 0
    while made < count:
        picks = rng.sample(leaves, k=min(3, len(leaves)))
        question = make_question([p.path[-1] for p in picks], rng)
        style = STYLES[made % len(STYLES)]
        budget = rng.choice(cfg.budgets)
        kept = eng.route(question, budget=budget).kept
        if len(kept) < 2:
            continue
        make: Callable[[str, str], list[dict[str, str]]] | None = None
        task = AnswerTask.CHAT
        if style in ("short", "brief"):
            task = AnswerTask.SHORT if style == "short" else AnswerTask.BRIEF
        else:
            def make(q: str, c: str, s: str = style) -> list[dict[str, str]]:
                return [{"role": "user", "content": build_prompt(s, c, q)}]
        prompt = build_block_prompt(question, kept, PrefillConfig(task=task), backend.chat_split_ids,
                                    backend.encode, PrefillMode.TEXT, make)
        assert prompt.blocks is not None
        made += 1
        yield question, style, budget, prompt.blocks


def example_name(question: str, style: str, budget: int) -> str:
    """A stable file name for one example."""
    return hashlib.sha256(f"{question}\x00{style}\x00{budget}".encode()).hexdigest()[:16] + ".safetensors"


def make_examples(eng: Any, backend: Any, out: Path, count: int, cfg: ExampleConfig,
                  progress: bool = True) -> int:
    """Make ``count`` examples in ``out`` (resumable: existing files are kept); returns how many were made now."""
    from tqdm.auto import tqdm

    out.mkdir(parents=True, exist_ok=True)
    model = backend.model
    stops = _stop_ids(backend.tokenizer)
    made = 0
    with torch.no_grad():
        for question, style, budget, blocks in tqdm(iter_prompts(eng, backend, count, cfg), total=count,
                                                    desc="kv adapter examples", disable=not progress):
            path = out / example_name(question, style, budget)
            if path.exists():
                continue
            answer, top_ids, top_logp = teacher(model, blocks.ids, len(blocks.suffix), stops, cfg.answer_tokens,
                                                cfg.top_k)
            kv = joined_cache(model, blocks.prefix, blocks.blocks)
            meta = {"question": question, "style": style, "budget": budget, "blocks": len(blocks.blocks),
                    "context": sum(len(b) for b in blocks.blocks), "prefix": len(blocks.prefix),
                    "suffix": len(blocks.suffix), "answer": backend.tokenizer.decode(answer)}
            save_example(path, kv, [*blocks.suffix, *answer], top_ids, top_logp, meta)
            made += 1
    return made
