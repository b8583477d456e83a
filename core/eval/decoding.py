"""How every benchmark method decodes: one explicit setting (docs/architecture.md section 4).

Greedy (temperature 0, top-p 1), no repetition penalty, at most the task's ``max_new_tokens``:
:func:`bench_decoding` is the only place the benchmark picks it, the generation worker hands it
to every method (text prompts through :meth:`Decoding.prefill_config`, methods that answer by
themselves through :meth:`h2mt.eval.methods.base.MethodBase.answer`), each answer row records it
(:meth:`Decoding.as_dict`) and the reports state it (:func:`describe_decoding`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..config import AnswerTask, PrefillConfig
from ..errors import ConfigError

__all__ = ["Decoding", "bench_decoding", "describe_decoding"]


@dataclass(frozen=True)
class Decoding:
    """One decoding setting; the defaults are the benchmark's (greedy, repetition penalty 1.0)."""

    max_new_tokens: int  # the task's answer length (BenchDataset.max_new_tokens)
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    repetition_penalty: float = 1.0  # 1.0 = none

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError(f"Decoding.max_new_tokens must be >= 1, got {self.max_new_tokens}")

    @property
    def greedy(self) -> bool:
        """Whether the most likely token is always taken."""
        return self.temperature == 0.0

    def prefill_config(self) -> PrefillConfig:
        """The generator's settings for a benchmark prompt (a plain chat turn: the prompt is the
        benchmark's own, no task instruction or stop strings added) decoded this way."""
        return PrefillConfig(task=AnswerTask.CHAT, max_new_tokens=self.max_new_tokens,
                             temperature=self.temperature, top_p=self.top_p,
                             repetition_penalty=self.repetition_penalty)

    def as_dict(self) -> dict[str, Any]:
        """The setting as recorded in result rows and reports."""
        return {"greedy": self.greedy, **asdict(self)}


def bench_decoding(max_new_tokens: int) -> Decoding:
    """The decoding of every benchmark method, for a task answering in ``max_new_tokens`` tokens."""
    return Decoding(max_new_tokens=max_new_tokens)


def describe_decoding(setting: Mapping[str, Any] | None) -> str:
    """One phrase for a recorded setting (``None``: rows from before the setting was recorded)."""
    if setting is None:
        return "not recorded in these rows"
    how = "greedy" if setting.get("greedy") else (
        f"sampled (temperature {float(setting['temperature'])}, top-p {float(setting['top_p'])})")
    return (f"{how}, repetition penalty {float(setting['repetition_penalty'])}, "
            f"at most {setting['max_new_tokens']} new tokens")
