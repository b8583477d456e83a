"""Training the kv block-attention adapter: LoRA on the question and answer positions only, distilled from text mode.

Kv prefill joins leaf caches that never attended to one another; the 0.5B generator reading such
a cache answers differently from the same prompt prefilled as text. The adapter (the
Block-Attention / TurboRAG idea, here as distillation) teaches the generator to read it:

- the stored leaf caches stay those of the **bare** generator (the store is shared with every
  other use; the adapter is never on while a leaf is computed);
- the adapter is on only for the positions run at question time — the question suffix and the
  decoded answer — so text prefill and every other mode stay the bare generator;
- the loss is the KL divergence from text mode's next-token distribution (the teacher: its top-k
  tokens and one bucket for the rest, :mod:`.kv_examples`) to the adapted model's on the joined
  cache, at every suffix and answer position, plus the cross-entropy of the teacher's greedy token
  at the answer positions (greedy decoding follows the top token). No gold answers are used: the
  target is the bare generator's own text-mode reading.

Each step loads one example's joined cache (float16 on disk, float32 here), runs the suffix and
answer tokens on it with the adapter on, and back-propagates through those positions only (the
cache is a constant), so a step costs a forward and backward of ~50-100 tokens.

Training is resumable (``<out>/ckpt.pt`` every ``save_every`` steps) and stops at ``max_minutes``;
held-out examples are scored every ``eval_every`` steps (whole answers and tokens reproduced under
teacher forcing, KL) and the best-scoring adapter is the one written.
The adapter is written with peft's format (``adapter_config.json`` + ``adapter_model.safetensors``)
to ``<out>/final`` and, with ``export``, to the preset's shipped folder.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .kv_examples import Example, load_example

__all__ = ["AdapterTrainConfig", "greedy_loss", "corpus_pages", "add_lora", "student_logp", "distill_loss",
           "agreement", "train_adapter"]

log = logging.getLogger(__name__)

_PY_LIBRARY = "/usr/share/doc/python3.11/html/library"
# pages the answer dev set reads (scripts/answer_eval.py): never trained on
_HELD_PAGES = frozenset({"functions", "stdtypes", "exceptions", "itertools", "functools", "json", "pickle"})


@dataclass(frozen=True)
class AdapterTrainConfig:
    """LoRA shape and the optimisation of :func:`train_adapter`."""

    lora_r: int = 16
    lora_alpha: int = 32
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    lr: float = 3e-4
    steps: int = 600
    warmup: int = 20
    grad_clip: float = 1.0
    save_every: int = 25
    eval_every: int = 50  # held-out agreement every this many steps; the best adapter is the one written
    ce_weight: float = 1.0  # + cross-entropy of the teacher's greedy token at the answer positions
    answer_only: bool = False  # the KL at the answer positions only (not at the question's)
    max_minutes: float = 60.0
    seed: int = 0


def corpus_pages(count: int, seed: int = 0, root: str = _PY_LIBRARY) -> list[str]:
    """``count`` Python 3.11 library pages from the training side of the HMT split (never the answer
    dev set's pages), drawn with ``seed``."""
    from ..hmt.train.data import is_eval_document

    pages = [p for p in sorted(Path(root).glob("*.html"))
             if p.stem not in _HELD_PAGES and not is_eval_document(f"python3.11/html/library/{p.name}")]
    random.Random(seed).shuffle(pages)
    return [str(p) for p in pages[:count]]


def add_lora(model: Any, cfg: AdapterTrainConfig) -> list[torch.nn.Parameter]:
    """Inject the LoRA layers (:func:`h2mt.query.prefill.kv_adapter.inject`) and return the trainable
    parameters; every other weight is frozen."""
    from ..query.prefill.kv_adapter import inject

    params = inject(model, cfg.lora_r, cfg.lora_alpha, cfg.lora_targets)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    return params


def student_logp(model: Any, ex: Example) -> torch.Tensor:
    """(R, V) log-probs of the model at the example's suffix and answer positions, read on its joined cache
    (R = the teacher's rows)."""
    from transformers import DynamicCache

    rows = ex.top_ids.shape[0]
    device = model.get_input_embeddings().weight.device
    cache = DynamicCache(ddp_cache_data=[(k.to(device), v.to(device)) for k, v in ex.kv], config=model.config)
    ids = ex.tokens[:rows].to(device).unsqueeze(0)  # (1, R)
    start = ex.cached
    positions = torch.arange(start, start + rows, device=device).unsqueeze(0)  # (1, R)
    out = model(input_ids=ids, position_ids=positions, past_key_values=cache, use_cache=True)
    return torch.log_softmax(out.logits[0].float(), dim=-1)  # (R, V)


def distill_loss(logp: torch.Tensor, ex: Example, answer_only: bool = False) -> torch.Tensor:
    """KL(teacher ‖ student) over the teacher's top-k tokens plus one bucket for the rest of the vocabulary
    (exact for that partition: zero when the student's distribution is the teacher's), mean over positions
    (``answer_only``: over the rows that predict the answer)."""
    if answer_only:
        first = max(int(ex.meta.get("suffix", 1)) - 1, 0)
        logp = logp[first:]
        ex = Example(ex.kv, ex.tokens, ex.top_ids[first:], ex.top_logp[first:], ex.meta)
    top_ids = ex.top_ids.to(logp.device)  # (R, k)
    t_logp = ex.top_logp.to(logp.device).float()  # (R, k)
    s_logp = logp.gather(1, top_ids)  # (R, k)
    tiny = 1e-6
    t_rest = (1 - t_logp.exp().sum(-1)).clamp_min(tiny)  # (R,)
    s_rest = (1 - s_logp.exp().sum(-1)).clamp_min(tiny)  # (R,)
    top = (t_logp.exp() * (t_logp - s_logp)).sum(-1)  # (R,)
    rest = t_rest * (t_rest.log() - s_rest.log())  # (R,)
    return (top + rest).mean()


def greedy_loss(logp: torch.Tensor, ex: Example) -> torch.Tensor:
    """Cross-entropy of the teacher's greedy token at the rows that predict the answer (greedy decoding
    follows the top token, which the KL alone can leave on the wrong side of a near tie)."""
    first = max(int(ex.meta.get("suffix", 1)) - 1, 0)
    target = ex.top_ids[first:, 0].to(logp.device)  # (A,)
    return -logp[first:].gather(1, target.unsqueeze(1)).mean()


def _score(result: dict[str, float]) -> tuple[float, float, float]:
    return (result["answer_agreement"], result["token_agreement"], -result["kl"])


@torch.no_grad()
def agreement(model: Any, examples: Sequence[Path]) -> dict[str, float]:
    """On held-out examples: the share of answer positions where the model's top token is the teacher's,
    the share of whole answers reproduced greedily (teacher forcing), and the mean KL."""
    same = total = whole = 0
    kl = 0.0
    for path in examples:
        ex = load_example(path)
        logp = student_logp(model, ex)
        suffix = int(ex.meta.get("suffix", 0))
        pred = logp.argmax(-1)  # (R,)
        target = ex.top_ids[:, 0].to(pred.device)  # (R,)
        ans = slice(max(suffix - 1, 0), None)  # rows predicting the answer tokens
        hits = (pred[ans] == target[ans])
        same += int(hits.sum())
        total += int(hits.numel())
        whole += int(bool(hits.all()))
        kl += float(distill_loss(logp, ex))
    n = max(len(examples), 1)
    return {"token_agreement": same / max(total, 1), "answer_agreement": whole / n, "kl": kl / n}


def _lr(step: int, cfg: AdapterTrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train_adapter(model: Any, examples: Sequence[Path] | Path, held: Sequence[Path], out: Path,
                  cfg: AdapterTrainConfig, generator: str = "", progress: bool = True) -> dict[str, Any]:
    """Train the adapter on ``examples`` (files, or a folder re-read at every evaluation so examples made
    meanwhile join), resumable from ``out/ckpt.pt``; evaluate on ``held`` before, every ``eval_every``
    steps and at the end, and write the best evaluated adapter to ``out/final``; returns the summary
    (also ``out/summary.json``)."""
    from tqdm.auto import tqdm

    from ..query.prefill.kv_adapter import save_adapter, set_enabled

    out.mkdir(parents=True, exist_ok=True)
    params = add_lora(model, cfg)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    step, losses = 0, []
    ckpt = out / "ckpt.pt"
    names = [n for n, p in model.named_parameters() if "lora_" in n]
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        with torch.no_grad():
            for n, p in zip(names, params, strict=True):
                p.copy_(state["lora"][n])
        opt.load_state_dict(state["opt"])
        step, losses = state["step"], state["losses"]
        log.info("resumed at step %d", step)
    summary_path = out / "summary.json"
    summary: dict[str, Any] = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if "before" not in summary:
        set_enabled(model, False)
        summary["before"] = agreement(model, held)
        set_enabled(model, True)
        summary_path.write_text(json.dumps(summary, indent=1))
    def files() -> list[Path]:
        return sorted(examples.glob("*.safetensors")) if isinstance(examples, Path) else list(examples)

    def snapshot() -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in zip(names, params, strict=True)}

    best = (_score(summary["before"]), snapshot() if step == 0 else None, 0)
    if (out / "best.pt").exists():
        saved = torch.load(out / "best.pt", weights_only=False)
        best = (tuple(saved["score"]), saved["lora"], saved["step"])
    pool = files()
    rng = random.Random(cfg.seed + step)
    began = time.perf_counter()
    model.train()
    with tqdm(total=cfg.steps, initial=step, desc="kv adapter", disable=not progress) as bar:
        while step < cfg.steps and (time.perf_counter() - began) / 60 < cfg.max_minutes:
            ex = load_example(rng.choice(pool))
            for group in opt.param_groups:
                group["lr"] = _lr(step, cfg)
            logp = student_logp(model, ex)
            loss = distill_loss(logp, ex, cfg.answer_only) + cfg.ce_weight * greedy_loss(logp, ex)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            step += 1
            losses.append(float(loss))
            bar.update(1)
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
            if step % cfg.save_every == 0 or step == cfg.steps:
                state = {"lora": {n: p.detach().clone() for n, p in zip(names, params, strict=True)},
                         "opt": opt.state_dict(), "step": step, "losses": losses}
                torch.save(state, out / "ckpt.tmp")
                (out / "ckpt.tmp").replace(ckpt)
                with (out / "log.jsonl").open("a") as f:
                    f.write(json.dumps({"step": step, "loss": sum(losses[-20:]) / len(losses[-20:])}) + "\n")
            if step % cfg.eval_every == 0 or step == cfg.steps:
                model.eval()
                result = agreement(model, held)
                model.train()
                if _score(result) > best[0]:
                    best = (_score(result), snapshot(), step)
                    torch.save({"score": best[0], "lora": best[1], "step": step}, out / "best.pt")
                pool = files()
                with (out / "log.jsonl").open("a") as f:
                    f.write(json.dumps({"step": step, "held": result, "train_examples": len(pool)}) + "\n")
    model.eval()
    summary["last"] = agreement(model, held)
    if best[1] is not None:  # the best evaluated adapter (possibly none better than the bare generator: step 0)
        with torch.no_grad():
            for n, p in zip(names, params, strict=True):
                p.copy_(best[1][n])
    summary["best_step"] = best[2]
    summary["after"] = agreement(model, held)
    summary.update(steps=step, config=asdict(cfg), train_examples=len(files()), held_examples=len(held))
    summary_path.write_text(json.dumps(summary, indent=1))
    save_adapter(model, out / "final", {"generator": generator, "steps": step, "config": asdict(cfg),
                                        "train_examples": len(files()), "held": summary["after"],
                                        "held_before": summary["before"]})
    return summary
