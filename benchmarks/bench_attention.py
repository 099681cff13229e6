"""Causal attention on CPU, forward and backward: the C++ kernel (``empirical.model.fused_attention``)
against PyTorch's ``scaled_dot_product_attention``, at each preset's training shapes.

    python benchmarks/bench_attention.py [--presets tiny-50k tiny-100k small-200k small-500k small-1m]
                                         [--batch 16] [--seq-len 192] [--reps 9] [--threads 1]

One layer's attention of a K = 1 model: (batch x heads) sequences of seq_len - 1 tokens, fp32, the
gradient of a random output gradient. Both kernels in the same interleaved rounds; medians over
rounds, the speed-up is the median of each round's ratio.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from empirical.model import fused_attention  # noqa: E402
from empirical.model.presets import get_preset  # noqa: E402


def timed_rounds(fns: dict, reps: int, calls: int = 5) -> dict:
    for fn in fns.values():
        fn()  # warm up
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append((time.perf_counter() - start) / calls)
    return times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["tiny-50k", "tiny-100k", "small-200k", "small-500k", "small-1m"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=192)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ[fused_attention.ENV] = "fused"  # fail loudly if the kernel does not build
    T = args.seq_len - 1
    print(f"torch {torch.__version__}, {args.threads} threads, load average before {os.getloadavg()[0]:.2f}; "
          f"one layer, fp32, {args.batch} sequences x heads of {T} tokens, median of {args.reps} rounds\n")
    print("| preset | heads x head_dim | PyTorch attention (ms) | C++ kernel (ms) | speed-up | max abs. difference |")
    print("|---|---|---|---|---|---|")
    for name in args.presets:
        cfg = get_preset(name)
        shape = (args.batch, cfg.n_head, T, cfg.head_dim)
        gen = torch.Generator().manual_seed(0)
        q, k, v = [torch.randn(shape, generator=gen, requires_grad=True) for _ in range(3)]
        grad = torch.randn(shape, generator=gen)

        def pytorch():
            F.scaled_dot_product_attention(q, k, v, is_causal=True).backward(grad)

        def kernel():
            fused_attention.causal_attention(q, k, v).backward(grad)

        with torch.no_grad():
            diff = (fused_attention.causal_attention(q, k, v)
                    - F.scaled_dot_product_attention(q, k, v, is_causal=True)).abs().max().item()
        times = timed_rounds({"pytorch": pytorch, "kernel": kernel}, args.reps)
        ratio = statistics.median(a / b for a, b in zip(times["pytorch"], times["kernel"]))
        print(f"| {name} | {cfg.n_head} x {cfg.head_dim} | {statistics.median(times['pytorch']) * 1e3:.2f} | "
              f"{statistics.median(times['kernel']) * 1e3:.2f} | {ratio:.2f}x | {diff:.1e} |", flush=True)
    print(f"\nload average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
