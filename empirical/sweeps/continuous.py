"""Running an adaptive study without waves: a worker that frees up takes the next K-stack at once.

``adaptive.run_study`` in waves runs every pending run of the lowest phase, and a wave ends only
when its slowest K-stack does: a search whose runs take minutes waits an hour for a round when it
shares a wave with one whose runs take an hour (in the threshold-prediction study, small-1m's runs
take about 40 minutes and tiny-50k's about one). Here each search moves to its next round as soon
as its own round is finished, whatever else is training:

    loop: replay every search from the results table; submit K-stacks of pending runs that no
          worker is training, lowest phase first, costliest first within a phase, until every
          worker has one; wait for any stack to end.

The plan is still made from the results table alone, so a killed study resumes exactly as the
wave schedule does (same rounds, same run ids, checkpoints resumed). A worker process that dies
breaks the pool: its stacks are tried once more in a fresh pool (from their checkpoints), then
recorded as failed, and the study stops submitting and drains, as the wave schedule stops after a
wave with a failed run.
"""
from __future__ import annotations

import sys
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Callable, Sequence

from empirical.sweeps.runner import Task, _record_failure, available_cores, plan
from empirical.sweeps.spec import Sweep


def _next_tasks(states, busy: set[str], name: str, results: Path, work_dir: Path, workers: int, max_group: int,
                device: str | None) -> list[Task]:
    """K-stacks of the pending runs nobody is training: lowest phase first, each phase costliest first."""
    tasks: list[Task] = []
    for phase in sorted({st.search.phase for st in states if st.pending}):
        runs = [r for st in states if st.search.phase == phase for r in st.pending if r.run_id not in busy]
        if runs:
            tasks += plan(Sweep(name, tuple(runs), "adaptive search for the critical mixing ratio"), results,
                          work_dir, workers, max_group, True, device)[0]
    return tasks


def run_continuous(searches: Sequence, results: Path, work_dir: Path, *, name: str, workers: int, max_group: int,
                   device: str | None, fit: Callable, on_update: Callable | None = None, progress: bool = True):
    """The study with ``workers`` local processes kept busy (see the module docstring); returns
    ``adaptive.StudyReport`` with ``waves`` counting the K-stacks trained."""
    from empirical.sweeps.adaptive import StudyReport, final_results, replay
    from empirical.sweeps.pool import _executor

    work_dir.mkdir(parents=True, exist_ok=True)
    threads = max(1, available_cores() // workers)
    stacks = trained = 0
    failed: list[str] = []
    errors: list[str] = []
    retried: set[str] = set()

    def replan():  # every search's state from one read of the table, shown to on_update
        finals = final_results(results)
        states = [replay(s, finals, fit) for s in searches]
        if on_update is not None:
            on_update(states)
        return states

    while True:  # one pass per process pool; a pool breaks only when a worker process dies
        broken: list[Task] = []
        with _executor("local", workers, None, threads) as submit:
            inflight: dict[Future, Task] = {}
            while True:
                states = replan()
                busy = {rid for t in inflight.values() for rid in t.run_ids}
                if not failed and not broken:
                    for task in _next_tasks(states, busy, name, results, work_dir, workers, max_group, device):
                        if len(inflight) >= workers:
                            break
                        inflight[submit(task)] = task
                if not inflight:
                    break
                ready, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for future in ready:
                    task = inflight.pop(future)
                    try:
                        outcome = future.result()
                    except Exception as error:  # the worker process itself died: the pool is broken
                        key = ",".join(task.run_ids)
                        if key not in retried:
                            retried.add(key)
                            broken.append(task)
                            continue
                        outcome = {"failed": task.run_ids, "trained": [],
                                   "errors": [_record_failure(task, range(len(task.configs)), error)["error"]]}
                    stacks += 1
                    if progress:
                        print(f"[{name}] K-stack {stacks} ended: {len(outcome['trained'])} trained, "
                              f"{len(outcome['failed'])} failed ({', '.join(task.run_ids)})", file=sys.stderr, flush=True)
                    trained += len(outcome["trained"])
                    failed += outcome["failed"]
                    errors += outcome["errors"]
        if not broken or failed:
            return StudyReport(replan(), stacks, trained, failed, errors)
