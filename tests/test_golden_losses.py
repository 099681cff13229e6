"""A golden loss trace: a tiny CPU run's training and held-out losses at every evaluation point, against
the trace committed in ``tests/assets/losses/tiny_cpu.json``.

Any change to data generation, mixing, the model, the optimiser or the schedule that moves a loss shows
here, with the step where it first moved. The tolerance (1e-4 relative) is far above float32 rounding
across kernels and threads (two threads instead of one give the same trace), and far below what any
real change in the recipe does (changing the peak lr by 1% moves the last training loss by 1.4e-3
relative). Regenerate on purpose with ``PHASEMIX_WRITE_GOLDEN=1 pytest tests/test_golden_losses.py``
and say why in the commit.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "assets" / "losses" / "tiny_cpu.json"
KEYS = ("train_loss", "web_loss", "knowledge_loss")


@pytest.fixture(scope="module")
def trace(tiny, one_thread_module):
    from empirical.train.loop import train

    config = tiny(0.5, steps=16, points=4)
    rows = train(config, progress=False)
    return {"run_id": config.run_id, "points": [{"step": r["step"], **{k: r[k] for k in KEYS}} for r in rows]}


def test_a_tiny_cpu_run_follows_its_golden_loss_trace(trace):
    if os.environ.get("PHASEMIX_WRITE_GOLDEN"):
        GOLDEN.write_text(json.dumps(trace, indent=1) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert trace["run_id"] == golden["run_id"], "the tiny config changed: its trace is another run's"
    assert [p["step"] for p in trace["points"]] == [p["step"] for p in golden["points"]]
    for got, want in zip(trace["points"], golden["points"]):
        for key in KEYS:
            assert got[key] == pytest.approx(want[key], rel=1e-4), f"{key} at step {want['step']}"
