"""``python -m empirical sweep NAME``: run a sweep into a results table (resumable; see empirical.sweeps.runner).

    python -m empirical sweep --list
    python -m empirical sweep ratio --dry-run            # the runs, tokens, FLOPs, time on this machine
    python -m empirical sweep ratio --workers 2 --results results/ratio.jsonl
    python -m empirical sweep ratio --engine ray --ray-address auto
    python -m empirical sweep my_sweeps.py:grid_a        # any function returning a Sweep or configs
    python -m empirical sweep ratio --set data.people=500 --dry-run --json   # every run's config changed

``--list`` and ``--dry-run`` print data: with ``--json``, as strict JSON (one object per line for
``--list``, one object for ``--dry-run``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from capacity.cli_common import (UsageError, assignment, checked, conflict, dumps, fail, integer, number, output_dir,
                                 output_file)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from empirical.sweeps.runner import ENGINES
    from empirical.sweeps.named import SCALES
    from empirical.cli.train import device_arg

    parser.add_argument("name", nargs="?", help="a named sweep (see --list), FILE.py:FUNCTION or MODULE:FUNCTION")
    parser.add_argument("--list", action="store_true", help="list the named sweeps")
    parser.add_argument("--scale", choices=SCALES, default="cpu", help="cpu (small presets) or gpu (Pythia presets)")
    parser.add_argument("--results", type=output_file, help="results table (default results/sweeps/NAME-SCALE.jsonl)")
    parser.add_argument("--work-dir", type=output_dir, help="checkpoint folders (default: RESULTS with suffix .runs)")
    parser.add_argument("--workers", type=integer(1, 1024), default=1, help="groups trained at once (default 1)")
    parser.add_argument("--engine", choices=ENGINES, default="local", help=f"one of {', '.join(ENGINES)} (default local)")
    parser.add_argument("--ray-address", help="with --engine ray: Ray cluster address (default: start a local one)")
    parser.add_argument("--max-group", type=integer(1, 1024), default=8, help="most models trained as one K-stack")
    parser.add_argument("--no-group", action="store_true", help="train one model per program")
    parser.add_argument("--device", type=device_arg, help="cpu, cuda, ... (default: cuda if available)")
    parser.add_argument("--gpus-per-task", type=number(0, 1024), default=0.0,
                        help="with --engine ray: GPUs each group asks for (Ray hides GPUs from tasks that ask none)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and their estimated cost, train nothing")
    parser.add_argument("--no-measure", action="store_true", help="with --dry-run: skip timing steps on this machine")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="with --list or --dry-run: print strict JSON")
    parser.add_argument("--set", type=assignment, action="append", default=[], metavar="KEY=VALUE",
                        help="override a TrainConfig field of every run by its dotted name, e.g. --set "
                             "data.powerlaw_groups=20 (repeatable; the runs get new run ids)")


def _check_combinations(args) -> None:
    """Refuse flags this call would ignore."""
    if args.list and args.name:
        conflict("--list", None, f"a sweep name ({args.name})", "--list lists the named sweeps and runs none")
    if args.engine != "ray":
        for flag, given in (("--ray-address", args.ray_address), ("--gpus-per-task", args.gpus_per_task or None)):
            if given is not None:
                fail(flag, given, f"applies with --engine ray only, not --engine {args.engine}")
    if args.no_measure and not args.dry_run:
        fail("--no-measure", None, "applies with --dry-run only")
    if args.json and not (args.list or args.dry_run):
        fail("--json", None, "applies with --list or --dry-run only (a sweep writes its rows to --results)")
    if args.set and args.list:
        conflict("--set", None, "--list", "--list lists the named sweeps as defined")


def _resolve(spec: str, scale: str):
    from empirical.sweeps.named import resolve_sweep

    try:
        return resolve_sweep(spec, scale)
    except (ImportError, SyntaxError) as exc:  # MODULE:FUNCTION naming no importable module, or a broken file
        raise UsageError("sweep", spec, f"cannot load {spec.rsplit(':', 1)[0]}: {type(exc).__name__}: {exc}") from None
    except ValueError as exc:
        raise UsageError("sweep", spec, str(exc)) from None


def _overridden(sweep, assignments):
    """The sweep with ``--set`` applied to every run's config."""
    if not assignments:
        return sweep
    from empirical.sweeps.spec import Run, Sweep
    from empirical.cli.train import apply_overrides

    overrides = apply_overrides(assignments)
    try:
        runs = tuple(Run(run.config.replace(**overrides), run.role) for run in sweep.runs)
    except ValueError as exc:
        raise UsageError(" ".join(f"--set {key}={value}" for key, value in assignments), None, str(exc)) from None
    return Sweep(sweep.name, runs, sweep.description, sweep.meta)


def run(args) -> int:
    from empirical.sweeps.named import SWEEPS

    _check_combinations(args)
    if args.list:
        for name, function in SWEEPS.items():
            sweep = function(args.scale)
            if args.json:
                print(dumps({"name": name, "runs": len(sweep), "description": sweep.description}))
            else:
                print(f"{name:12s} {len(sweep):3d} runs  {sweep.description}")
        return 0
    if not args.name:
        fail("NAME", None, "required: a named sweep (see --list), FILE.py:FUNCTION or MODULE:FUNCTION")
    sweep = _overridden(_resolve(args.name, args.scale), args.set)
    safe = args.name.replace("/", "_").replace(":", "-")
    results = args.results or checked("--results", output_file, str(Path("results") / "sweeps" / f"{safe}-{args.scale}.jsonl"))
    if args.dry_run:
        return dry_run(sweep, results, args)
    from empirical.sweeps.runner import run_sweep

    report = run_sweep(sweep, results, args.work_dir, workers=args.workers, engine=args.engine,
                       group=not args.no_group, max_group=args.max_group, ray_address=args.ray_address,
                       device=args.device, gpus_per_task=args.gpus_per_task, progress=not args.no_progress)
    print(report.summary())
    print(f"results: {results}")
    for error in report.errors:
        print(f"failed: {error}", file=sys.stderr)
    if report.failed:
        work_dir = args.work_dir or Path(results).with_suffix(".runs")
        print(f"failures (reason, step, loss, traceback): {work_dir / 'failures.jsonl'}", file=sys.stderr)
    return 1 if report.failed else 0


def dry_run_plan(sweep, results: Path, args) -> dict:
    """The dry run as data: every run with its cost and status, what is left to train, and (unless
    --no-measure) the time that would take on this machine."""
    from empirical.config import TrainConfig
    from empirical.sweeps.runner import estimated_flops, is_complete, plan, rows_present

    present = rows_present(results)
    runs = [{"run_id": run.run_id, "role": run.role, "model": run.config.model,
             "mixing_ratio": run.config.data.mixing_ratio, "people": run.config.data.people,
             "rho": run.config.data.subsample_rho, "tau": run.config.data.ckm_tau, "seed": run.config.seed,
             "tokens": run.config.tokens, "tflop": estimated_flops(run.config) / 1e12,
             "status": "done" if is_complete(run.config, present) else "todo"} for run in sweep.runs]
    work_dir = args.work_dir or results.with_suffix(".runs")
    # The runner's own plan, so the dry run shows exactly the groups a real run would train.
    tasks, _ = plan(sweep, results, work_dir, max(1, args.workers), args.max_group, not args.no_group, args.device,
                    warn=True)
    groups = [[TrainConfig.from_dict(c) for c in task.configs] for task in tasks]
    todo = [config for group in groups for config in group]
    seconds = None
    if not args.no_measure and todo:
        seconds = sum(measure_group_seconds(group, args.device) for group in groups)
    return {"sweep": sweep.name, "description": sweep.description, "results": str(results), "runs": runs,
            "to_train": {"runs": len(todo), "groups": len(groups), "tokens": sum(c.tokens for c in todo),
                         "tflop": sum(estimated_flops(c) for c in todo) / 1e12},
            "workers": max(1, args.workers), "estimated_seconds": seconds}


def dry_run(sweep, results: Path, args) -> int:
    plan = dry_run_plan(sweep, results, args)
    if args.json:
        print(dumps(plan))
        return 0
    print(f"sweep {sweep.name}: {len(sweep)} runs ({sweep.description})")
    print(f"{'run_id':16s} {'role':16s} {'model':12s} {'r':>6s} {'N':>7s} {'rho':>5s} {'tau':>5s} {'seed':>4s} "
          f"{'tokens':>12s} {'TFLOP':>9s} {'status':>8s}")
    for row in plan["runs"]:
        print(f"{row['run_id']:16s} {row['role']:16s} {row['model']:12s} {row['mixing_ratio']:6.3f} {row['people']:7d} "
              f"{row['rho']:5.2f} {row['tau']:5.2f} {row['seed']:4d} {row['tokens']:12,d} "
              f"{row['tflop']:9.3f} {row['status']:>8s}")
    left = plan["to_train"]
    print(f"to train: {left['runs']} runs in {left['groups']} groups, {left['tokens']:,d} tokens, "
          f"{left['tflop']:,.2f} TFLOP")
    seconds, workers = plan["estimated_seconds"], plan["workers"]
    if seconds is not None:
        print(f"estimated time on this machine: {seconds / 60:.1f} min one group at a time"
              f" (about {seconds / 60 / workers:.1f} min with {workers} workers, if the cores allow); timed from "
              f"a few fp32 eager steps on random tokens, so without evaluation, bf16 or torch.compile")
    return 0


def measure_group_seconds(configs, device: str | None, steps: int = 3) -> float:
    """Time a few real optimiser steps of this group's K-stack on random tokens; scale to its budget."""
    import torch

    from empirical.model.gptneox import GPTNeoX
    from empirical.train.optim import StackedAdamW
    from empirical.model.presets import sized_for
    from empirical.train.runtime import pick_device

    first = configs[0]
    dev = pick_device(device)
    cfg = sized_for(first.model, first.data.bpe_vocab_size, first.data.seq_len)
    vocab = cfg.vocab_size
    model = GPTNeoX(cfg, seeds=[c.seed for c in configs]).to(dev)
    optimizer = StackedAdamW(model.parameters(), len(configs), first.optim)
    x = torch.randint(0, vocab, (len(configs), first.batch_size, first.data.seq_len), device=dev)
    lrs = torch.full((len(configs),), first.optim.lr)

    def step():
        model(x[..., :-1], x[..., 1:]).sum().backward()
        optimizer.step(lrs)
        optimizer.zero_grad()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps * first.steps
