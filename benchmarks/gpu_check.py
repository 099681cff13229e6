"""Everything worth measuring in a few minutes on a lent GPU, in one run, written to docs/gpu/.

    benchmarks/gpu_check.sh                 # on the GPU machine: writes docs/gpu/gpu_check.{md,json}
    benchmarks/gpu_check.sh --cpu-smoke     # here, seconds: the same steps on tiny sizes (the test suite runs it)

Steps, each timed and isolated (a failing step is recorded and the others still run), stopped
early when ``--budget-s`` is spent:

1. ``smoke``: the gpu preset end to end (``empirical.sweeps.named.base_config("gpu")``: Pythia-70M,
   Pythia tokenizer, bf16, torch.compile) through ``empirical.train.loop.train`` on a few steps, with
   its evaluation; the rows' accuracy, losses and wall time.
2. ``matmul_peak``: bf16 and fp32 GFLOP/s of a large ``torch.mm`` (the MFU denominator measured).
3. ``throughput``: bf16 training tokens/s of Pythia-70M and Pythia-160M (forward, backward,
   StackedAdamW), eager and ``torch.compile``d, and MFU = tokens/s x
   ``training_flops_per_token`` / peak, against the measured peak and the data-sheet one.
4. ``stacking``: tiny models K = 8 at once against one model, eager and compiled: the speed-up
   of stacking at the sweeps' small batches.
5. ``sweep``: what the budget leaves goes to the largest pending sweep, the threshold-prediction study
   (``paper_repro.py --preset predict --device cuda``), resumed from a copy of its committed table
   (``--sweep-table``) and stopped when the budget is spent; the rows of the runs it finished are
   written alone to OUT/sweep_new_rows.jsonl, to be appended to the committed table (no run there has
   them: the study skips finished runs). Runs cut off at the budget are dropped, not half-written.

``--cpu-smoke`` swaps in tiny sizes, short sequences and one or two steps, and compiles with
the "eager" backend (the dynamo path without code generation), so the test suite checks every
line in seconds; its numbers mean nothing.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from empirical.config import OptimConfig  # noqa: E402
from empirical.model.gptneox import GPTNeoX, training_flops_per_token  # noqa: E402
from empirical.train.optim import StackedAdamW  # noqa: E402
from empirical.model.presets import get_preset, params_nonembedding  # noqa: E402
from empirical.sweeps.adaptive import final_results  # noqa: E402

H200_BF16_DENSE_TFLOPS = 989.0  # data sheet, dense bf16 (H100 SXM and H200 share the compute)


class Check:
    """Runs the steps, keeps their results and the time budget."""

    def __init__(self, device: torch.device, cpu_smoke: bool, budget_s: float):
        self.device, self.cpu_smoke, self.budget_s = device, cpu_smoke, budget_s
        self.started = time.perf_counter()
        self.results: dict = {}

    def run(self, name: str, fn) -> None:
        if time.perf_counter() - self.started > self.budget_s:
            self.results[name] = {"status": "skipped: time budget spent"}
            return
        start = time.perf_counter()
        try:
            out = fn()
            self.results[name] = {"status": "ok", **out}
        except Exception as error:  # one failing step must not cost the others their GPU minutes
            self.results[name] = {"status": f"failed: {type(error).__name__}: {error}",
                                  "traceback": traceback.format_exc(limit=6)}
        self.results[name]["seconds"] = round(time.perf_counter() - start, 2)
        print(f"[{name}] {self.results[name]['status']} in {self.results[name]['seconds']} s", flush=True)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def seconds(self, fn, reps: int) -> float:
        """Median seconds of fn() after one warm-up call, synchronised on accelerators."""
        fn()
        self.sync()
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            fn()
            self.sync()
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    def compile(self, module):
        return torch.compile(module, backend="eager") if self.cpu_smoke else torch.compile(module)


def smoke(check: Check) -> dict:
    from empirical.sweeps.named import base_config
    from empirical.train.loop import train

    config = base_config("gpu")
    steps, batch, seq = (2, 2, 128) if check.cpu_smoke else (20, 16, 2048)
    changes = {"data.people": 50 if check.cpu_smoke else 2000, "data.seq_len": seq, "batch_size": batch,
               "tokens": steps * batch * seq, "eval.points": 2, "eval.people": 10 if check.cpu_smoke else 200,
               "eval.web_sequences": 2 if check.cpu_smoke else 16, "schedule.warmup_steps": 1}
    if check.cpu_smoke:
        changes.update(model="tiny-50k", compile=False)
    config = config.replace(**changes)
    with tempfile.TemporaryDirectory() as run_dir:
        rows = train(config, run_dir, device=str(check.device), progress=False, save_model=True)
        saved = sorted(p.name for p in (Path(run_dir) / "model").iterdir())
    last = rows[-1]
    return {"model": config.model, "precision": config.precision, "compile": config.compile, "steps": config.steps,
            "rows": len(rows), "accuracy": last["accuracy"], "web_loss": last["web_loss"],
            "train_loss": last["train_loss"], "wall_time_s": last["wall_time_s"],
            "tokens_per_s": last["tokens"] / max(last["wall_time_s"], 1e-9), "saved_model_files": saved}


def matmul_peak(check: Check) -> dict:
    n = 256 if check.cpu_smoke else 8192
    out = {"n": n}
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        a = torch.randn(n, n, device=check.device, dtype=dtype)
        b = torch.randn(n, n, device=check.device, dtype=dtype)
        seconds = check.seconds(lambda: torch.mm(a, b), reps=3 if check.cpu_smoke else 20)
        out[f"{name}_tflops"] = 2 * n**3 / seconds / 1e12
    return out


def training_rate(check: Check, preset: str, K: int, batch: int, seq: int, compiled: bool, reps: int) -> float:
    """bf16 training tokens/s of a K-stack of ``preset`` (all K models' tokens)."""
    cfg = get_preset(preset).replace(max_seq_len=max(seq, get_preset(preset).max_seq_len))
    model = GPTNeoX(cfg, seeds=list(range(K))).to(check.device)
    optimiser = StackedAdamW(model.parameters(), K, OptimConfig(lr=1e-4))
    forward = check.compile(model) if compiled else model
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, cfg.vocab_size, (K, batch, seq), generator=gen).to(check.device)
    lrs = torch.full((K,), 1e-4)

    def step():
        with torch.autocast(check.device.type, dtype=torch.bfloat16):
            losses = forward(idx, idx)
        losses.sum().backward()
        optimiser.step(lrs)
        optimiser.zero_grad()
    step()  # compilation, if any, happens here rather than in the timing
    return K * batch * seq / check.seconds(step, reps)


def throughput(check: Check, peak: dict) -> dict:
    presets = ("tiny-50k",) if check.cpu_smoke else ("pythia-70m", "pythia-160m")
    batch, seq, reps = (2, 32, 1) if check.cpu_smoke else (16, 2048, 5)
    measured_peak = peak.get("bf16_tflops") if peak.get("status") == "ok" else None
    out = {"batch": batch, "seq_len": seq, "rows": []}
    for preset in presets:
        flops = training_flops_per_token(get_preset(preset), seq)
        for compiled in (False, True):
            rate = training_rate(check, preset, 1, batch, seq, compiled, reps)
            tflops = rate * flops / 1e12
            out["rows"].append({"preset": preset, "non_embedding_params": params_nonembedding(get_preset(preset)),
                                "compiled": compiled, "tokens_per_s": rate, "tflops": tflops,
                                "mfu_measured_peak": tflops / measured_peak if measured_peak else None,
                                "mfu_data_sheet": tflops / H200_BF16_DENSE_TFLOPS})
    return out


def stacking(check: Check) -> dict:
    presets = ("tiny-50k",) if check.cpu_smoke else ("tiny-50k", "small-200k", "small-1m")
    batch, seq, reps, K = (2, 32, 1, 2) if check.cpu_smoke else (16, 191, 10, 8)
    out = {"K": K, "batch": batch, "seq_len": seq, "rows": []}
    for preset in presets:
        for compiled in (False, True):
            solo = training_rate(check, preset, 1, batch, seq, compiled, reps)
            stack = training_rate(check, preset, K, batch, seq, compiled, reps)
            out["rows"].append({"preset": preset, "compiled": compiled, "solo_tokens_per_s": solo,
                                "stack_tokens_per_s": stack, "speedup": stack / solo})
    return out


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def sweep(check: Check, out: Path, table: Path | None, workers: int) -> dict:
    """Train the largest pending sweep until the budget is spent (a subprocess, stopped with its group);
    write the rows it added to OUT/sweep_new_rows.jsonl. CPU smoke: the three-run ``smoke`` sweep."""
    remaining = check.budget_s - (time.perf_counter() - check.started)
    with tempfile.TemporaryDirectory() as work:
        results = Path(work) / "results.jsonl"
        if table is not None and table.is_file():
            shutil.copyfile(table, results)
        before = {(r.get("run_id"), r.get("step")) for r in _rows(results)}
        if check.cpu_smoke:
            command = [sys.executable, "-m", "empirical", "sweep", "smoke", "--device", "cpu", "--workers", "1"]
        else:
            command = [sys.executable, "paper_repro.py", "--preset", "predict", "--device", str(check.device),
                       "--workers", str(workers), "--out", str(Path(work) / "study")]
        command += ["--results", str(results), "--work-dir", str(Path(work) / "runs"), "--no-progress"]
        process = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
        try:
            status = f"exit {process.wait(timeout=max(remaining, 1.0))}"
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            status = "stopped when the budget was spent"
        added = [r for r in _rows(results) if (r.get("run_id"), r.get("step")) not in before]
        finals = final_results(results)
    # Only runs that finished here: an unfinished run's checkpoint is gone with this machine, so its
    # rows would shadow (first row of a step wins) those of the run that trains it again elsewhere.
    finished = sorted({r["run_id"] for r in added if r["run_id"] in finals})
    kept = [r for r in added if r["run_id"] in finished]
    new_rows = out / "sweep_new_rows.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    new_rows.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return {"command": " ".join(command[1:]), "seconds_given": round(remaining, 1), "outcome": status,
            "rows_added": len(kept), "rows_of_unfinished_runs_dropped": len(added) - len(kept),
            "runs_finished": finished, "rows_file": new_rows.name}


def markdown(results: dict, meta: dict) -> str:
    def num(x, fmt):
        return "n/a" if x is None else format(x, fmt)
    lines = [f"# GPU check ({meta['mode']})", "",
             f"{meta['device_name']}, torch {meta['torch']}, {meta['date']}, commit {meta['git_commit']}.",
             f"Command: `{meta['command']}`. Written by benchmarks/gpu_check.py.", ""]
    for name, r in results.items():
        lines.append(f"- **{name}**: {r['status']} ({r.get('seconds', 0)} s)")
    s = results.get("smoke", {})
    if s.get("status") == "ok":
        lines += ["", "## Smoke: the gpu preset end to end", "",
                  f"{s['model']}, {s['precision']}, compile={s['compile']}, {s['steps']} steps: "
                  f"{s['tokens_per_s']:,.0f} tokens/s over the loop, train loss {s['train_loss']:.3f}, "
                  f"web loss {s['web_loss']:.3f}, accuracy {s['accuracy']:.3f}, saved {', '.join(s['saved_model_files'])}."]
    p = results.get("matmul_peak", {})
    if p.get("status") == "ok":
        lines += ["", f"Matmul peak ({p['n']}^3): bf16 {p['bf16_tflops']:.1f} TFLOP/s, fp32 {p['fp32_tflops']:.1f} TFLOP/s."]
    t = results.get("throughput", {})
    if t.get("status") == "ok":
        lines += ["", f"## bf16 training throughput, batch {t['batch']} x {t['seq_len']}", "",
                  "| preset | non-emb params | compiled | tokens/s | TFLOP/s | MFU (measured peak) | MFU (989 TFLOP/s) |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['preset']} | {r['non_embedding_params']:,} | {r['compiled']} | {r['tokens_per_s']:,.0f} | "
                  f"{r['tflops']:.2f} | {num(r['mfu_measured_peak'], '.1%')} | {r['mfu_data_sheet']:.1%} |" for r in t["rows"]]
    k = results.get("stacking", {})
    if k.get("status") == "ok":
        lines += ["", f"## K = {k['K']} stacked models against one, batch {k['batch']} x {k['seq_len']} per model, bf16", "",
                  "| preset | compiled | one model tokens/s | stack tokens/s | speed-up |", "|---|---|---|---|---|"]
        lines += [f"| {r['preset']} | {r['compiled']} | {r['solo_tokens_per_s']:,.0f} | {r['stack_tokens_per_s']:,.0f} | "
                  f"{r['speedup']:.2f}x |" for r in k["rows"]]
    w = results.get("sweep", {})
    if w.get("status") == "ok":
        lines += ["", "## The rest of the budget on the largest pending sweep", "",
                  f"`{w['command']}` for {w['seconds_given']} s: {w['outcome']}; {w['rows_added']} rows kept, "
                  f"{w['rows_of_unfinished_runs_dropped']} of unfinished runs dropped, {len(w['runs_finished'])} runs finished ({', '.join(w['runs_finished']) or 'none'}); the rows are "
                  f"in {w['rows_file']}, to append to the study's table."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on the CPU, seconds (for the test suite)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "gpu", help="folder for the .md and .json")
    parser.add_argument("--budget-s", type=float, default=480.0,
                        help="start no step after this many seconds; the sweep step ends there")
    parser.add_argument("--sweep-table", type=Path, default=ROOT / "docs" / "predict" / "results.jsonl",
                        help="the study's committed table, copied and resumed by the sweep step")
    parser.add_argument("--sweep-workers", type=int, default=4, help="runs trained at once by the sweep step")
    args = parser.parse_args(argv)
    if args.budget_s <= 0:
        parser.error(f"--budget-s must be > 0, got {args.budget_s}")
    if not 1 <= args.sweep_workers <= 64:
        parser.error(f"--sweep-workers must be in [1, 64], got {args.sweep_workers}")
    if args.cpu_smoke:
        device = torch.device("cpu")
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    elif torch.cuda.is_available():
        device = torch.device("cuda")
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 peak as the tensor cores give it
    else:
        parser.error("no CUDA device found; use --cpu-smoke to check the script on the CPU")
    from empirical.train.provenance import git_commit

    check = Check(device, args.cpu_smoke, args.budget_s)
    meta = {"mode": "cpu smoke (numbers mean nothing)" if args.cpu_smoke else "gpu",
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
            "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "git_commit": git_commit(), "command": "benchmarks/gpu_check.sh " + " ".join(argv if argv is not None else sys.argv[1:])}
    check.run("smoke", lambda: smoke(check))
    check.run("matmul_peak", lambda: matmul_peak(check))
    check.run("throughput", lambda: throughput(check, check.results["matmul_peak"]))
    check.run("stacking", lambda: stacking(check))
    check.run("sweep", lambda: sweep(check, args.out, None if args.cpu_smoke else args.sweep_table, args.sweep_workers))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "cpu_smoke" if args.cpu_smoke else "gpu_check"
    (args.out / f"{stem}.json").write_text(json.dumps({"meta": meta, "results": check.results}, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(check.results, meta))
    print(f"wrote {args.out / (stem + '.md')} and .json")
    return 0 if all(r["status"] == "ok" for r in check.results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
