"""Training the cross-encoder re-ranking of the kept sentences (:mod:`h2mt.query.cross_ranker`) on answer sets.

One :class:`CrossGroup` per question: the question, the fusion's best
:data:`~h2mt.query.cross_ranker.CROSS_TOP` kept sentences in their places (best first), which of them
can be quoted and which are part of the question's evidence sentence. Only groups with an evidence
sentence and another one teach anything.

Each step takes :attr:`CrossTraining.questions_per_step` groups. From each it reads one evidence
sentence and :attr:`CrossTraining.negatives` others (the :attr:`CrossTraining.hard` the fusion ranks
best, the rest drawn at random from its other candidates). The loss is the listwise softmax
cross-entropy of the evidence among them, averaged over the groups. AdamW, a linear warm-up then
linear decay. Only the LoRA adapters (peft, on the encoder's top :attr:`CrossTraining.layers`) and the
head learn; the encoder's own weights stay as shipped.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..query.cross_ranker import CROSS_MAX_LENGTH, CROSS_TOP, EXTRA, extra_features, pooled_scores

__all__ = ["CrossGroup", "CrossTraining", "CrossModel", "train_cross_ranker", "save_cross_ranker"]


@dataclass(frozen=True)
class CrossGroup:
    """One question's candidates, the fusion's best first: ``texts`` placed sentences, ``quotable``
    and ``evidence`` aligned with them."""

    question: str
    texts: tuple[str, ...]
    quotable: tuple[bool, ...]
    evidence: tuple[bool, ...]

    def __post_init__(self) -> None:
        if not len(self.texts) == len(self.quotable) == len(self.evidence):
            raise ValueError(f"{len(self.texts)} texts, {len(self.quotable)} quotable and {len(self.evidence)} "
                             "evidence flags: they must align")

    @property
    def teaches(self) -> bool:
        """Whether the group has an evidence sentence and another one."""
        return any(self.evidence) and not all(self.evidence)


@dataclass(frozen=True)
class CrossTraining:
    """How the cross-encoder ranker is trained."""

    rank: int = 16  # LoRA r (alpha = 2r)
    layers: tuple[int, ...] = (2, 3, 4, 5)  # the encoder layers that get adapters
    epochs: int = 2
    lr: float = 3e-4  # adapters; the head learns at head_lr
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    questions_per_step: int = 4
    negatives: int = 7  # other sentences read with each evidence sentence
    hard: int = 3  # of those, the fusion's best; the rest at random
    top: int = CROSS_TOP
    max_length: int = CROSS_MAX_LENGTH
    seed: int = 0


class CrossModel:
    """The trainable ranker: the encoder with peft LoRA adapters, and the head (D + 2 -> 1)."""

    def __init__(self, base_path: str, cfg: CrossTraining) -> None:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModel, AutoTokenizer

        lora = LoraConfig(r=cfg.rank, lora_alpha=2 * cfg.rank, lora_dropout=0.05, layers_to_transform=list(cfg.layers),
                          target_modules=["query", "key", "value", "attention.output.dense", "intermediate.dense",
                                          "output.dense"])
        self.encoder = get_peft_model(AutoModel.from_pretrained(base_path), lora)
        self.tokenizer = AutoTokenizer.from_pretrained(base_path)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size + len(EXTRA), 1)
        self.cfg = cfg
        self.trained_on = 0  # the groups it was trained on (set by train_cross_ranker)

    def scores(self, question: str, texts: Sequence[str], quotable: Sequence[bool], idx: Sequence[int]) -> Any:
        """(len(idx),) scores of the candidates ``idx`` of one group (fusion ranks kept for the head)."""
        import torch

        batch = self.tokenizer([question] * len(idx), [texts[k] for k in idx], truncation="only_second",
                               max_length=self.cfg.max_length, padding=True, return_tensors="pt")
        extra = torch.tensor(extra_features(quotable), dtype=torch.float32)[list(idx)]  # (len(idx), 2)
        return pooled_scores(self.encoder, self.head.weight[0], self.head.bias, dict(batch), extra)


def _picked(group: CrossGroup, cfg: CrossTraining, rng: random.Random) -> list[int]:
    """One evidence sentence, then ``hard`` best-ranked and random other candidates of ``group``."""
    n = min(cfg.top, len(group.texts))
    pos = [k for k in range(n) if group.evidence[k]]
    neg = [k for k in range(n) if not group.evidence[k]]
    rest = neg[cfg.hard:]
    return [rng.choice(pos), *neg[:cfg.hard], *rng.sample(rest, min(len(rest), cfg.negatives - cfg.hard))]


def train_cross_ranker(groups: Sequence[CrossGroup], base_path: str, cfg: CrossTraining = CrossTraining(),
                       progress: bool = True) -> CrossModel:
    """A :class:`CrossModel` trained on ``groups`` (those that teach within ``cfg.top``; module docstring)."""
    import torch
    from tqdm import tqdm

    data = [g for g in groups if CrossGroup(g.question, g.texts[:cfg.top], g.quotable[:cfg.top],
                                             g.evidence[:cfg.top]).teaches]
    if not data:
        raise ValueError("no question has its evidence and another sentence among its candidates: nothing to train on")
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    model = CrossModel(base_path, cfg)
    adapters = [p for p in model.encoder.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": adapters, "lr": cfg.lr},
                             {"params": list(model.head.parameters()), "lr": cfg.head_lr}],
                            weight_decay=cfg.weight_decay)
    steps = cfg.epochs * math.ceil(len(data) / cfg.questions_per_step)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / cfg.warmup_steps) * max(0.0, 1.0 - s / steps))
    model.encoder.train()
    bar = tqdm(total=steps, desc="cross ranker", disable=not progress)
    for _ in range(cfg.epochs):
        order = list(range(len(data)))
        rng.shuffle(order)
        for start in range(0, len(order), cfg.questions_per_step):
            losses = []
            for i in order[start:start + cfg.questions_per_step]:
                g = data[i]
                s = model.scores(g.question, g.texts, g.quotable, _picked(g, cfg, rng))  # (1 + negatives,)
                losses.append(-torch.log_softmax(s, 0)[0])  # the evidence is first
            loss = torch.stack(losses).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(adapters + list(model.head.parameters()), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    model.encoder.eval()
    model.trained_on = len(data)
    return model


def save_cross_ranker(model: CrossModel, folder: str | Path, card: dict[str, Any] | None = None) -> Path:
    """Write ``model`` where :func:`h2mt.query.cross_ranker.load_cross_ranker` reads it: peft's adapter
    files, ``head.safetensors`` (``weight`` (D + 2,), ``bias`` (1,)) and ``card.json``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.encoder.save_pretrained(str(folder))
    (folder / "README.md").unlink(missing_ok=True)  # peft's model-card template: the card below says what matters
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = "all-MiniLM-L6-v2"  # not this machine's path: the loader passes the base
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    save_file({"weight": model.head.weight.detach()[0].contiguous().float(),
               "bias": model.head.bias.detach().contiguous().float()}, str(folder / "head.safetensors"))
    info = {**(card or {}), "extra": list(EXTRA), "top": model.cfg.top, "max_length": model.cfg.max_length,
            "training": asdict(model.cfg), "groups": model.trained_on}
    (folder / "card.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return folder
