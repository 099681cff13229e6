"""Running a sweep's K-stacks on several workers: a local pool of spawned processes, or a Ray cluster.

A worker that dies (killed, out of memory) breaks a process pool and fails every task in it; those
tasks are retried once in a fresh pool, resuming from their checkpoints. Ray starts with its usage
statistics and dashboard off unless the user asks (``RAY_USAGE_STATS_ENABLED=1``,
``PHASEMIX_RAY_DASHBOARD=1``).
"""
from __future__ import annotations

import contextlib
import os
import signal
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Callable

from empirical.sweeps.runner import Task, _record_failure, available_cores, execute


def _worker_init(threads: int) -> None:
    """Pool workers die with the sweep (a killed sweep must leave no worker appending rows)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    import torch

    torch.set_num_threads(threads)


def run_in_pool(tasks: list[Task], engine: str, workers: int, ray_address: str | None, gpus_per_task: float,
                 finished: Callable[[dict, int], None]) -> None:
    """Run the tasks on the engine's workers; ``finished(outcome, runs still running)`` as each ends."""
    # A worker that dies (killed, out of memory) breaks a process pool and fails every task in it:
    # those tasks are retried once in a fresh pool (they resume from their checkpoints).
    pending, retried = list(tasks), set()
    while pending:
        with _executor(engine, workers, ray_address, pending[0].threads, gpus_per_task) as submit:
            futures: dict[Future, Task] = {submit(task): task for task in pending}
            pending = []
            while futures:
                ready, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                for future in ready:
                    task = futures.pop(future)
                    try:
                        outcome = future.result()
                    except Exception as error:  # the worker process itself died
                        if id(task) not in retried:
                            retried.add(id(task))
                            pending.append(task)
                            continue
                        outcome = {"run_ids": task.run_ids, "failed": task.run_ids, "trained": [],
                                   "errors": [_record_failure(task, range(len(task.configs)), error)["error"]]}
                    finished(outcome, sum(len(t.configs) for t in [*futures.values(), *pending]))  # retries still to run


@contextlib.contextmanager
def _executor(engine: str, workers: int, ray_address: str | None, threads: int, gpus_per_task: float = 0.0):
    """A ``submit(task) -> Future`` for the engine; Ray's object refs become concurrent futures."""
    if engine == "local":
        import multiprocessing

        # spawn, not fork: torch's thread pools do not survive a fork.
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_worker_init, initargs=(threads,)) as pool:
            yield lambda task: pool.submit(execute, task)
        return
    ray_environment()  # before Ray is imported: it reads the usage-stats switch at import and init
    try:
        import ray
    except ImportError:
        raise ValueError("engine 'ray' needs Ray: pip install 'phasemix[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(**ray_init_kwargs(ray_address))
    remote = ray.remote(execute).options(num_cpus=threads, num_gpus=gpus_per_task, max_retries=0)
    try:
        yield lambda task: remote.remote(task).future()
    finally:
        if started_here:
            ray.shutdown()


RAY_DASHBOARD_ENV = "PHASEMIX_RAY_DASHBOARD"  # set to 1 to start Ray's dashboard with a local cluster


def ray_environment(environ: dict | None = None) -> None:
    """Turn Ray's usage statistics off unless the user chose (RAY_USAGE_STATS_ENABLED already set):
    they report to a remote server, and collecting them probes cloud metadata addresses."""
    environ = os.environ if environ is None else environ
    environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def ray_init_kwargs(ray_address: str | None, environ: dict | None = None) -> dict:
    """The arguments of ``ray.init``: the dashboard (a web server that also probes its surroundings)
    stays off unless PHASEMIX_RAY_DASHBOARD=1; a local cluster gets this machine's cores."""
    environ = os.environ if environ is None else environ
    kwargs = {"address": ray_address} if ray_address else {"num_cpus": available_cores()}
    return {"include_dashboard": environ.get(RAY_DASHBOARD_ENV, "0") == "1", "log_to_driver": False, **kwargs}
