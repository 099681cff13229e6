"""Training: one function from typed configs to result rows.

``train(config)`` trains one model; ``train_group(configs)`` trains K models of one architecture at
once, each with its own data stream, optimiser state, checkpoint and rows: the models are
a K-stack (``empirical.model``) whose losses are summed, so each gets exactly its own gradient.

The loop reads top to bottom: build data and models (or resume them), then for each step draw each
run's batch, forward and backward, clip and update each model, and at the evaluation steps evaluate,
write the rows and a checkpoint. A checkpoint holds everything a run needs to continue exactly
(model and optimiser slices, the data stream's position, the rows so far), written atomically, so
resuming reproduces an uninterrupted run (bit-identical on CPU; tested).

Several processes (``torchrun``) split each global batch: every rank draws the same global batch and
trains on its own slice; DistributedDataParallel averages the gradients. Padding can leave the slices
with unequal numbers of counted targets, so each rank's loss is weighted by its share of them, which
makes the average exactly the gradient of the global-batch mean (tested: two CPU processes match one
process). Rank 0 alone evaluates, writes checkpoints and returns new rows; the others return no new
rows (only those a checkpoint they resumed from holds).
Launch any script that calls ``train`` (it joins the process group torchrun sets up), e.g.

    OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 -m empirical train --run-dir runs/a ...
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_endpoint HOST:29500 -m empirical train ...

with ``batch_size`` (global) divisible by the number of processes and, for resuming, ``run_dir`` on a
filesystem every rank reads.
"""
from __future__ import annotations

import contextlib
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from empirical.checkpoint import CHECKPOINT, load_or_set_aside, one_line, save_atomic
from empirical.config import TrainConfig
from empirical.divergence import CHECK_EVERY, DivergedError, DivergenceWatch, divergence_limit  # noqa: F401
from empirical.evaluate import evaluate_knowledge, sequence_loss
from empirical.init import initialise_from
from empirical.model import GPTNeoX, keep_freed_memory, save_pretrained
from empirical.optim import StackedAdamW, learning_rate
from empirical.pipeline import RunData, build_run_data
from empirical.presets import params_nonembedding, params_total, sized_for
from empirical.provenance import git_commit, package_version  # noqa: F401 - re-exported



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


def check_group(configs: Sequence[TrainConfig]) -> None:
    """Runs trained together must have equal ``TrainConfig.group_signature()`` (the runner packs by it)."""
    if not configs:
        raise ValueError("train_group needs at least one config, got none")
    first = configs[0].group_signature()
    for c in configs[1:]:
        for key, value in c.group_signature().items():
            if value != first[key]:
                raise ValueError(f"runs in one group must share {key}: {first[key]!r} != {value!r}")


@dataclass
class _Distributed:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _distributed() -> _Distributed:
    """This process's rank; under torchrun (WORLD_SIZE > 1) joins its process group first."""
    if not torch.distributed.is_available():
        return _Distributed()
    if not torch.distributed.is_initialized() and int(os.environ.get("WORLD_SIZE", 1)) > 1:
        torch.distributed.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
    if torch.distributed.is_initialized():
        return _Distributed(torch.distributed.get_rank(), torch.distributed.get_world_size())
    return _Distributed()


def _same_on_all_ranks(value: int, dist: _Distributed, device: torch.device) -> bool:
    """Whether every rank holds ``value`` (a collective: every rank must call it)."""
    if dist.world == 1:
        return True
    both = torch.tensor([value, -value], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(both, op=torch.distributed.ReduceOp.MAX)
    return both[0].item() == -both[1].item()


def _save_atomic(obj, path: Path) -> None:
    save_atomic(obj, path)  # a kill leaves either the old checkpoint or the new one, never half of one


def _checkpoint(model: GPTNeoX, optimizer: StackedAdamW, k: int, step: int, data: RunData,
                rows: list[dict], config: TrainConfig) -> dict:
    return {
        "config": config.to_dict(),
        "step": step,
        "model": {name: p.detach()[k].cpu().clone() for name, p in model.named_parameters()},
        "optimizer": {key: (value if key == "step_count" else [t.cpu() for t in value])
                      for key, value in optimizer.state_dict_for(k).items()},
        "data": data.state_dict(),
        "rows": rows,
    }


def _load_checkpoint(model: GPTNeoX, optimizer: StackedAdamW, k: int, state: dict, data: RunData) -> None:
    with torch.no_grad():
        params = dict(model.named_parameters())
        for name, saved in state["model"].items():
            params[name][k].copy_(saved)
    optimizer.load_state_for(k, {key: (value if key == "step_count" else [t.to(model.embed_in.device) for t in value])
                                 for key, value in state["optimizer"].items()})
    data.load_state_dict(state["data"])


def train(config: TrainConfig, run_dir: str | Path | None = None, **kwargs) -> list[dict]:
    """Train one model; returns its result rows (one per evaluation point)."""
    return train_group([config], [run_dir] if run_dir is not None else None, **kwargs)[0]


def train_group(
    configs: Sequence[TrainConfig],
    run_dirs: Sequence[str | Path] | None = None,
    *,
    device: str | None = None,
    progress: bool = True,
    on_rows: Callable[[int, list[dict]], None] | None = None,
    stop_after_steps: int | None = None,
    save_model: bool = False,
    replay_rows: bool = False,
) -> list[list[dict]]:
    """Train K models at once; returns each run's rows.

    run_dirs: one folder per run for its checkpoint (resumed from when present) and saved model.
    on_rows(k, rows): called with run k's new rows at each evaluation point (e.g. to append them to a
    results table as they come). stop_after_steps: stop early after this many optimiser steps in
    total (for tests of resume; the checkpoint is written first). replay_rows: on resuming, first
    pass on_rows the rows each checkpoint holds (so a caller that prints rows prints them all, even
    those a killed predecessor wrote to its checkpoint but never printed).

    Raises DivergedError (after the last healthy evaluation point's rows and checkpoint) when a
    run's training loss turns non-finite or exceeds ``divergence_limit``.
    """
    configs = list(configs)
    check_group(configs)
    if run_dirs is not None and len(run_dirs) != len(configs):
        raise ValueError(f"need one run_dir per config ({len(configs)}), got {len(run_dirs)}")
    dist = _distributed()
    first = configs[0]
    K = len(configs)
    dev = pick_device(device)
    if first.batch_size % dist.world:
        raise ValueError(f"batch_size {first.batch_size} must be divisible by the number of processes ({dist.world})")

    # --- data and models -------------------------------------------------------------------------
    data = [build_run_data(c) for c in configs]
    vocab, pad_id = data[0].vocab_size, data[0].pad_id
    if dev.type == "cpu":
        keep_freed_memory()  # re-faulting freed activations every step cost up to 2x on CPU
    model_cfg = sized_for(first.model, vocab, first.data.seq_len)
    model = GPTNeoX(model_cfg, seeds=[c.seed for c in configs]).to(dev)
    optimizer = StackedAdamW(model.parameters(), K, first.optim)
    rows: list[list[dict]] = [[] for _ in configs]
    step = 0
    dirs = [Path(d) for d in run_dirs] if run_dirs is not None else None
    if dirs is not None:
        # weights_only: a checkpoint can hold no code to run; a damaged one is set aside (rank 0
        # renames it) and its run starts again (empirical.checkpoint).
        states = [load_or_set_aside(d / CHECKPOINT, c.steps, may_rename=dist.main) for d, c in zip(dirs, configs)]
        steps_found = {s["step"] for s in states if s is not None}
        if steps_found and (len(steps_found) > 1 or any(s is None for s in states)):
            raise ValueError(f"runs in one group must resume from the same step, found checkpoints at {sorted(steps_found)} "
                             f"and {sum(s is None for s in states)} run(s) without one")
        for k, state in enumerate(states):
            if state is not None:
                if state["config"] != configs[k].to_dict():
                    raise ValueError(f"checkpoint in {dirs[k]} belongs to a different config")
                try:
                    _load_checkpoint(model, optimizer, k, state, data[k])
                except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as error:
                    raise ValueError(f"checkpoint in {dirs[k]} does not fit its run: {one_line(error)}") from None
                rows[k] = state["rows"]
                step = state["step"]
        if replay_rows and on_rows is not None and dist.main:
            for k in range(K):
                on_rows(k, list(rows[k]))

    if step == 0:  # nothing resumed: runs with init_from start from those weights (continual pre-training)
        for k, c in enumerate(configs):
            if c.init_from:
                initialise_from(model, k, c, dirs[k] if dirs is not None else None)

    # A rank that found no checkpoint (run_dir not shared) would run more steps than the others and
    # hang in a collective: fail on every rank instead.
    if not _same_on_all_ranks(step, dist, dev):
        raise ValueError(f"ranks resume from different steps (rank {dist.rank}: {step}); "
                         f"run_dir must be on a filesystem every rank reads")

    train_model = model
    if first.compile and dev.type == "cuda":
        train_model = torch.compile(model)
    if dist.world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(
            train_model, device_ids=[dev.index] if dev.type == "cuda" else None)

    # --- the loop --------------------------------------------------------------------------------
    total = first.steps
    eval_steps = set(first.eval_steps())
    autocast = (torch.autocast(dev.type, dtype=torch.bfloat16) if first.precision == "bf16"
                else contextlib.nullcontext())
    peaks = [c.optim.lr for c in configs]
    bar = None
    if progress and dist.main:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=step, desc=f"train {first.model} x{K}", unit="step", dynamic_ncols=True)
    local = slice(dist.rank * first.batch_size // dist.world, (dist.rank + 1) * first.batch_size // dist.world)
    started, tokens_done = time.perf_counter(), 0
    last_losses = torch.zeros(K)
    steps_this_call = 0
    watch = DivergenceWatch(K, divergence_limit(vocab), dev)
    run_ids = [c.run_id for c in configs]
    while step < total:
        batch = np.stack([d.next_batch() for d in data])  # (K, B, T), the same global batch on every rank
        x = torch.from_numpy(batch[:, local]).to(dev, dtype=torch.long, non_blocking=True)  # (K, B_local, T)
        targets = x[..., 1:].masked_fill(x[..., 1:] == pad_id, -100)  # padding is never a target
        with autocast:
            losses = train_model(x[..., :-1], targets)  # (K,) mean loss per model over this slice, nats
        watch.update(losses, step + 1)
        if dist.world > 1:
            # DDP averages gradients over ranks; weighting the slice mean by world * n_local / n_global
            # (counted targets) makes that average the gradient of the global-batch mean, and the
            # ranks' weighted losses average to the global-batch loss.
            counted = batch[..., 1:] != pad_id
            share = dist.world * counted[:, local].sum((1, 2)) / np.maximum(counted.sum((1, 2)), 1)
            losses = losses * torch.from_numpy(share).to(losses.device, losses.dtype)
        losses.sum().backward()
        lrs = torch.tensor([learning_rate(step, total, peak, c.schedule) for peak, c in zip(peaks, configs)])
        optimizer.step(lrs)
        optimizer.zero_grad()
        step += 1
        steps_this_call += 1
        tokens_done += first.tokens_per_step
        if bar is not None:
            last_losses = losses.detach().float().cpu()
            bar.update(1)
            elapsed = time.perf_counter() - started
            bar.set_postfix(tok_s=f"{tokens_done / max(elapsed, 1e-9):,.0f}",
                            loss=" ".join(f"{v:.3f}" for v in last_losses[:4].tolist()), refresh=False)
        stopping = stop_after_steps is not None and steps_this_call >= stop_after_steps and step < total
        if step in eval_steps or stopping or step % CHECK_EVERY == 0:
            watch.check(run_ids, step, dist.world)  # before this step's rows and checkpoint
        if step in eval_steps:
            train_losses = losses.detach().float()
            if dist.world > 1:  # every rank reaches each evaluation step, so this collective is matched
                torch.distributed.all_reduce(train_losses)
                train_losses /= dist.world  # the global batch's loss, not rank 0's slice
            new_rows = _evaluate(model, data, configs, step, train_losses.cpu(), dev,
                                 time.perf_counter() - started) if dist.main else [[] for _ in configs]
            for k in range(K):
                rows[k].extend(new_rows[k])
                if dirs is not None and dist.main:
                    dirs[k].mkdir(parents=True, exist_ok=True)
                    _save_atomic(_checkpoint(model, optimizer, k, step, data[k], rows[k], configs[k]), dirs[k] / CHECKPOINT)
                if on_rows is not None and dist.main:
                    on_rows(k, new_rows[k])
            if bar is not None:
                bar.set_postfix(acc=" ".join(f"{r[-1]['accuracy']:.3f}" for r in new_rows[:4]), refresh=True)
        if stopping:
            if dirs is not None and dist.main:
                for k in range(K):
                    dirs[k].mkdir(parents=True, exist_ok=True)
                    _save_atomic(_checkpoint(model, optimizer, k, step, data[k], rows[k], configs[k]), dirs[k] / CHECKPOINT)
            break
    if bar is not None:
        bar.close()
    if save_model and dirs is not None and dist.main and step >= total:
        for k in range(K):
            save_pretrained(model, k, dirs[k] / "model")
    return rows


def _evaluate(model: GPTNeoX, data: list[RunData], configs: list[TrainConfig], step: int,
              train_losses: torch.Tensor, dev: torch.device, elapsed: float) -> list[list[dict]]:
    model.eval()
    first = configs[0]
    knowledge = evaluate_knowledge(
        model,
        [d.eval_items(c.eval.people, c.eval.templates) for d, c in zip(data, configs)],
        [d.attribute_entropy_bits for d in data],
        [d.people for d in data],
    )
    pad_id = data[0].pad_id
    web = sequence_loss(model, np.stack([d.web_validation(c.eval.web_sequences) for d, c in zip(data, configs)]), pad_id)
    know = sequence_loss(model, np.stack([d.knowledge_validation(c.eval.web_sequences) for d, c in zip(data, configs)]),
                         pad_id)
    model.train()
    model_cfg = model.config
    out = []
    for k, (c, d) in enumerate(zip(configs, data)):
        exposure = d.exposure_statistics()
        out.append([{
            "run_id": c.run_id,
            "config": c.to_dict(),
            "model": c.model,
            "params_total": params_total(model_cfg),
            "params_nonembedding": params_nonembedding(model_cfg),
            "knowledge": c.data.knowledge,
            "mixing_ratio": c.data.mixing_ratio,
            "people": c.data.people,
            "people_trained": d.people,
            "rho": c.data.subsample_rho,
            "tau": c.data.ckm_tau,
            "seed": c.seed,
            "init_from": c.init_from or None,
            "step": step,
            "tokens": step * c.tokens_per_step,
            **exposure,
            **knowledge[k],
            "knowledge_loss": float(know[k]),
            "web_loss": float(web[k]),
            "train_loss": float(train_losses[k]),
            "wall_time_s": elapsed,
            "device": str(dev) if dev.type != "cuda" else torch.cuda.get_device_name(dev),
            "host": platform.node(),
            "package_version": package_version(),
            "git_commit": git_commit(),
        }])
    return out
