"""Divergence: a training loss that turned non-finite or blew far above its start.

Such a run has stopped measuring anything: its accuracy of 0 would read as "not learned", the very
signal the experiments measure (arXiv 2505.18091, Sec. 4). Training stops and raises
``DivergedError``; the sweep runner records the run as failed and writes no row for it past the last
healthy evaluation point.

The per-step test runs on the device, without waiting for it; the result is read every
``CHECK_EVERY`` steps and at every evaluation point, before that point's rows are written.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

FACTOR = 2.0  # a training loss above FACTOR x ln(vocab) counts as divergence (see ``divergence_limit``)
CHECK_EVERY = 32  # steps between reads of the flags (each read waits for the device)


class DivergedError(RuntimeError):
    """Training diverged: the runs named (``members``: their indices in the group) had a non-finite
    training loss or one above ``divergence_limit`` at ``step``."""

    def __init__(self, run_ids: Sequence[str], step: int, losses: Sequence[float], members: Sequence[int]) -> None:
        self.run_ids, self.step = list(run_ids), int(step)
        self.losses, self.members = [float(v) for v in losses], [int(k) for k in members]
        where = ", ".join(f"run {rid} has training loss {loss:.4g}" for rid, loss in zip(self.run_ids, self.losses))
        super().__init__(f"training diverged at step {self.step}: {where}")

    def __reduce__(self):  # picklable, so it crosses process (and Ray) boundaries intact
        return type(self), (self.run_ids, self.step, self.losses, self.members)


def divergence_limit(vocab_size: int) -> float:
    """The training loss (nats per token) above which a run counts as diverged: FACTOR x ln V.

    A freshly initialised model predicts nearly uniformly, so training starts near ln V (7.6 nats
    for a 2048-token vocabulary) and goes down. A loss twice the uniform predictor's means the model
    puts confident mass on wrong tokens everywhere: the updates have blown up (lr 0.99 takes a tiny
    model to 30-36 nats). The bound depends on the vocabulary alone, so no state is needed that a
    resume could lose, and it sits far above the early spikes of healthy runs (tested at lr 1e-2)."""
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be >= 2, got {vocab_size!r}")
    return FACTOR * math.log(vocab_size)


class DivergenceWatch:
    """The first step at which each of K runs' training loss left [0, limit] (NaN included)."""

    def __init__(self, K: int, limit: float, device: torch.device) -> None:
        self.limit = limit
        self.first_step = torch.full((K,), -1, dtype=torch.long, device=device)  # -1: healthy so far
        self.loss = torch.zeros(K, dtype=torch.float32, device=device)

    def update(self, losses: torch.Tensor, step: int) -> None:
        """Record this step's (K,) losses; runs nothing on the host."""
        losses = losses.detach().float()
        new = ~(losses <= self.limit) & (self.first_step < 0)  # NaN compares False: counted as bad
        self.first_step = torch.where(new, step, self.first_step)
        self.loss = torch.where(new, losses, self.loss)

    def check(self, run_ids: Sequence[str], step: int, world: int = 1) -> None:
        """Raise DivergedError if any run diverged by ``step``. With several processes this is a
        collective (every rank calls it at the same step, and all raise together): each rank sees
        its own slice of the batch, and a run diverged if it did on any rank."""
        bad = self.first_step >= 0
        if world > 1:
            flags = bad.to(torch.float32)
            torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
            bad = flags > 0
        bad = bad.cpu()
        if not bad.any():
            return
        members = bad.nonzero().flatten().tolist()
        first, loss = self.first_step.cpu().tolist(), self.loss.cpu().tolist()
        # A run that only another rank saw diverge has no step or loss on this one.
        steps = [first[k] if first[k] >= 0 else step for k in members]
        losses = [loss[k] if first[k] >= 0 else math.nan for k in members]
        raise DivergedError([run_ids[k] for k in members], min(steps), losses, members)
