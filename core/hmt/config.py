"""``HMTConfig``: the one typed, validated configuration of an HMT memory (architecture + training).

Standard library only, so ``import h2mt.hmt`` stays cheap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from ..errors import ConfigError

__all__ = ["HMTConfig", "TrainableMode"]

TrainableMode = Literal["memory", "lora", "full"]
_MODES = ("memory", "lora", "full")


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


@dataclass(frozen=True)
class HMTConfig:
    """Hierarchical Memory Transformer settings (He et al., NAACL 2025, arXiv 2405.06067).

    Architecture: each segment pass sees ``segment_len`` (L) positions laid out as
    ``[memory, k sensory tokens, B new tokens, memory]`` with ``B = L - 2 - k``
    (:attr:`new_tokens`). ``use_memory=False`` turns every memory part off: each segment of B
    tokens is then read by the bare backbone alone (the no-memory baseline). ``memory_search``
    False is the paper's stage 1: the previous memory embedding is used directly instead of a
    search over the cache.

    Adaptation: ``trainable`` is ``"memory"`` (only the HMT parameters: summary token T, W_q,
    W_k, initial memory), ``"lora"`` (those plus LoRA adapters on ``lora_targets``; the base
    weights stay frozen) or ``"full"`` (everything).

    Training: ``stage1_steps`` steps without memory search over ``stage1_segments`` unrolled
    segments, then ``stage2_steps`` with search over ``stage2_segments`` (full BPTT unless
    ``bptt_depth`` is set: the recurrent state is then detached every ``bptt_depth`` segments).
    """

    # architecture
    segment_len: int = 256  # L: positions of one segment pass (memory + sensory + new tokens + memory)
    sensory_len: int = 32  # k: last tokens of the previous segment repeated at the start
    cache_size: int = 100  # N: memory embeddings kept for the search
    key_dim: int = 1536  # d_h: width of the W_q / W_k projections of the memory search
    summary_len: int | None = None  # j: tokens of the segment summarised by T (None = B // 2)
    use_memory: bool = True  # False: plain segments, the bare backbone (no memory, no sensory)
    memory_search: bool = True  # False: paper stage 1, previous memory placed directly
    # adaptation
    trainable: TrainableMode = "lora"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    # training
    stage1_steps: int = 100
    stage1_segments: int = 2
    stage2_steps: int = 200
    stage2_segments: int = 4
    bptt_depth: int | None = None  # None = full BPTT over the unrolled segments
    loss_on: Literal["all", "last"] = "all"  # LM loss on every segment's tokens or on the last only
    lr: float | None = None  # None = 1e-4 (memory / lora) or 1e-5 (full)
    weight_decay: float = 0.0
    lr_step_size: int = 100  # StepLR period in optimizer steps
    lr_gamma: float = 0.7  # StepLR factor
    grad_clip: float = 1.0
    batch_size: int = 1
    grad_checkpointing: bool = False
    save_every: int = 25  # steps between resumable checkpoints
    seed: int = 0

    def __post_init__(self) -> None:
        _check(self.segment_len >= 4, f"HMTConfig.segment_len must be >= 4, got {self.segment_len}")
        _check(self.sensory_len >= 0, f"HMTConfig.sensory_len must be >= 0, got {self.sensory_len}")
        _check(
            self.segment_len - 2 - self.sensory_len > 0,
            f"HMTConfig.segment_len - 2 - sensory_len must be > 0 new tokens per segment, got "
            f"{self.segment_len} - 2 - {self.sensory_len} = {self.segment_len - 2 - self.sensory_len}; "
            "raise segment_len or lower sensory_len.",
        )
        _check(self.cache_size >= 1, f"HMTConfig.cache_size must be >= 1, got {self.cache_size}")
        _check(self.key_dim >= 1, f"HMTConfig.key_dim must be >= 1, got {self.key_dim}")
        if self.summary_len is not None:
            _check(
                1 <= self.summary_len <= self.new_tokens,
                f"HMTConfig.summary_len must be in [1, B={self.new_tokens}] (B = segment_len - 2 - "
                f"sensory_len), got {self.summary_len}; use None for B // 2.",
            )
        _check(
            self.trainable in _MODES,
            f"HMTConfig.trainable must be one of {', '.join(_MODES)}, got {self.trainable!r}",
        )
        _check(self.lora_r >= 1, f"HMTConfig.lora_r must be >= 1, got {self.lora_r}")
        _check(self.lora_alpha >= 1, f"HMTConfig.lora_alpha must be >= 1, got {self.lora_alpha}")
        _check(0.0 <= self.lora_dropout < 1.0, f"HMTConfig.lora_dropout must be in [0, 1), got {self.lora_dropout}")
        _check(
            self.trainable != "lora" or len(self.lora_targets) > 0,
            "HMTConfig.lora_targets is empty; name the modules to adapt, e.g. ('q_proj', 'v_proj').",
        )
        _check(self.stage1_steps >= 0, f"HMTConfig.stage1_steps must be >= 0, got {self.stage1_steps}")
        _check(self.stage2_steps >= 0, f"HMTConfig.stage2_steps must be >= 0, got {self.stage2_steps}")
        _check(
            self.stage1_segments >= 1 and self.stage2_segments >= 1,
            f"HMTConfig.stage1_segments/stage2_segments must be >= 1, got "
            f"{self.stage1_segments}/{self.stage2_segments}",
        )
        _check(
            self.bptt_depth is None or self.bptt_depth >= 1,
            f"HMTConfig.bptt_depth must be None (full BPTT) or >= 1, got {self.bptt_depth}",
        )
        _check(self.loss_on in ("all", "last"), f"HMTConfig.loss_on must be 'all' or 'last', got {self.loss_on!r}")
        _check(self.lr is None or self.lr > 0, f"HMTConfig.lr must be > 0 (or None for the default), got {self.lr}")
        _check(self.weight_decay >= 0, f"HMTConfig.weight_decay must be >= 0, got {self.weight_decay}")
        _check(self.lr_step_size >= 1, f"HMTConfig.lr_step_size must be >= 1, got {self.lr_step_size}")
        _check(0 < self.lr_gamma <= 1, f"HMTConfig.lr_gamma must be in (0, 1], got {self.lr_gamma}")
        _check(self.grad_clip > 0, f"HMTConfig.grad_clip must be > 0, got {self.grad_clip}")
        _check(self.batch_size >= 1, f"HMTConfig.batch_size must be >= 1, got {self.batch_size}")
        _check(self.save_every >= 1, f"HMTConfig.save_every must be >= 1, got {self.save_every}")

    @property
    def new_tokens(self) -> int:
        """B = L - 2 - k: new tokens read per segment when memory is on (L when it is off)."""
        if not self.use_memory:
            return self.segment_len
        return self.segment_len - 2 - self.sensory_len

    @property
    def summary_tokens(self) -> int:
        """j: tokens of a segment that the summary pass reads."""
        return self.summary_len if self.summary_len is not None else max(1, self.new_tokens // 2)

    @property
    def learning_rate(self) -> float:
        """``lr`` or the paper default for the trainable mode."""
        if self.lr is not None:
            return self.lr
        return 1e-5 if self.trainable == "full" else 1e-4

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        out = asdict(self)
        out["lora_targets"] = list(self.lora_targets)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HMTConfig:
        """Inverse of :meth:`to_dict`; unknown keys are refused with a ConfigError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        _check(not unknown, f"unknown HMTConfig fields {unknown}; the file was written by another version.")
        values = dict(data)
        if "lora_targets" in values:
            values["lora_targets"] = tuple(values["lora_targets"])
        return cls(**values)

    def replace(self, **changes: Any) -> HMTConfig:
        """A copy with ``changes`` applied (validated again)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return HMTConfig(**values)
