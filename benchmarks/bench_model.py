"""Throughput of the K-stacked GPT-NeoX on this machine: training steps and evaluation.

    python benchmarks/bench_model.py [--presets tiny-50k small-200k] [--batch 16] [--seq-len 128]
                                     [--K 1 4 8 16] [--threads 2] [--compile] [--skip-eval]

Prints, per preset and K: forward+backward tokens/s and whole-step tokens/s (forward, backward,
per-model clipping, AdamW) of one K-stack, against K solo models stepped one after another (each
with its own optimiser, as a sweep would run them without stacking), and the ratio.
Then evaluation facts per second: teacher-forced scoring (exact match + cross-entropy, all K
models in one pass) and batched greedy decoding, against greedy decoding one prompt at a time.
Numbers are best-of-N wall times; the load average is printed because the cores may be shared.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from empirical.model.decode import greedy_decode, score_targets
from empirical.model.gptneox import GPTNeoX, clip_grad_norm_per_model, keep_freed_memory
from empirical.model.presets import get_preset, params_nonembedding


def best_time(fn, reps: int) -> float:
    return best_times([fn], reps)[0]


def best_times(fns, reps: int) -> list[float]:
    """Best wall time of each function, runs interleaved so that load from other processes on
    the shared cores hits all of them alike."""
    for fn in fns:
        fn()  # warm up (allocator, thread pool, first-touch memory)
    times = [[] for _ in fns]
    for _ in range(reps):
        for fn, ts in zip(fns, times):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return [min(ts) for ts in times]


def training_step(model, optimiser, idx, targets):
    def step():
        model(idx, targets).sum().backward()
        clip_grad_norm_per_model(model, 1.0)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
    return step


def bench_training(name: str, K: int, batch: int, seq_len: int, reps: int) -> dict:
    cfg = get_preset(name)
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, cfg.vocab_size, (K, batch, seq_len), generator=gen)
    targets = torch.randint(0, cfg.vocab_size, (K, batch, seq_len), generator=gen)
    # The fused CPU AdamW kernel: several times faster than foreach on K-stacked tensors.
    adamw = dict(lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
    stack = GPTNeoX(cfg, seeds=list(range(K)))
    solos = [GPTNeoX(cfg, seeds=[k]) for k in range(K)]
    stack_fwd_bwd = lambda: stack(idx, targets).sum().backward()  # noqa: E731
    solo_fwd_bwd = lambda: solos[0](idx[:1], targets[:1]).sum().backward()  # noqa: E731
    fwd_bwd, solo_fwd_bwd = best_times([stack_fwd_bwd, solo_fwd_bwd], reps)
    stack.zero_grad(set_to_none=True), solos[0].zero_grad(set_to_none=True)
    stack_step = training_step(stack, torch.optim.AdamW(stack.parameters(), **adamw), idx, targets)
    solo_steps = [training_step(m, torch.optim.AdamW(m.parameters(), **adamw), idx[k:k + 1], targets[k:k + 1])
                  for k, m in enumerate(solos)]
    stack_step, sequential = best_times([stack_step, lambda: [s() for s in solo_steps]], reps)
    tokens = K * batch * seq_len
    return dict(fwd_bwd_tok_s=tokens / fwd_bwd, step_tok_s=tokens / stack_step,
                solo_fwd_bwd_tok_s=batch * seq_len / solo_fwd_bwd, sequential_tok_s=tokens / sequential,
                speedup=sequential / stack_step)


def bench_compile(name: str, K: int, batch: int, seq_len: int, reps: int) -> None:
    cfg = get_preset(name)
    idx = torch.randint(0, cfg.vocab_size, (K, batch, seq_len))
    model = GPTNeoX(cfg, seeds=list(range(K)))
    compiled = torch.compile(model)
    start = time.perf_counter()
    compiled(idx, idx).sum().backward()
    compile_s = time.perf_counter() - start
    eager, fast = best_times([lambda: model(idx, idx).sum().backward(),
                              lambda: compiled(idx, idx).sum().backward()], reps)
    tokens = K * batch * seq_len
    print(f"torch.compile {name} K={K}: compiled in {compile_s:.0f} s; forward+backward "
          f"{tokens / eager:,.0f} tok/s eager, {tokens / fast:,.0f} tok/s compiled ({eager / fast:.2f}x)")


def bench_eval(name: str, K: int, n_facts: int) -> None:
    """Facts/s: prompts of 20-40 tokens (a biography's sentence), targets of 2-8 tokens."""
    cfg = get_preset(name)
    gen = torch.Generator().manual_seed(1)
    lengths = torch.randint(20, 41, (n_facts,), generator=gen).tolist()
    prompts = [torch.randint(0, cfg.vocab_size, (n,), generator=gen).tolist() for n in lengths]
    targets = [torch.randint(0, cfg.vocab_size, (n,), generator=gen).tolist()
               for n in torch.randint(2, 9, (n_facts,), generator=gen).tolist()]
    new = [len(t) for t in targets]
    stack, solo = GPTNeoX(cfg, seeds=list(range(K))), GPTNeoX(cfg, seeds=[0])
    scoring = best_time(lambda: score_targets(stack, prompts, targets, batch_size=128), 2)
    batched = best_time(lambda: greedy_decode(stack, prompts, new, batch_size=128), 2)
    n_alone = max(8, n_facts // 16)
    alone = best_time(lambda: [greedy_decode(solo, [p], [m]) for p, m in zip(prompts[:n_alone], new)], 1)
    alone_rate = n_alone / alone
    print(f"evaluation {name}, {n_facts} facts x K={K} models:")
    print(f"  scoring (exact match + nats), batched  {K * n_facts / scoring:10,.0f} facts/s "
          f"({K * n_facts / scoring / alone_rate:.0f}x one at a time)")
    print(f"  greedy decoding, batched, KV cache     {K * n_facts / batched:10,.0f} facts/s "
          f"({K * n_facts / batched / alone_rate:.0f}x)")
    print(f"  greedy decoding, one prompt at a time  {alone_rate:10,.0f} facts/s (K=1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny-50k", "small-200k", "small-1m"])
    parser.add_argument("--batch", type=int, default=16, help="sequences per model per step")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--K", type=int, nargs="+", default=[8], help="models in the stack (several: a table)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (about a minute)")
    parser.add_argument("--skip-eval", action="store_true")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc as it is (by default: keep_freed_memory())")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tuned = False if args.default_malloc else keep_freed_memory()
    print(f"torch {torch.__version__}, {args.threads} threads, keep_freed_memory={tuned}, load average "
          f"before {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for batch in sorted({args.batch, max(1, args.batch // 4)}, reverse=True):
        print(f"\ntraining, {batch} x {args.seq_len} tokens per model per step, fp32:")
        print(f"{'preset':12s} {'non-emb':>9s} {'K':>3s} | {'fwd+bwd solo':>12s} {'stack':>10s} | "
              f"{'steps one after another':>23s} {'stack':>10s} | speedup  (aggregate tokens/s)")
        for name in args.presets:
            for K in args.K:
                r = bench_training(name, K, batch, args.seq_len, args.reps)
                print(f"{name:12s} {params_nonembedding(get_preset(name)):9,d} {K:3d} | "
                      f"{r['solo_fwd_bwd_tok_s']:12,.0f} {r['fwd_bwd_tok_s']:10,.0f} | "
                      f"{r['sequential_tok_s']:23,.0f} {r['step_tok_s']:10,.0f} | {r['speedup']:.2f}x", flush=True)
    if args.compile:
        bench_compile(args.presets[0], max(args.K), args.batch, args.seq_len, args.reps)
    if not args.skip_eval:
        bench_eval(args.presets[0], max(args.K), n_facts=512)
    print(f"\nload average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
