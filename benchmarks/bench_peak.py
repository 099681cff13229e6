"""Training throughput against this machine's matrix-product peak, fp32 and bf16, K = 1 and 8.

    python benchmarks/bench_peak.py [--presets tiny-50k tiny-100k small-200k small-500k]
                                    [--K 1 8] [--batch 16] [--seq-len 192] [--reps 5]
                                    [--threads 2] [--baseline REF] [--profile PRESET] [--compile]

1. Peak: GFLOP/s of bare ``torch.mm`` in fp32 and bf16, on a 2048^3 product and at each preset's
   own shapes (every projection, MLP and head product of a training step: forward, input
   gradient, weight gradient), FLOP-weighted over those shapes.
2. Per preset, precision and K: tokens/s of a training step as the trainer runs it (the K-stacked
   model's forward with the fused head and loss, backward, StackedAdamW with per-model clipping;
   bf16 = ``torch.autocast``, i.e. the model's mixed-precision policy), on random tokens; the
   achieved FLOP/s from ``empirical.model.gptneox.training_flops_per_token``, and that as a fraction of
   the peak at the preset's shapes and of the 2048^3 peak.
3. ``--baseline REF``: the same fp32 and bf16 steps with the model and optimiser of git revision
   REF (read with ``git show``), timed in the same interleaved rounds, and the ratio to it (a
   compiled row's too is against REF's eager step).
   ``--compile``: each step also ``torch.compile``d (Inductor's C++ kernels on CPU), in the same
   rounds; its rows are "fp32+compile" and "bf16+compile", with their speed-up over eager.
4. ``--profile PRESET``: where one training step's time goes (torch.profiler, both precisions):
   matrix products, attention, softmax and loss, casts, optimiser, the rest.

Every variant, the peaks included, is timed in the same interleaved rounds (other processes on
shared cores hit all alike); tokens/s and GFLOP/s are medians over rounds, ratios the median of
each round's ratio; the load average is printed.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from empirical.model import gptneox as current_model  # noqa: E402
from empirical.train import optim as current_optim  # noqa: E402
from empirical.config import OptimConfig  # noqa: E402
from empirical.model.gptneox import keep_freed_memory, training_flops_per_token  # noqa: E402
from empirical.model.presets import get_preset, params_nonembedding  # noqa: E402

DEFAULT_PRESETS = ("tiny-50k", "tiny-100k", "small-200k", "small-500k")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def interleaved_times(fns: dict, reps: int) -> dict:
    """Wall times of each function over ``reps`` rounds, one call of each per round."""
    for fn in fns.values():
        fn()  # warm up: allocator, thread pool, first-touch memory
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def median_ratio(times: dict, slow: str, fast: str) -> float:
    """Median over rounds of times[slow] / times[fast]: each round's two runs were back to back, so
    load that comes and goes on shared cores cancels better than in a ratio of medians."""
    return statistics.median(a / b for a, b in zip(times[slow], times[fast]))


def step_shapes(name: str, batch: int, seq_len: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of every matrix product in one model's training step, projections and head:
    forward y = x W^T (N, d_in, d_out), input gradient (N, d_out, d_in), weight gradient
    (d_out, N, d_in)."""
    cfg = get_preset(name)
    d, f, V, N = cfg.d_model, cfg.d_ff, cfg.vocab_size, batch * (seq_len - 1)
    layer = [(d, 3 * d), (d, d), (d, f), (f, d)]
    shapes = []
    for d_in, d_out in layer * cfg.n_layer + [(d, V)]:
        shapes += [(N, d_in, d_out), (N, d_out, d_in), (d_out, N, d_in)]
    return shapes


def matmul_fns(shapes: list[tuple[int, int, int]], label: str) -> tuple[dict, int]:
    """Functions doing the products ``shapes`` one after another, per dtype, and their FLOPs."""
    gen = torch.Generator().manual_seed(0)
    operands = {key: [(torch.randn(m, k, generator=gen).to(dt), torch.randn(k, n, generator=gen).to(dt))
                      for m, k, n in shapes] for key, dt in DTYPES.items()}
    fns = {f"{label}-{key}": (lambda ops=ops: [torch.mm(a, b) for a, b in ops]) for key, ops in operands.items()}
    return fns, sum(2 * m * k * n for m, k, n in shapes)


def load_revision(ref: str):
    """The ``empirical.model.gptneox`` and ``empirical.train.optim`` modules of git revision ``ref``."""
    folder = Path(tempfile.mkdtemp(prefix="bench_peak_"))
    modules = []
    for name, since_split in (("model", "empirical/model/gptneox.py"), ("optim", "empirical/train/optim.py")):
        # Revisions before the subpackage split kept both modules flat in empirical/; their imports
        # of flat sibling modules are pointed at today's homes so the old code runs beside the new.
        shown = subprocess.run(["git", "show", f"{ref}:{since_split}"], cwd=ROOT, capture_output=True, text=True)
        if shown.returncode != 0:
            shown = subprocess.run(["git", "show", f"{ref}:empirical/{name}.py"], cwd=ROOT, check=True,
                                   capture_output=True, text=True)
        text = shown.stdout
        for flat, home in (("empirical.presets", "empirical.model.presets"), ("empirical.config", "empirical.config"),
                           ("empirical.kernels", "empirical.model.kernels")):
            text = text.replace(f"from {flat} import", f"from {home} import")
        path = folder / f"rev_{name}.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location(f"rev_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


def training_step(model_mod, optim_mod, name: str, K: int, batch: int, seq_len: int, precision: str, steps: int = 2,
                  compiled: bool = False):
    """A closure running ``steps`` training steps of a K-stack as the trainer does (its forward
    ``torch.compile``d when ``compiled``, as ``TrainConfig.compile``; the warm-up call compiles)."""
    cfg = get_preset(name).replace(max_seq_len=max(seq_len, 256))
    model = model_mod.GPTNeoX(cfg, seeds=list(range(K)))
    forward = torch.compile(model) if compiled else model
    optimiser = optim_mod.StackedAdamW(model.parameters(), K, OptimConfig(lr=1e-3))
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, cfg.vocab_size, (K, batch, seq_len - 1), generator=gen)
    targets = torch.randint(0, cfg.vocab_size, (K, batch, seq_len - 1), generator=gen)
    lrs = torch.full((K,), 1e-3)

    def run():
        for _ in range(steps):
            autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16"
                        else contextlib.nullcontext())
            with autocast:
                losses = forward(idx, targets)
            losses.sum().backward()
            optimiser.step(lrs)
            optimiser.zero_grad()
    return run, steps * K * batch * (seq_len - 1)


CATEGORIES = (("attention", ("scaled_dot_product", "flash_attention")),
              ("matmul", ("aten::bmm", "aten::baddbmm", "aten::mm", "aten::addmm", "aten::matmul")),
              ("softmax+loss", ("softmax", "gather", "index_put", "logsumexp", "aten::log")),
              ("casts+copies", ("aten::copy_", "aten::_to_copy", "aten::cat", "aten::index")),
              ("norm+gelu", ("layer_norm", "gelu")))


def profile_step(name: str, batch: int, seq_len: int) -> None:
    from torch.profiler import ProfilerActivity, profile, record_function

    print(f"\nwhere one training step's time goes, {name}, K = 1, {batch} x {seq_len - 1} tokens (torch.profiler, "
          f"self CPU time, ms per step):")
    print(f"{'precision':9s} {'total':>7s} {'optimiser':>9s} " + " ".join(f"{c:>12s}" for c, _ in CATEGORIES)
          + f" {'other':>7s}")
    for precision in DTYPES:
        cfg = get_preset(name)
        model = current_model.GPTNeoX(cfg, seeds=[0])
        optimiser = current_optim.StackedAdamW(model.parameters(), 1, OptimConfig(lr=1e-3))
        idx = torch.randint(0, cfg.vocab_size, (1, batch, seq_len - 1))
        lrs = torch.full((1,), 1e-3)

        def step():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                losses = model(idx, idx)
            losses.sum().backward()
            with record_function("optimiser"):
                optimiser.step(lrs)
                optimiser.zero_grad()
        for _ in range(2):
            step()
        steps = 3
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                step()
        events = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in events) / 1e3 / steps
        optim_ms = sum(e.cpu_time_total for e in events if e.key == "optimiser") / 1e3 / steps
        spent = {c: 0.0 for c, _ in CATEGORIES}
        for e in events:
            for category, needles in CATEGORIES:
                if any(n in e.key for n in needles):
                    spent[category] += e.self_cpu_time_total / 1e3 / steps
                    break
        other = total - optim_ms - sum(spent.values())
        print(f"{precision:9s} {total:7.1f} {optim_ms:9.1f} " + " ".join(f"{spent[c]:12.1f}" for c, _ in CATEGORIES)
              + f" {other:7.1f}")


def table_lines(name: str, K: int, times: dict, tokens: dict, modes, shape_flops: int, square_flops: int, args,
                baseline: bool) -> list[str]:
    """One table row per precision and compile mode of a preset's K-stack, from its timed rounds."""
    cfg = get_preset(name)
    flops = training_flops_per_token(cfg, args.seq_len - 1)
    seconds = {key: statistics.median(ts) for key, ts in times.items()}
    lines = []
    for precision in DTYPES:
        peak = shape_flops / seconds[f"shapes-{precision}"] / 1e9
        square = square_flops / seconds[f"square-{precision}"] / 1e9
        for compiled in modes:
            key, suffix = precision + "+compile" * compiled, "+compile" * compiled
            rate = tokens[key] / seconds[key]
            achieved = rate * flops / 1e9
            ratio = f"{median_ratio(times, 'fp32' + suffix, key):.2f}x" if precision == "bf16" else ""
            line = (f"| {name} | {params_nonembedding(cfg):,} | {flops / 1e6:.2f} | {K} | {key} | "
                    f"{rate:,.0f} | {achieved:.1f} | {peak:.0f} | {achieved / peak:.0%} | {square:.0f} | "
                    f"{achieved / square:.0%} | {ratio} |")
            if len(modes) > 1:
                line += f" {median_ratio(times, precision, key):.2f}x |" if compiled else " |"
            if baseline:
                line += f" {median_ratio(times, 'base-' + precision, key):.2f}x |"
            lines.append(line)
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(DEFAULT_PRESETS))
    parser.add_argument("--K", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--batch", type=int, default=16, help="sequences per model per step (the full preset's 16)")
    parser.add_argument("--seq-len", type=int, default=192, help="tokens per sequence (the model sees seq_len - 1)")
    parser.add_argument("--reps", type=int, default=5, help="interleaved rounds; the median is reported")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--baseline", metavar="REF", help="also time the model and optimiser of this git revision")
    parser.add_argument("--profile", metavar="PRESET", help="print where one step's time goes for this preset")
    parser.add_argument("--compile", action="store_true", help="also time each step torch.compile'd")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    print(f"torch {torch.__version__}, {args.threads} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, load average before {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores; {args.batch} x {args.seq_len - 1} tokens per model per step, "
          f"median of {args.reps} interleaved rounds")
    square_fns, square_flops = matmul_fns([(2048, 2048, 2048)], "square")
    baseline = load_revision(args.baseline) if args.baseline else None
    modes = (False, True) if args.compile else (False,)
    print(f"\n| preset | non-emb params | MFLOP/token | K | precision | tokens/s | GFLOP/s | peak at shapes "
          f"(GFLOP/s) | of shape peak | 2048^3 peak (GFLOP/s) | of 2048^3 peak | bf16 / fp32 |"
          + (" compiled / eager |" if args.compile else "") + (f" vs {args.baseline} |" if baseline else ""))
    print("|---" * (12 + bool(args.compile) + bool(baseline)) + "|")
    for name in args.presets:
        shape_fns, shape_flops = matmul_fns(step_shapes(name, args.batch, args.seq_len), "shapes")
        for K in args.K:
            # The peaks are timed in the same rounds as the steps, so the fractions share their load.
            fns, tokens = {**square_fns, **shape_fns}, {}
            torch._dynamo.reset()  # else later groups pass the recompile limit and run eager
            for precision in DTYPES:
                for compiled in modes:
                    key = precision + "+compile" * compiled
                    fns[key], tokens[key] = training_step(current_model, current_optim, name, K, args.batch,
                                                          args.seq_len, precision, compiled=compiled)
                if baseline:
                    fns["base-" + precision], _ = training_step(*baseline, name, K, args.batch, args.seq_len, precision)
            times = interleaved_times(fns, args.reps)
            for line in table_lines(name, K, times, tokens, modes, shape_flops, square_flops, args, bool(baseline)):
                print(line, flush=True)
    if args.profile:
        profile_step(args.profile, args.batch, args.seq_len)
    print(f"\nload average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
