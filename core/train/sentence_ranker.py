"""Training the learned sentence re-ranking (:mod:`h2mt.query.sentence_ranker`) on answer sets.

One :class:`Group` per question: the fusion's best :data:`~h2mt.query.sentence_ranker.RANKER_TOP`
kept sentences (their features, their embeddings read in their places, the question's embedding)
and which of them is part of the question's evidence sentence. Only groups with an evidence
sentence and another one teach anything.

The loss is the listwise softmax cross-entropy of the evidence among its group's candidates
(``logsumexp(all) - logsumexp(evidence)``), one group per step, AdamW. The linear part starts at
the fusion's order (all weight on ``fused_rank``) and the bilinear part near zero, so an untrained
ranker keeps the fusion's order; a few epochs suffice (more overfit the bilinear term: the
held-out ranks in docs/benchmarks.md were measured this way).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..query.sentence_ranker import FEATURES, SentenceRanker

__all__ = ["Group", "RankerTraining", "train_ranker", "evidence_ranks"]


@dataclass(frozen=True)
class Group:
    """One question's candidates: ``feats`` (n, F), ``asked`` (D,), ``placed`` (n, D), ``evidence`` (n,) bool."""

    feats: np.ndarray
    asked: np.ndarray
    placed: np.ndarray
    evidence: np.ndarray

    @property
    def teaches(self) -> bool:
        """Whether the group has an evidence sentence and another one."""
        return bool(self.evidence.any()) and not bool(self.evidence.all())


@dataclass(frozen=True)
class RankerTraining:
    """How the ranker is trained."""

    rank: int = 1  # R of the bilinear term
    epochs: int = 2
    lr: float = 3e-3
    weight_decay: float = 1e-3
    seed: int = 0
    start_weight: float = 10.0  # the fused_rank weight the linear part starts at


def train_ranker(groups: Sequence[Group], cfg: RankerTraining = RankerTraining(), card: dict[str, Any] | None = None,
                 ) -> SentenceRanker:
    """A :class:`SentenceRanker` trained on ``groups`` (those that teach; module docstring)."""
    import torch

    data = [g for g in groups if g.teaches]
    if not data:
        raise ValueError("no question has its evidence and another sentence among its candidates: nothing to train on")
    dim = data[0].asked.shape[0]
    gen = torch.Generator().manual_seed(cfg.seed)
    w = torch.zeros(len(FEATURES))
    w[FEATURES.index("fused_rank")] = cfg.start_weight
    w.requires_grad_(True)
    b = torch.zeros(1, requires_grad=True)
    u = (torch.randn(dim, cfg.rank, generator=gen) * 0.01).requires_grad_(True)
    v = (torch.randn(dim, cfg.rank, generator=gen) * 0.01).requires_grad_(True)
    opt = torch.optim.AdamW([w, b, u, v], lr=cfg.lr, weight_decay=cfg.weight_decay)
    tensors = [(torch.from_numpy(g.feats), torch.from_numpy(g.asked.astype(np.float32)),
                torch.from_numpy(g.placed.astype(np.float32)), torch.from_numpy(g.evidence.astype(bool))) for g in data]
    order = list(range(len(tensors)))
    for epoch in range(cfg.epochs):
        random.Random(cfg.seed * 1000 + epoch).shuffle(order)
        for i in order:
            feats, asked, placed, ev = tensors[i]  # (n, F), (D,), (n, D), (n,)
            scores = feats @ w + b + (placed @ v) @ (asked @ u)  # (n,)
            loss = torch.logsumexp(scores, 0) - torch.logsumexp(scores[ev], 0)
            loss.backward()
            opt.step()
            opt.zero_grad()
    info = {**(card or {}), "training": {"groups": len(data), "rank": cfg.rank, "epochs": cfg.epochs, "lr": cfg.lr,
                                         "weight_decay": cfg.weight_decay, "seed": cfg.seed}}
    return SentenceRanker(w.detach().numpy().copy(), float(b.detach()[0]), u.detach().numpy().copy(),
                          v.detach().numpy().copy(), card=info)


def evidence_ranks(groups: Sequence[Group], ranker: SentenceRanker | None) -> list[int | None]:
    """Per group, the rank of its first evidence sentence under ``ranker`` (``None``: the fusion's
    order), or ``None`` when the group has none."""
    out: list[int | None] = []
    for g in groups:
        order = ranker.order(g.feats, g.asked, g.placed) if ranker is not None else list(range(len(g.feats)))
        out.append(next((r for r, i in enumerate(order) if g.evidence[i]), None))
    return out
