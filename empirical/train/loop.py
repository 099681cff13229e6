"""Training: one function from typed configs to result rows.

``train(config)`` trains one model; ``train_group(configs)`` trains K models of one architecture at
once, each with its own data stream, optimiser state, checkpoint and rows: the models are
a K-stack (``empirical.model.gptneox``) whose losses are summed, so each gets exactly its own gradient.

``train_group`` reads top to bottom, like nanoGPT's train.py: build data and models (``_build``),
resume them or start them from ``init_from`` (``_resume_or_initialise``), wrap them for compile and
DDP (``_wrap``), then for each step set the learning rates, draw each run's batch, forward and
backward, clip and update each model (``_train_step``), check for divergence, and at the evaluation
steps evaluate, write the rows and a checkpoint (``_evaluate_and_write``, ``_save_checkpoint``).
A checkpoint holds everything a run needs to continue exactly (model and optimiser slices, the data
stream's position, the rows so far), written atomically, so resuming reproduces an uninterrupted
run (bit-identical on CPU; tested).

Several processes (``torchrun``) split each global batch: every rank draws the same global batch and
trains on its own slice; DistributedDataParallel averages the gradients. Padding can leave the slices
with unequal numbers of counted targets, so each rank's loss is weighted by its share of them, which
makes the average exactly the gradient of the global-batch mean (tested: two CPU processes match one
process). Rank 0 alone evaluates, writes checkpoints and returns new rows; the others return no new
rows (only those a checkpoint they resumed from holds).
Launch any script that calls ``train`` (it joins the process group torchrun sets up), e.g.

    OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 -m empirical train --run-dir runs/a ...
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_endpoint HOST:29500 -m empirical train ...

with ``batch_size`` (global) divisible by the number of processes (``empirical.train.runtime``) and, for resuming, ``run_dir`` on a
filesystem every rank reads.
"""
from __future__ import annotations

import contextlib
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from empirical.train.checkpoint import CHECKPOINT, load_or_set_aside, one_line, save_atomic
from empirical.config import TrainConfig
from empirical.train.divergence import CHECK_EVERY, DivergedError, DivergenceWatch, divergence_limit  # noqa: F401
from empirical.train.evaluate import evaluate_knowledge, sequence_loss
from empirical.train.init import initialise_from
from empirical.model.hf import save_pretrained
from empirical.model.gptneox import GPTNeoX, keep_freed_memory
from empirical.train.optim import StackedAdamW, learning_rate
from empirical.text.pipeline import RunData, build_run_data
from empirical.model.presets import params_nonembedding, params_total, sized_for
from empirical.model import fused_attention
from empirical.train.provenance import git_commit, package_version  # noqa: F401 - re-exported
from empirical.train.runtime import Distributed, distributed, pick_device, same_on_all_ranks

CHECKPOINT_SECONDS = 600.0  # between evaluation points, a checkpoint at least this often (one process)



def check_group(configs: Sequence[TrainConfig]) -> None:
    """Runs trained together must have equal ``TrainConfig.group_signature()`` (the runner packs by it)."""
    if not configs:
        raise ValueError("train_group needs at least one config, got none")
    first = configs[0].group_signature()
    for c in configs[1:]:
        for key, value in c.group_signature().items():
            if value != first[key]:
                raise ValueError(f"runs in one group must share {key}: {first[key]!r} != {value!r}")


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
    checkpoint_seconds: float | None = None,
) -> list[list[dict]]:
    """Train K models at once; returns each run's rows.

    run_dirs: one folder per run for its checkpoint (resumed from when present) and saved model.
    on_rows(k, rows): called with run k's new rows at each evaluation point (e.g. to append them to a
    results table as they come). stop_after_steps: stop early after this many optimiser steps in
    total (for tests of resume; the checkpoint is written first). replay_rows: on resuming, first
    pass on_rows the rows each checkpoint holds (so a caller that prints rows prints them all, even
    those a killed predecessor wrote to its checkpoint but never printed). checkpoint_seconds: between
    evaluation points, a checkpoint at least this often (default ``CHECKPOINT_SECONDS``; one process
    only, since ranks would disagree on the clock), so a kill loses minutes, not half a run; resuming
    from any step gives the same run.

    Raises DivergedError (after the last healthy evaluation point's rows and checkpoint) when a
    run's training loss turns non-finite or exceeds ``divergence_limit``.
    """
    g = _build(configs, run_dirs, device)
    _resume_or_initialise(g, on_rows if replay_rows else None)
    train_model = _wrap(g)
    first, eval_steps, run_ids = g.configs[0], set(g.configs[0].eval_steps()), [c.run_id for c in g.configs]
    watch = DivergenceWatch(len(g.configs), divergence_limit(g.data[0].vocab_size), g.device)
    bar, steps_this_call = _Progress(g, enabled=progress and g.dist.main), 0
    every = (CHECKPOINT_SECONDS if checkpoint_seconds is None else checkpoint_seconds) if g.dist.world == 1 else math.inf
    saved_at = time.monotonic()
    while g.step < first.steps:
        # determine the learning rates for this step
        lrs = torch.tensor([learning_rate(g.step, first.steps, c.optim.lr, c.schedule) for c in g.configs])
        # forward backward update
        losses = _train_step(g, train_model, lrs, watch)
        steps_this_call += 1
        stopping = stop_after_steps is not None and steps_this_call >= stop_after_steps and g.step < first.steps
        due = g.step not in eval_steps and time.monotonic() - saved_at >= every
        # progress
        bar.update(losses)
        # check for divergence, before this step writes any row or checkpoint
        if g.step in eval_steps or stopping or due or g.step % CHECK_EVERY == 0:
            watch.check(run_ids, g.step, g.dist.world)
        # evaluate, write rows and checkpoints; between evaluations, checkpoints every few minutes
        if g.step in eval_steps:
            bar.evaluated(_evaluate_and_write(g, losses, bar.elapsed(), on_rows))
            saved_at = time.monotonic()
        elif due or stopping:
            for k in range(len(g.configs)):
                _save_checkpoint(g, k)
            saved_at = time.monotonic()
        # termination: stop_after_steps leaves a checkpoint to resume from
        if stopping:
            break
    bar.close()
    if save_model and g.dirs is not None and g.dist.main and g.step >= first.steps:
        for k in range(len(g.configs)):
            save_pretrained(g.model, k, g.dirs[k] / "model")
    return g.rows


@dataclass
class _Group:
    """What the loop carries: K runs' configs, folders, data streams and rows, their K-stack model
    and optimiser, the process's rank and device, and the optimiser steps taken so far."""
    configs: list[TrainConfig]
    dirs: list[Path] | None
    dist: Distributed
    device: torch.device
    data: list[RunData]
    model: GPTNeoX
    optimizer: StackedAdamW
    rows: list[list[dict]]
    step: int = 0

    @property
    def local(self) -> slice:
        """This rank's slice of each global batch."""
        b, world, rank = self.configs[0].batch_size, self.dist.world, self.dist.rank
        return slice(rank * b // world, (rank + 1) * b // world)

    def autocast(self):
        """bf16 autocast when the configs ask for it."""
        if self.configs[0].precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()


def _build(configs: Sequence[TrainConfig], run_dirs: Sequence[str | Path] | None, device: str | None) -> _Group:
    """Check the group, join the process group, build each run's data and the fresh K-stack."""
    configs = list(configs)
    check_group(configs)
    if run_dirs is not None and len(run_dirs) != len(configs):
        raise ValueError(f"need one run_dir per config ({len(configs)}), got {len(run_dirs)}")
    dist = distributed()
    first = configs[0]
    dev = pick_device(device)
    if first.batch_size % dist.world:
        raise ValueError(f"batch_size {first.batch_size} must be divisible by the number of processes ({dist.world})")
    data = [build_run_data(c) for c in configs]
    if dev.type == "cpu":
        keep_freed_memory()  # re-faulting freed activations every step cost up to 2x on CPU
    model_cfg = sized_for(first.model, data[0].vocab_size, first.data.seq_len)
    model = GPTNeoX(model_cfg, seeds=[c.seed for c in configs]).to(dev)
    optimizer = StackedAdamW(model.parameters(), len(configs), first.optim)
    dirs = [Path(d) for d in run_dirs] if run_dirs is not None else None
    return _Group(configs, dirs, dist, dev, data, model, optimizer, [[] for _ in configs])


def _resume_or_initialise(g: _Group, replay: Callable[[int, list[dict]], None] | None) -> None:
    """Load each run's checkpoint (and pass ``replay`` the rows it holds); with none, start the runs
    that name ``init_from`` from those weights (continual pre-training)."""
    if g.dirs is not None:
        # weights_only: a checkpoint can hold no code to run; a damaged one is set aside (rank 0
        # renames it) and its run starts again (empirical.train.checkpoint).
        states = [load_or_set_aside(d / CHECKPOINT, c.steps, may_rename=g.dist.main) for d, c in zip(g.dirs, g.configs)]
        steps_found = {s["step"] for s in states if s is not None}
        if steps_found and (len(steps_found) > 1 or any(s is None for s in states)):
            raise ValueError(f"runs in one group must resume from the same step, found checkpoints at {sorted(steps_found)} "
                             f"and {sum(s is None for s in states)} run(s) without one")
        for k, state in enumerate(states):
            if state is not None:
                if state["config"] != g.configs[k].to_dict():
                    raise ValueError(f"checkpoint in {g.dirs[k]} belongs to a different config")
                try:
                    _load_checkpoint(g.model, g.optimizer, k, state, g.data[k])
                except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as error:
                    raise ValueError(f"checkpoint in {g.dirs[k]} does not fit its run: {one_line(error)}") from None
                g.rows[k] = state["rows"]
                g.step = state["step"]
        if replay is not None and g.dist.main:
            for k in range(len(g.configs)):
                replay(k, list(g.rows[k]))

    if g.step == 0:
        for k, c in enumerate(g.configs):
            if c.init_from:
                initialise_from(g.model, k, c, g.dirs[k] if g.dirs is not None else None)

    # A rank that found no checkpoint (run_dir not shared) would run more steps than the others and
    # hang in a collective: fail on every rank instead.
    if not same_on_all_ranks(g.step, g.dist, g.device):
        raise ValueError(f"ranks resume from different steps (rank {g.dist.rank}: {g.step}); "
                         f"run_dir must be on a filesystem every rank reads")


def _wrap(g: _Group) -> torch.nn.Module:
    """The module the steps call: the K-stack, compiled if asked, in DDP with several processes.
    Evaluation and checkpoints use ``g.model`` itself, which shares the parameters, so only the
    training step's fixed shapes are compiled. On CPU, Inductor writes C++ kernels (it needs a C++
    compiler) but keeps PyTorch's attention, so there it is slower than eager with the C++ attention
    kernel (README, "Training speed")."""
    train_model = g.model
    if g.configs[0].compile:
        if g.device.type == "cpu":
            _require_cpp_compiler()
        # Dynamo caches compiled code per function, not per module: a worker training group after
        # group would hit its recompile limit and silently fall back to eager. Earlier groups are done.
        torch._dynamo.reset()
        train_model = torch.compile(g.model)
    if g.dist.world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(
            train_model, device_ids=[g.device.index] if g.device.type == "cuda" else None)
    return train_model


def _require_cpp_compiler() -> None:
    """Fail before training, not at the first step, when Inductor finds no C++ compiler for CPU."""
    try:
        from torch._inductor import cpp_builder, exc
    except ImportError:  # another torch layout: let torch.compile report it
        return
    try:
        cpp_builder.get_cpp_compiler()
    except exc.InvalidCxxCompiler:
        raise ValueError("compile=true on CPU needs a C++ compiler for torch.compile's Inductor backend "
                         "(g++ on PATH, or CXX naming one); none was found: install one or set compile=false") from None


def _train_step(g: _Group, train_model: torch.nn.Module, lrs: torch.Tensor, watch: DivergenceWatch) -> torch.Tensor:
    """One optimiser step of every run on its next batch. ``watch`` records the (K,) losses of this
    rank's slice; returned are those losses weighted as below (unweighted on one process)."""
    local = g.local
    batch = np.stack([d.next_batch() for d in g.data])  # (K, B, T), the same global batch on every rank
    x = torch.from_numpy(batch[:, local]).to(g.device, dtype=torch.long, non_blocking=True)  # (K, B_local, T)
    targets = x[..., 1:].masked_fill(x[..., 1:] == g.data[0].pad_id, -100)  # padding is never a target
    with g.autocast():
        losses = train_model(x[..., :-1], targets)  # (K,) mean loss per model over this slice, nats
    watch.update(losses, g.step + 1)
    if g.dist.world > 1:
        # DDP averages gradients over ranks; weighting the slice mean by world * n_local / n_global
        # (counted targets) makes that average the gradient of the global-batch mean, and the
        # ranks' weighted losses average to the global-batch loss.
        counted = batch[..., 1:] != g.data[0].pad_id
        share = g.dist.world * counted[:, local].sum((1, 2)) / np.maximum(counted.sum((1, 2)), 1)
        losses = losses * torch.from_numpy(share).to(losses.device, losses.dtype)
    losses.sum().backward()
    g.optimizer.step(lrs)
    g.optimizer.zero_grad()
    g.step += 1
    return losses


def _evaluate_and_write(g: _Group, losses: torch.Tensor, elapsed: float,
                        on_rows: Callable[[int, list[dict]], None] | None) -> list[list[dict]]:
    """At an evaluation step: rank 0 evaluates; each run's new rows go to its rows, its checkpoint
    and ``on_rows``, in that order. Returns the new rows (empty on the other ranks)."""
    train_losses = losses.detach().float()
    if g.dist.world > 1:  # every rank reaches each evaluation step, so this collective is matched
        torch.distributed.all_reduce(train_losses)
        train_losses /= g.dist.world  # the global batch's loss, not rank 0's slice
    new_rows = (_evaluate(g.model, g.data, g.configs, g.step, train_losses.cpu(), g.device, elapsed)
                if g.dist.main else [[] for _ in g.configs])
    for k in range(len(g.configs)):
        g.rows[k].extend(new_rows[k])
        _save_checkpoint(g, k)
        if on_rows is not None and g.dist.main:
            on_rows(k, new_rows[k])
    return new_rows


def _save_checkpoint(g: _Group, k: int) -> None:
    """Write run k's checkpoint (rank 0 only, and only for runs with a folder)."""
    if g.dirs is None or not g.dist.main:
        return
    g.dirs[k].mkdir(parents=True, exist_ok=True)
    state = _checkpoint(g.model, g.optimizer, k, g.step, g.data[k], g.rows[k], g.configs[k])
    save_atomic(state, g.dirs[k] / CHECKPOINT)  # a kill leaves either the old checkpoint or the new one


class _Progress:
    """The progress bar (tokens per second, the first four runs' losses, then their accuracies at
    each evaluation point) and the wall clock the rows record; a bar only when ``enabled``."""

    def __init__(self, g: _Group, enabled: bool) -> None:
        self.bar = None
        self.tokens_per_step, self.tokens_done = g.configs[0].tokens_per_step, 0
        if enabled:
            from tqdm.auto import tqdm

            first = g.configs[0]
            self.bar = tqdm(total=first.steps, initial=g.step, desc=f"train {first.model} x{len(g.configs)}",
                            unit="step", dynamic_ncols=True)
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def update(self, losses: torch.Tensor) -> None:
        self.tokens_done += self.tokens_per_step
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(tok_s=f"{self.tokens_done / max(self.elapsed(), 1e-9):,.0f}",
                                 loss=" ".join(f"{v:.3f}" for v in losses.detach().float().cpu()[:4].tolist()),
                                 refresh=False)

    def evaluated(self, new_rows: list[list[dict]]) -> None:
        if self.bar is not None:
            self.bar.set_postfix(acc=" ".join(f"{r[-1]['accuracy']:.3f}" for r in new_rows[:4]), refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _evaluate(model: GPTNeoX, data: list[RunData], configs: list[TrainConfig], step: int,
              train_losses: torch.Tensor, dev: torch.device, elapsed: float) -> list[list[dict]]:
    model.eval()
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
    attention = fused_attention.kernel_name(dev, model_cfg.head_dim)
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
            "attention": attention,
        }])
    return out
