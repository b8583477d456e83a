"""Two-stage HMT training with full (or truncated) BPTT over unrolled segments, resumable.

Stage 1 (``stage1_steps``): no memory search - the previous memory embedding is placed
directly at both ends of the next segment - over ``stage1_segments`` unrolled segments.
Stage 2 (``stage2_steps``): starts from stage 1 and adds the summary token T and the W_q/W_k
search over ``stage2_segments`` unrolled segments. Each stage has its own AdamW + StepLR;
gradients are clipped to ``grad_clip``. The LM loss counts every segment's tokens
(``loss_on="all"``) or the last segment's (``"last"``).

Checkpoints (``<out>/ckpt``) hold the trained tensors, optimizer, scheduler, sampler state and
step; a rerun with ``resume=True`` continues from there. The final memory is written to
``<out>/final`` with :func:`~h2mt.hmt.artifact.save_hmt` (only what was trained).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ..config import HMTConfig
from .data import TokenizedDocument, WindowSampler

__all__ = ["HMTTrainer", "TrainResult", "train_hmt"]

log = logging.getLogger(__name__)

_STATE_FILE = "trainer.pt"
_SCHEDULE_FIELDS = ("stage1_steps", "stage2_steps", "save_every")  # may change when resuming


@dataclass(frozen=True)
class TrainResult:
    """Summary of a training run."""

    out_dir: Path
    final_dir: Path
    steps: int  # optimizer steps done in total (both stages, all runs)
    wall_s: float  # wall time of this run
    final_loss: float  # mean loss over the last (up to) 20 steps
    stopped_early: bool  # the time budget ended the run before all steps


class HMTTrainer:
    """Trains an :class:`~h2mt.hmt.model.HMT` on windows of tokenized documents."""

    def __init__(
        self,
        hmt: Any,
        docs: Sequence[TokenizedDocument],
        out_dir: str | os.PathLike[str],
        progress: bool = True,
    ) -> None:
        self.hmt = hmt
        self.cfg: HMTConfig = hmt.config
        self.docs = list(docs)
        self.out = Path(out_dir)
        self.progress = progress
        self.step = 0
        self.losses: list[float] = []
        self._stage = 0
        self.optimizer: Any = None
        self.scheduler: Any = None
        self.sampler: WindowSampler | None = None
        if self.cfg.grad_checkpointing:
            hmt.enable_gradient_checkpointing()

    # ------------------------------------------------------------ stages
    def stage_of(self, step: int) -> int:
        """1 or 2: the stage that optimizer step ``step`` (0-based) belongs to."""
        return 1 if step < self.cfg.stage1_steps else 2

    def _enter_stage(self, stage: int) -> None:
        import torch

        from ..adapt import trained_state

        cfg = self.cfg
        self.hmt.config = cfg.replace(memory_search=stage == 2)
        n_seg = cfg.stage1_segments if stage == 1 else cfg.stage2_segments
        self.sampler = WindowSampler(self.docs, n_seg * cfg.new_tokens, seed=cfg.seed * 1000 + stage)
        params = [p for p in trained_state(self.hmt).values() if p.requires_grad]
        if not params:
            raise ConfigError("nothing to train: no parameter requires grad; check HMTConfig.trainable.")
        self.optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, cfg.lr_step_size, cfg.lr_gamma)
        self._stage = stage
        log.info("HMT stage %d: %d unrolled segments of %d tokens, %d tensors",
                 stage, n_seg, cfg.new_tokens, len(params))

    # ------------------------------------------------------------ one step
    def train_step(self) -> float:
        """One optimizer step on a fresh batch of windows; returns the loss."""
        import torch

        from ..adapt import trained_state

        assert self.sampler is not None
        self.hmt.train()
        ids = torch.tensor(self.sampler.sample(self.cfg.batch_size), dtype=torch.long, device=self.hmt.device)
        out = self.hmt(ids, labels=ids, return_logits=False)
        assert out.loss is not None
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        params = [p for p in trained_state(self.hmt).values() if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return float(out.loss.detach())

    # ------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> Path:
        """Write a resumable checkpoint to ``<out>/ckpt`` (atomically, via a temporary folder)."""
        import torch

        from ..artifact import save_hmt

        tmp = self.out / "ckpt.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        save_hmt(self.hmt, tmp / "hmt", meta={"step": self.step})
        assert self.sampler is not None
        torch.save(
            {
                "step": self.step,
                "stage": self._stage,
                "losses": self.losses,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "sampler": self.sampler.state(),
                "torch_rng": torch.get_rng_state(),
                "config": self.cfg.to_dict(),
            },
            tmp / _STATE_FILE,
        )
        final = self.out / "ckpt"
        old = self.out / "ckpt.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        return final

    def load_checkpoint(self) -> bool:
        """Resume from ``<out>/ckpt`` when it exists; returns whether it did."""
        import torch
        from safetensors.torch import load_file

        ckpt = self.out / "ckpt"
        if not (ckpt / _STATE_FILE).is_file():
            return False
        state = torch.load(ckpt / _STATE_FILE, map_location="cpu", weights_only=False)
        saved, now = dict(state["config"]), self.cfg.to_dict()
        for key in _SCHEDULE_FIELDS:  # a resumed run may train for more or fewer steps
            saved.pop(key, None)
            now.pop(key, None)
        if saved != now:
            diff = sorted(k for k in now if saved.get(k) != now[k])
            raise ConfigError(
                f"the checkpoint in {ckpt} was written with another HMTConfig (differs in {diff}); use a new "
                "--out folder or the same settings (or start over without --resume)."
            )
        params = dict(self.hmt.named_parameters(remove_duplicate=False))
        with torch.no_grad():
            for name, value in load_file(str(ckpt / "hmt" / "hmt.safetensors")).items():
                params[name].copy_(value.to(device=params[name].device, dtype=params[name].dtype))
        self.step = int(state["step"])
        self.losses = list(state["losses"])
        if self.step < self.cfg.stage1_steps + self.cfg.stage2_steps:
            stage = self.stage_of(self.step)
            self._enter_stage(stage)
            if stage == int(state["stage"]):  # mid-stage: continue its optimizer, schedule and windows
                self.optimizer.load_state_dict(state["optimizer"])
                self.scheduler.load_state_dict(state["scheduler"])
                assert self.sampler is not None
                self.sampler.set_state(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed HMT training at step %d from %s", self.step, ckpt)
        return True

    # ------------------------------------------------------------ loop
    def train(self, resume: bool = True, max_minutes: float | None = None) -> TrainResult:
        """Run (or continue) both stages; stop early, checkpointed, when ``max_minutes`` is spent."""
        import torch
        from tqdm.auto import tqdm

        from ..artifact import save_hmt

        self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(self.cfg.seed)
        log_file = self.out / "log.jsonl"
        if not (resume and self.load_checkpoint()):
            self.step = 0
            log_file.unlink(missing_ok=True)
        elif log_file.is_file():  # drop steps logged after the checkpoint (they are redone)
            keep = [
                ln for ln in log_file.read_text(encoding="utf-8").splitlines() if json.loads(ln)["step"] <= self.step
            ]
            log_file.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")
        total = self.cfg.stage1_steps + self.cfg.stage2_steps
        t0 = time.monotonic()
        stopped = False
        bar = tqdm(total=total, initial=self.step, desc="HMT train", unit="step", disable=not self.progress)
        with log_file.open("a", encoding="utf-8") as logf:
            while self.step < total:
                stage = self.stage_of(self.step)
                if stage != self._stage:
                    self._enter_stage(stage)
                loss = self.train_step()
                self.step += 1
                self.losses.append(loss)
                recent = self.losses[-20:]
                mean = sum(recent) / len(recent)
                bar.set_postfix(stage=stage, loss=f"{loss:.3f}", ppl=f"{math.exp(min(mean, 30)):.1f}")
                bar.update(1)
                rec = {"step": self.step, "stage": stage, "loss": loss, "lr": self.scheduler.get_last_lr()[0]}
                logf.write(json.dumps({**rec, "elapsed_s": round(time.monotonic() - t0, 1)}) + "\n")
                logf.flush()
                if self.step % self.cfg.save_every == 0:
                    self.save_checkpoint()
                if max_minutes is not None and time.monotonic() - t0 > 60 * max_minutes and self.step < total:
                    log.warning("HMT training stopped by the time budget at step %d/%d", self.step, total)
                    stopped = True
                    break
        bar.close()
        if self._stage:
            self.save_checkpoint()
        self.hmt.config = self.cfg if self.cfg.stage2_steps > 0 else self.cfg.replace(memory_search=False)
        recent = self.losses[-20:]
        final_loss = sum(recent) / len(recent) if recent else float("nan")
        meta = {"steps": self.step, "final_loss": final_loss, "stopped_early": stopped}
        final = save_hmt(self.hmt, self.out / "final", meta=meta)
        self.hmt.eval()
        return TrainResult(self.out, final, self.step, time.monotonic() - t0, final_loss, stopped)


def train_hmt(
    backbone: Any,
    tokenizer: Any,
    config: HMTConfig,
    out_dir: str | os.PathLike[str],
    sources: Sequence[str] | None = None,
    eval_fraction: float = 0.1,
    resume: bool = True,
    max_minutes: float | None = None,
    progress: bool = True,
) -> TrainResult:
    """Build an HMT over ``backbone``, train it on the train side of the corpus, save it.

    Only documents on the train side of :func:`~h2mt.hmt.train.data.split_documents` are used.
    """
    from ..model import HMT
    from .data import load_corpus, split_documents, tokenize_documents

    train_docs, held = split_documents(load_corpus(sources, progress=progress), eval_fraction)
    log.info("HMT training on %d documents (%d held out)", len(train_docs), len(held))
    tokenized = tokenize_documents(train_docs, tokenizer)
    hmt = HMT(backbone, config)
    return HMTTrainer(hmt, tokenized, out_dir, progress=progress).train(resume=resume, max_minutes=max_minutes)
