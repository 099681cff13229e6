"""Where a run executes: its device, and its rank among the processes ``torchrun`` started.

One process is rank 0 of a world of 1. Under torchrun (WORLD_SIZE > 1) each process joins the process
group (gloo on CPU, NCCL on GPU) and trains its slice of every global batch (``empirical.train.loop``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch


def pick_device(requested: str | None = None) -> torch.device:
    """The requested device, or CUDA when there is one; under torchrun a bare "cuda" means this
    process's own GPU (cuda:LOCAL_RANK), not every rank on cuda:0."""
    if requested:
        device = torch.device(requested)
        if device.type == "cuda" and device.index is None and int(os.environ.get("WORLD_SIZE", 1)) > 1:
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return device
    if torch.cuda.is_available():
        rank = int(os.environ.get("LOCAL_RANK", 0))
        return torch.device("cuda", rank)
    return torch.device("cpu")


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def distributed() -> Distributed:
    """This process's rank; under torchrun (WORLD_SIZE > 1) joins its process group first."""
    if not torch.distributed.is_available():
        return Distributed()
    if not torch.distributed.is_initialized() and int(os.environ.get("WORLD_SIZE", 1)) > 1:
        torch.distributed.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
    if torch.distributed.is_initialized():
        return Distributed(torch.distributed.get_rank(), torch.distributed.get_world_size())
    return Distributed()


def same_on_all_ranks(value: int, dist: Distributed, device: torch.device) -> bool:
    """Whether every rank holds ``value`` (a collective: every rank must call it)."""
    if dist.world == 1:
        return True
    both = torch.tensor([value, -value], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(both, op=torch.distributed.ReduceOp.MAX)
    return both[0].item() == -both[1].item()
