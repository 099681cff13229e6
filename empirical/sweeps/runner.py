"""Running a sweep: skip finished runs, resume interrupted ones, pack compatible runs into K-stacks,
run groups in parallel on this machine or on a Ray cluster (``empirical.sweeps.pool``), and append every row
to the results table.

The results table (``empirical.results``) is the single source of truth: a run is finished when the
table holds its row at its last step. Each run has a folder ``work_dir/<run_id>`` with its atomic
checkpoint, written *before* the rows of that evaluation point are appended; when a run resumes, the
rows its checkpoint carries that the table lacks (a kill between the two writes) are appended at the
end, and rows are never appended twice, so a sweep killed at any moment and started again ends with
every row exactly once.

Runs are packed into groups (``train_group``: K models as one stacked program) when they share
everything but their data and seed: architecture, batch, budget, schedule, evaluation points, sequence
length, tokenizer, optimiser settings other than the peak rate, and the step they resume from. A group
that fails is retried run by run, so one bad config costs only itself; a run that fails is recorded
(``work_dir/failures.jsonl`` and ``<run_id>/error.txt``) and the others go on. A run whose training
diverges (``empirical.train.divergence``) is recorded the same way, with the step and the loss, and gets no
row past its last healthy evaluation point; the other members of its group go on from their
checkpoints. A damaged checkpoint is set aside and its run alone starts again
(``empirical.train.checkpoint``).

A worker locks each of its runs while it trains them (``fcntl.flock``), both in the results table's
lock folder (``<results>.locks/<run_id>.lock``) and in the run's work folder, so two sweeps on one
table (whatever their work folders) or on one work folder (two terminals, or a stale worker) never
train one run twice at once; the one that waits re-reads the table and skips what the other
finished, and never appends a row the table already holds.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from empirical.config import TrainConfig
from empirical.results import append_rows, read_rows
from empirical.sweeps.spec import Sweep

ENGINES = ("local", "ray")
DEFAULT_MAX_GROUP = 8


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# --- what is done ----------------------------------------------------------------------------------
def rows_present(results: Path) -> dict[str, set[int]]:
    """run_id -> steps that have a row in the table (empty when the table does not exist yet)."""
    present: dict[str, set[int]] = defaultdict(set)
    if results.exists():
        for row in read_rows(results):
            present[row["run_id"]].add(int(row["step"]))
    return present


def is_complete(config: TrainConfig, present: dict[str, set[int]]) -> bool:
    return config.steps in present.get(config.run_id, ())


def checkpoint_step(run_dir: Path, steps: int | None = None, *, warn: bool = False) -> int:
    """The step a run would resume from: 0 without a checkpoint, and 0 for a damaged one or one whose
    step lies beyond the run's budget ``steps`` (training sets it aside and starts again); ``warn``
    prints one line about such a file. Reads only the header (mmap), and never runs code from it."""
    from empirical.train.checkpoint import CHECKPOINT, CheckpointError, check_step, load

    path = run_dir / CHECKPOINT
    if not os.path.lexists(path):
        return 0
    try:
        state = load(path, mmap=True)
        if steps is not None:
            check_step(path, state, steps)
        return state["step"]
    except CheckpointError as error:
        if warn:
            print(f"warning: {error}; it will be set aside when the run trains", file=sys.stderr, flush=True)
        return 0


# --- packing ---------------------------------------------------------------------------------------
def group_key(config: TrainConfig, resume_step: int) -> str:
    """Runs with equal keys share one K-stacked program: the config's ``group_signature()`` (the rule
    ``empirical.train.loop.check_group`` enforces) and the step they resume from."""
    return json.dumps({**config.group_signature(), "resume": resume_step}, sort_keys=True)


@dataclass
class Task:
    """One unit of work for a worker: a group of runs trained together (plain data: it is pickled)."""

    configs: list[dict]
    roles: list[str]
    run_dirs: list[str]
    sweep: str
    results: str
    work_dir: str
    threads: int
    device: str | None = None

    @property
    def run_ids(self) -> list[str]:
        return [TrainConfig.from_dict(c).run_id for c in self.configs]


def pack(runs: Sequence, resume_steps: Sequence[int], max_group: int) -> list[list[int]]:
    """Indices of runs, grouped by key and cut into chunks of at most ``max_group``."""
    if max_group < 1:
        raise ValueError(f"max_group must be >= 1, got {max_group!r}")
    by_key: dict[str, list[int]] = defaultdict(list)
    for i, (run, step) in enumerate(zip(runs, resume_steps)):
        by_key[group_key(run.config, step)].append(i)
    groups = []
    for members in by_key.values():
        # Even chunks: 9 runs with max 8 become 5 + 4, not 8 + 1.
        n_chunks = -(-len(members) // max_group)
        size = -(-len(members) // n_chunks)
        groups.extend(members[i:i + size] for i in range(0, len(members), size))
    return groups


def estimated_flops(config: TrainConfig) -> float:
    """Training FLOPs of the whole run: ``empirical.model.gptneox.training_flops_per_token`` (the one FLOP count
    the benchmarks also use) times the tokens trained."""
    from empirical.model.gptneox import training_flops_per_token
    from empirical.model.presets import sized_for

    cfg = sized_for(config.model, config.data.bpe_vocab_size, config.data.seq_len)
    return float(training_flops_per_token(cfg, config.data.seq_len)) * config.steps * config.tokens_per_step


# --- executing one group ---------------------------------------------------------------------------
def lock_dir(results: Path) -> Path:
    """The folder of per-run lock files of a results table (``<results>.locks``)."""
    return results.with_name(results.name + ".locks")


@contextlib.contextmanager
def _locked(paths: Sequence[Path]):
    """Hold an exclusive flock on each lock file (created when missing) until the block ends."""
    handles = []
    try:
        for path in sorted(paths):  # one global order: two workers never deadlock
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a")
            fcntl.flock(handle, fcntl.LOCK_EX)
            handles.append(handle)
        yield
    finally:
        for handle in handles:
            handle.close()


def _task_locks(task: Task) -> list[Path]:
    """A run is locked twice: in its results table (two sweeps on one table, whatever their work
    folders, never train it at once) and in its work folder (two sweeps on one folder, whatever their
    tables, never write its checkpoint at once). Lock files are never deleted: removing one while
    another process waits on it would let a third lock a new file of the same name."""
    locks = lock_dir(Path(task.results))
    return [locks / f"{rid}.lock" for rid in task.run_ids] + [Path(d) / ".lock" for d in task.run_dirs]


def _annotate(row: dict, task: Task, k: int, group_size: int) -> dict:
    return {**row, "sweep": task.sweep, "role": task.roles[k], "group_size": group_size}


def _record_failure(task: Task, indices: Sequence[int], error: BaseException) -> dict:
    from empirical.results import json_data
    from empirical.train.loop import DivergedError

    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    message = f"{type(error).__name__}: {error}"
    record = {"time": time.time(), "sweep": task.sweep, "run_ids": [task.run_ids[k] for k in indices],
              "reason": "diverged" if isinstance(error, DivergedError) else "error", "error": message}
    if isinstance(error, DivergedError):
        # Non-finite losses are stored as null (JSON has no NaN); the message keeps their text.
        record.update(step=error.step, losses=dict(zip(error.run_ids, error.losses)))
    for k in indices:
        Path(task.run_dirs[k]).mkdir(parents=True, exist_ok=True)
        (Path(task.run_dirs[k]) / "error.txt").write_text(message + "\n\n" + text)
    record["traceback"] = text
    line = json.dumps(json_data(record), allow_nan=False)
    with open(Path(task.work_dir) / "failures.jsonl", "a") as handle:
        handle.write(line + "\n")
    return record


def _train_members(task: Task, indices: list[int]) -> None:
    from empirical.train.loop import train_group

    configs = [TrainConfig.from_dict(task.configs[k]) for k in indices]
    results = Path(task.results)
    present = rows_present(results)  # rows of an earlier attempt (another work folder) are not appended twice

    def on_rows(j: int, rows: list[dict]) -> None:
        new = [r for r in rows if r["step"] not in present.get(r["run_id"], ())]
        append_rows(results, [_annotate(r, task, indices[j], len(indices)) for r in new])

    all_rows = train_group(configs, [task.run_dirs[k] for k in indices], device=task.device, progress=False,
                           on_rows=on_rows)
    # Rows a checkpoint carried that never reached the table (killed between the two writes).
    present = rows_present(results)
    missing = [_annotate(r, task, indices[j], len(indices)) for j, rows in enumerate(all_rows) for r in rows
               if r["step"] not in present.get(r["run_id"], ())]
    if missing:
        append_rows(results, missing)


def _train_or_record(task: Task, todo: list[int], failures: list[dict]) -> None:
    """Train the runs ``todo`` of the task as one group. Runs that diverge are recorded and the others
    go on from their checkpoints; a group that fails otherwise is retried run by run, so one bad
    config costs only itself."""
    from empirical.train.loop import DivergedError

    try:
        _train_members(task, todo)
    except DivergedError as error:
        diverged = [todo[j] for j in error.members]
        failures.append(_record_failure(task, diverged, error))
        rest = [k for k in todo if k not in diverged]
        if rest:
            _train_or_record(task, rest, failures)
    except Exception as error:  # noqa: BLE001 - recorded, and the runs retried alone
        if len(todo) == 1:
            failures.append(_record_failure(task, todo, error))
        else:
            for k in todo:
                _train_or_record(task, [k], failures)


def execute(task: Task) -> dict:
    """Train one group (in whichever process or Ray worker runs it); never raises for a run's error."""
    import torch

    torch.set_num_threads(task.threads)
    started = time.perf_counter()
    failures: list[dict] = []
    with _locked(_task_locks(task)):
        present = rows_present(Path(task.results))  # another sweep may have finished some meanwhile
        todo = [k for k, c in enumerate(task.configs) if not is_complete(TrainConfig.from_dict(c), present)]
        if todo:
            _train_or_record(task, todo, failures)
    failed = {rid for f in failures for rid in f["run_ids"]}
    ids = task.run_ids
    trained = [ids[k] for k in todo if ids[k] not in failed]
    return {"run_ids": ids, "failed": sorted(failed), "trained": trained,
            "errors": [f["error"] for f in failures], "seconds": time.perf_counter() - started}


# --- the sweep -------------------------------------------------------------------------------------
@dataclass
class SweepReport:
    total: int
    skipped: int  # already complete before this call
    completed: int
    failed: list[str]
    errors: list[str]
    seconds: float

    def summary(self) -> str:
        return (f"{self.total} runs: {self.skipped} already done, {self.completed} trained now, "
                f"{len(self.failed)} failed, in {self.seconds:.1f} s")


def plan(sweep: Sweep, results: Path, work_dir: Path, workers: int, max_group: int, group: bool,
         device: str | None = None, warn: bool = False) -> tuple[list[Task], int]:
    """Tasks for the runs not yet complete, and the number already complete (``sweep --dry-run``
    prints this same plan; ``warn``: one line for each damaged checkpoint found)."""
    present = rows_present(results)
    pending = [run for run in sweep.runs if not is_complete(run.config, present)]
    steps = [checkpoint_step(work_dir / run.run_id, run.config.steps, warn=warn) for run in pending]
    groups = pack(pending, steps, max_group if group else 1)
    threads = max(1, available_cores() // workers)
    tasks = [Task(configs=[pending[i].config.to_dict() for i in members], roles=[pending[i].role for i in members],
                  run_dirs=[str(work_dir / pending[i].run_id) for i in members], sweep=sweep.name,
                  results=str(results), work_dir=str(work_dir), threads=threads, device=device)
             for members in groups]
    # Costliest first: a long group started last would leave the other workers idle at the end.
    tasks.sort(key=lambda t: -sum(estimated_flops(TrainConfig.from_dict(c)) for c in t.configs))
    return tasks, len(sweep.runs) - len(pending)


def run_sweep(sweep: Sweep, results: str | Path, work_dir: str | Path | None = None, *, workers: int = 1,
              engine: str = "local", group: bool = True, max_group: int = DEFAULT_MAX_GROUP,
              ray_address: str | None = None, device: str | None = None, gpus_per_task: float = 0.0,
              progress: bool = True) -> SweepReport:
    """Run every run of the sweep that the results table does not hold yet; returns a report.

    workers: with the local engine, groups trained at once (each with cores // workers threads; 1
    trains in this process). With Ray, each group asks the cluster for cores // workers CPUs (cores of
    this machine) and ``gpus_per_task`` GPUs, and Ray runs as many at once as the cluster holds; Ray
    shows a task no GPU unless it asks for one. engine: "local" or "ray" (``ray.init(ray_address)``: an
    existing cluster, or a local one when None). group: pack compatible runs into K-stacks of at most
    max_group models (set False to train one model per program).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if not gpus_per_task >= 0:
        raise ValueError(f"gpus_per_task must be >= 0, got {gpus_per_task!r}")
    results = Path(results)
    work_dir = Path(work_dir) if work_dir is not None else results.with_suffix(".runs")
    work_dir.mkdir(parents=True, exist_ok=True)
    from empirical.train.init import dependency_stages
    stages = dependency_stages(sweep.runs)
    if len(stages) > 1:  # runs that continue another run of the sweep (init_from "run:<id>") train after it
        parts = [run_sweep(Sweep(sweep.name, tuple(stage), sweep.description, sweep.meta), results, work_dir,
                           workers=workers, engine=engine, group=group, max_group=max_group, ray_address=ray_address,
                           device=device, gpus_per_task=gpus_per_task, progress=progress) for stage in stages]
        return SweepReport(total=len(sweep.runs), skipped=sum(r.skipped for r in parts),
                           completed=sum(r.completed for r in parts), failed=[f for r in parts for f in r.failed],
                           errors=[e for r in parts for e in r.errors], seconds=sum(r.seconds for r in parts))
    started = time.perf_counter()
    tasks, skipped = plan(sweep, results, work_dir, workers, max_group, group, device)
    n_pending = sum(len(t.configs) for t in tasks)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_pending, desc=f"sweep {sweep.name}", unit="run", dynamic_ncols=True)
    done, failed, errors = 0, [], []

    def finished(outcome: dict, running: int) -> None:
        nonlocal done
        done += len(outcome["trained"])  # runs another sweep finished meanwhile are not counted
        failed.extend(outcome["failed"])
        errors.extend(outcome["errors"])
        if bar is not None:
            bar.update(len(outcome["run_ids"]))
            bar.set_postfix(done=done, running=running, failed=len(failed), refresh=True)

    if engine == "local" and workers == 1:
        for task in tasks:
            if bar is not None:
                bar.set_postfix(done=done, running=len(task.configs), failed=len(failed), refresh=True)
            finished(execute(task), 0)
    else:
        from empirical.sweeps.pool import run_in_pool  # the pool module imports this one

        run_in_pool(tasks, engine, workers, ray_address, gpus_per_task, finished)
    if bar is not None:
        bar.close()
    return SweepReport(total=len(sweep.runs), skipped=skipped, completed=done, failed=failed, errors=errors,
                       seconds=time.perf_counter() - started)
