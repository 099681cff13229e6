"""Shared fixtures: the tiny training config, one torch thread, and the devices to train on.

- ``tiny`` (a factory): the tiny-50k run the training tests share: 20 people, batch 4, evaluation on
  10 people with the first template and 4 web sequences. Each test module states what it changes
  (sequence length, steps, warmup) by keyword, so a config, and its run id, is what it was.
- ``one_thread`` / ``one_thread_module``: training with one torch thread.
- ``device``: parametrises a test over ``GPU_MARKS``' devices; "cuda" skips where there is none.
  Torch is imported only when a fixture is used, so the theory's tests do not pay for it.
"""
from __future__ import annotations

import contextlib

import pytest

# Devices a device-parametrised test runs on, with their marks (``-m "not gpu"`` deselects CUDA).
GPU_MARKS = {"cpu": (), "cuda": (pytest.mark.gpu,)}
DEVICES = [pytest.param(name, marks=marks, id=name) for name, marks in GPU_MARKS.items()]


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA device (skipped where there is none)")


def tiny_config(mixing_ratio=0.5, *, steps=24, seed=0, people=20, seq_len=256, warmup_steps=4, points=2,
                eval_people=10, lr=5e-3, batch_size=4, model="tiny-50k", **data):
    """A tiny-50k TrainConfig of ``steps`` optimiser steps; ``data`` sets further DataConfig fields."""
    from empirical.config import DataConfig, EvalConfig, OptimConfig, ScheduleConfig, TrainConfig

    return TrainConfig(
        model=model, data=DataConfig(people=people, mixing_ratio=mixing_ratio, seq_len=seq_len, **data),
        batch_size=batch_size, tokens=batch_size * seq_len * steps, seed=seed, optim=OptimConfig(lr=lr),
        schedule=ScheduleConfig(warmup_steps=warmup_steps),
        eval=EvalConfig(points=points, people=eval_people, templates="first", web_sequences=4),
    )


@pytest.fixture(scope="session")
def tiny():
    """The factory ``tiny_config`` (a fixture, so that tests need no import of conftest)."""
    return tiny_config


@contextlib.contextmanager
def torch_threads(count: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def one_thread():
    """Tests that train run with one torch thread: steadier timing on shared cores, and the other
    core stays free for the subprocesses some of them start."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def one_thread_module():
    """``one_thread`` for module-scoped fixtures that train once for a whole file."""
    with torch_threads(1):
        yield


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Each device of ``GPU_MARKS``; "cuda" skips on a machine without one."""
    if request.param == "cuda":
        import torch

        if not torch.cuda.is_available():
            pytest.skip("needs a CUDA device")
    return request.param


def run_script_main(name: str, *args):
    """Load ``scripts/<name>.py`` (not a package) and call its ``main(*args)``."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(*args)
