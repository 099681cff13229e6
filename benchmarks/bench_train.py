"""Training throughput of the whole trainer, and its overhead over a bare training loop.

    python benchmarks/bench_train.py [--presets tiny-50k small-1m] [--batch 16] [--seq-len 256]
                                     [--steps 20] [--reps 3] [--threads 2]

For each preset: (a) tokens per second of ``empirical.train.loop.train`` on a SynBio mixture (r = 0.3,
1000 people, the bpe-2048 tokenizer), timed by the rows' ``wall_time_s``: the training loop from its
first step to the last, with data drawing and mixing, the per-model clipping and StackedAdamW, the
learning-rate schedule and the progress bar (drawn to /dev/null), but not setup or the one
evaluation at the end; (b) the same number of steps of a bare loop over pre-made random tensors of
the same model and batch (forward, backward, ``clip_grad_norm_per_model``, fused
``torch.optim.AdamW``: ``bench_model.training_step``), and our overhead over it,
(ours - bare) / bare. Then where the difference goes, per step: drawing one batch, and one
optimiser step of StackedAdamW against the fused AdamW. Best-of-N wall times, runs interleaved;
the load average is printed because the cores may be shared.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_model, run as a script from anywhere
from bench_model import best_times, training_step  # noqa: E402

from empirical.config import DataConfig, EvalConfig, OptimConfig, TrainConfig  # noqa: E402
from empirical.model.gptneox import GPTNeoX, keep_freed_memory  # noqa: E402
from empirical.train.optim import StackedAdamW  # noqa: E402
from empirical.text.pipeline import build_run_data  # noqa: E402
from empirical.model.presets import get_preset, params_nonembedding  # noqa: E402

SMALL_PRESETS = ("tiny-50k", "tiny-100k", "small-200k", "small-500k", "small-1m", "medium-3m")


def bench_config(preset: str, batch: int, seq_len: int, steps: int) -> TrainConfig:
    return TrainConfig(
        model=preset, data=DataConfig(people=1000, mixing_ratio=0.3, seq_len=seq_len, tokenizer="bpe-2048"),
        batch_size=batch, tokens=batch * seq_len * steps, optim=OptimConfig(lr=1e-3),
        eval=EvalConfig(points=1, people=20, templates="first", web_sequences=2),
    )


def time_train(config: TrainConfig) -> float:
    """Seconds of the training loop alone (the last row's wall_time_s is taken before evaluation)."""
    from empirical.train.loop import train

    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
        rows = train(config, progress=True)
    return rows[-1]["wall_time_s"]


def bare_loop(config: TrainConfig):
    """The same steps over fixed random tensors: nothing but the model and torch's AdamW. Each call
    builds a fresh model and optimiser (untimed), as each train() does, and returns the timed loop."""
    data = build_run_data(config)
    cfg = get_preset(config.model).replace(vocab_size=data.vocab_size)
    gen = torch.Generator().manual_seed(0)
    shape = (1, config.batch_size, config.data.seq_len - 1)  # the trainer feeds T - 1 inputs per sequence
    idx = torch.randint(0, cfg.vocab_size, shape, generator=gen)
    targets = torch.randint(0, cfg.vocab_size, shape, generator=gen)
    o = config.optim

    def fresh():
        model = GPTNeoX(cfg, seeds=[0])
        adamw = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps,
                                  weight_decay=o.weight_decay, fused=True)
        step = training_step(model, adamw, idx, targets)
        return lambda: [step() for _ in range(config.steps)]
    return fresh


def per_step_parts(config: TrainConfig, reps: int) -> dict:
    """Milliseconds per step of drawing one batch, and of one StackedAdamW / fused AdamW update."""
    data = build_run_data(config)
    cfg = get_preset(config.model).replace(vocab_size=data.vocab_size)
    draws = 20

    def draw():
        for _ in range(draws):
            data.next_batch()

    ours_model, fused_model = GPTNeoX(cfg, seeds=[0]), GPTNeoX(cfg, seeds=[0])
    for m in (ours_model, fused_model):
        for p in m.parameters():
            p.grad = torch.randn_like(p) * 1e-3
    ours = StackedAdamW(ours_model.parameters(), 1, config.optim)
    lrs = torch.tensor([config.optim.lr])
    fused = torch.optim.AdamW(fused_model.parameters(), lr=config.optim.lr, fused=True)
    # The bare loop also clips (clip_grad_norm_per_model); StackedAdamW clips inside its step.
    from empirical.model.gptneox import clip_grad_norm_per_model

    def fused_step():
        clip_grad_norm_per_model(fused_model, 1.0)
        fused.step()

    t_draw, t_ours, t_fused = best_times([draw, lambda: ours.step(lrs), fused_step], reps)
    return dict(draw_ms=1e3 * t_draw / draws, ours_ms=1e3 * t_ours, fused_ms=1e3 * t_fused)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(SMALL_PRESETS))
    parser.add_argument("--batch", type=int, default=16, help="sequences per step")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20, help="training steps per timed run")
    parser.add_argument("--reps", type=int, default=3, help="best of this many runs")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as train() does on CPU, so the bare loop gets the same allocator
    print(f"torch {torch.__version__}, {args.threads} threads, load average before {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores")
    print(f"config: SynBio 1000 people mixed at r = 0.3 into the default web corpus, tokenizer bpe-2048, "
          f"batch {args.batch} x seq_len {args.seq_len} = {args.batch * args.seq_len:,} tokens per step, "
          f"{args.steps} steps per run, fp32, best of {args.reps}")
    print(f"\n{'preset':11s} {'non-emb':>9s} | {'train() tok/s':>13s} {'bare tok/s':>11s} {'overhead':>9s} | "
          f"{'draw ms':>8s} {'StackedAdamW ms':>15s} {'fused AdamW ms':>14s}  (per step)")
    for name in args.presets:
        config = bench_config(name, args.batch, args.seq_len, args.steps)
        time_train(config)  # warm up: tokenizer, corpus and knowledge caches, first-touch memory
        fresh_bare = bare_loop(config)
        fresh_bare()()
        ours_s, bare_s = [], []
        for _ in range(args.reps):  # interleaved, so load from other processes hits both alike
            ours_s.append(time_train(config))
            bare = fresh_bare()
            start = time.perf_counter()
            bare()
            bare_s.append(time.perf_counter() - start)
        ours, base = min(ours_s), min(bare_s)
        parts = per_step_parts(config, args.reps)
        tokens = config.steps * config.tokens_per_step
        print(f"{name:11s} {params_nonembedding(get_preset(name)):9,d} | {tokens / ours:13,.0f} {tokens / base:11,.0f} "
              f"{100 * (ours - base) / base:8.1f}% | {parts['draw_ms']:8.2f} {parts['ours_ms']:15.2f} "
              f"{parts['fused_ms']:14.2f}", flush=True)
    print(f"\nload average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
