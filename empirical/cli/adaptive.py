"""Driving an adaptive study (``empirical.sweeps.adaptive``) from paper_repro: the plan and its cost
(``dry_run``), or the study itself, resumable, with each search's state written after every wave.

    python paper_repro.py --preset predict --dry-run
    python paper_repro.py --preset predict --workers 2 --work-dir results/predict/runs \\
        --results docs/predict/results.jsonl
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from empirical.sweeps.adaptive import (Search, SearchState, cost_table, default_fit, final_results, format_cost_table,
                                plan_wave, run_study)
from empirical.config import TrainConfig


def default_max_group(device: str | None) -> int:
    """K-stacks of 2 on CPU, where stacking barely speeds a model up (docs/full: 0.090-0.092 s per model
    step for K = 2 to 7 at tiny-50k) but small stacks keep both workers busy to the end of a wave; 8 on a GPU."""
    from empirical.train.runtime import pick_device

    return 2 if pick_device(device).type == "cpu" else 8


def _key(config: dict) -> tuple:
    return config["model"], config["batch_size"], config["data"]["seq_len"], config["precision"]


def measured_step_seconds(results: Path) -> dict[tuple, float]:
    """(model, batch, seq_len, precision) -> median worker-seconds per step of one run, from the final
    rows of finished runs (``wall_time_s`` over steps and the K runs trained with it; evaluation
    included). A run resumed from a checkpoint counts only its last stretch, so this can read low."""
    from statistics import median

    from empirical.results import read_rows

    per_key: dict[tuple, list[float]] = {}
    if results.exists():
        for row in read_rows(results):
            c = row.get("config")
            if (isinstance(c, dict) and row.get("wall_time_s") and row.get("step")
                    and row["step"] == c["tokens"] // (c["batch_size"] * c["data"]["seq_len"])):
                per_key.setdefault(_key(c), []).append(row["wall_time_s"] / row["step"] / (row.get("group_size") or 1))
    return {k: median(v) for k, v in per_key.items()}


def seconds_per_run(device: str | None, workers: int, max_group: int, results: Path | None = None):
    """A function config -> seconds to train one run: from the finished runs of the results table
    where it has some of that model (``measured_step_seconds``), else timed from a few steps of a
    K-stack with the threads each worker gets (``sweep_cli.measure_group_seconds``: without
    evaluation, and slower than a run when other processes share the cores); scaled to each budget."""
    import torch

    from empirical.sweeps.runner import available_cores
    from empirical.cli.sweep import measure_group_seconds

    cache: dict[tuple, float] = measured_step_seconds(results) if results is not None else {}

    def measure(config: TrainConfig) -> float:
        key = _key(config.to_dict())
        if key not in cache:
            before = torch.get_num_threads()
            torch.set_num_threads(max(1, available_cores() // workers))
            try:
                probe = config.replace(tokens=config.tokens_per_step * 100)
                stack = [probe.replace(seed=i) for i in range(max_group)]
                cache[key] = measure_group_seconds(stack, device) / 100 / max_group
            finally:
                torch.set_num_threads(before)
        return cache[key] * config.steps

    return measure


def write_states(out: Path, states: Sequence[SearchState]) -> None:
    """Each search's status, measured points and current estimate, as JSON (rewritten atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "searches.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps([st.summary() for st in states], indent=2))
    tmp.replace(path)


def dry_run(searches: Sequence[Search], results: Path, *, workers: int, device: str | None, max_group: int,
            knowledge_share: dict[str, float] | None = None) -> str:
    """The plan as text: every search's state and the next wave, with the expected remaining cost."""
    states, wave = plan_wave(searches, final_results(results), default_fit(), workers, max_group)
    rows = cost_table(states, seconds_per_run(device, workers, max_group, results))
    lines = [f"results table: {results} ({'exists' if results.exists() else 'new'})", "",
             format_cost_table(rows, workers), "",
             f"next wave: {len(wave)} runs in K-stacks of at most {max_group}:"]
    lines += [f"  {r.run_id} {r.config.model:11s} tokens {r.config.tokens:11,d} r {r.config.data.mixing_ratio:<6g} "
              f"seed {r.config.seed}" for r in wave]
    if knowledge_share:
        lines += ["", "knowledge entropy / capacity at 2 bits per non-embedding parameter: "
                  + ", ".join(f"{m} {v:.2%}" for m, v in knowledge_share.items())]
    lines += ["", "s/run: from the table's finished runs of that model, else timed from a few optimiser steps without "
              f"evaluation, with the threads each of the {workers} workers gets (slower when other processes share "
              "the cores); expected runs: round 0, one refinement round and one more ratio (simulated searches "
              "averaged 12.4 runs with the defaults); max: each search's max_runs. With one worker the runs go in waves; "
              "with more, a freed worker takes the next K-stack at once (empirical.sweeps.continuous)."]
    return "\n".join(lines)


def run(searches: Sequence[Search], out: Path, results: Path, *, work_dir: Path, workers: int, device: str | None,
        progress: bool, dry: bool, name: str, knowledge_share: dict[str, float] | None = None) -> dict:
    """The study (or its dry run); returns {"text", "done", "failed", "states"}."""
    max_group = default_max_group(device)
    if dry:
        text = dry_run(searches, results, workers=workers, device=device, max_group=max_group,
                       knowledge_share=knowledge_share)
        return {"text": text, "done": False, "failed": [], "states": []}
    schedule = "continuous" if workers > 1 else "waves"  # one worker: the same order either way
    report = run_study(searches, results, work_dir, name=name, workers=workers, max_group=max_group, device=device,
                       progress=progress, on_wave=lambda states: write_states(out, states), schedule=schedule)
    write_states(out, report.states)
    text = "\n".join(f"{st.search.name}: {st.status}, {len(st.points)} runs"
                     + (f", r_c {st.estimate.value:.4f} ({st.estimate.interval[0]:.4f}-{st.estimate.interval[1]:.4f})"
                        if st.estimate is not None else "") for st in report.states)
    text += (f"\n{report.waves} {'K-stacks' if schedule == 'continuous' else 'waves'}, {report.trained} runs trained now; "
             f"states in {out / 'searches.json'}")
    for error in report.errors:
        text += f"\nfailed: {error}"
    return {"text": text, "done": report.done, "failed": report.failed,
            "states": [st.summary() for st in report.states]}
