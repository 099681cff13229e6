"""Sweeps and the runner: configs from axes, packing, and real tiny sweeps that are killed, resumed,
fail in part, and run through a process pool and a local Ray cluster."""
import functools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from empirical.config import DataConfig, EvalConfig, OptimConfig, ScheduleConfig, TrainConfig
from empirical.results import read_rows
from empirical.sweeps.runner import checkpoint_step, pack, run_sweep
from empirical.sweeps.spec import Run, Sweep, exposure_matched, grid, horizon
from empirical.sweeps.named import SWEEPS, resolve_sweep
from empirical.train.loop import train

TIMING = {"wall_time_s", "host", "schema"}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny(tiny):
    """The shared tiny run (tests/conftest.py) at this file's size: 12 steps of 192 tokens, 2 warm-up steps."""
    return functools.partial(tiny, steps=12, seq_len=192, warmup_steps=2)


def metrics(rows):
    return sorted(({k: v for k, v in r.items() if k not in TIMING} for r in rows), key=lambda r: (r["run_id"], r["step"]))


# --- configs and packing (no training) -------------------------------------------------------------
def test_grid_is_the_product_of_the_axes(tiny):
    runs = grid(tiny(), {"data.mixing_ratio": [0.1, 0.2, 0.4], "seed": [0, 1]})
    assert len(runs) == 6
    assert {(r.config.data.mixing_ratio, r.config.seed) for r in runs} == {(a, b) for a in (0.1, 0.2, 0.4) for b in (0, 1)}
    with pytest.raises(ValueError, match="data.mixing_ratio"):
        grid(tiny(), {"data.mixing_ratio": []})


def test_exposure_matched_control_halves_the_ratio_and_doubles_the_budget(tiny):
    run = Run(tiny(mixing_ratio=0.4, steps=10))
    control = exposure_matched(run, 2.0)
    assert control.role == "exposure_matched"
    assert control.config.data.mixing_ratio == pytest.approx(0.2)
    assert control.config.tokens == 2 * run.config.tokens  # knowledge tokens, hence exposures, equal
    assert horizon(run, 3.0).config.tokens == 3 * run.config.tokens
    with pytest.raises(ValueError, match="factor must be > 1"):
        exposure_matched(run, 0.5)


def test_a_sweep_holds_each_config_once(tiny):
    run = Run(tiny())
    sweep = Sweep("s", (run, Run(tiny(), "horizon"), Run(tiny(seed=1))))
    assert len(sweep) == 2 and sweep.runs[0].role == "main"


def test_packing_groups_compatible_runs_in_even_chunks(tiny):
    runs = [Run(tiny(mixing_ratio=r, seed=s)) for r in (0.1, 0.2, 0.3) for s in range(3)]  # 9 compatible
    runs.append(Run(tiny(steps=20)))  # another budget: a group of its own
    groups = pack(runs, [0] * len(runs), max_group=8)
    assert sorted(len(g) for g in groups) == [1, 4, 5]
    assert sorted(i for g in groups for i in g) == list(range(10))
    # Runs resuming from different steps cannot share a program.
    assert sorted(len(g) for g in pack(runs[:4], [0, 0, 6, 6], max_group=8)) == [2, 2]
    assert all(len(g) == 1 for g in pack(runs, [0] * 10, max_group=1))


def test_every_ratio_sweep_keeps_its_controls_and_horizons():
    from empirical.sweeps.named import REPRODUCTIONS

    reproductions = {s.name: s for preset in ("quick", "full") for s in REPRODUCTIONS[preset]()}
    for sweep in [SWEEPS["ratio"]("cpu"), SWEEPS["ratio"]("gpu"), reproductions["quick-ratio"], reproductions["full-ratio"]]:
        roles = [r.role for r in sweep.runs]
        assert {"main", "exposure_matched", "horizon"} <= set(roles), sweep.name


def test_the_full_preset_holds_what_its_targets_need():
    from empirical.sweeps.named import REPRODUCTIONS

    runs = {r.run_id: r for s in REPRODUCTIONS["full"]() for r in s.runs}.values()
    synbio = [r for r in runs if r.config.data.knowledge == "synbio" and r.config.data.subsample_rho == 1.0
              and r.config.data.ckm_tau == 0.0]
    mains = [r for r in synbio if r.role == "main"]
    # Transitions in r at three sizes, at the same ratios (so in size at every ratio), and a fourth size.
    ratios_by_model = {}
    for r in mains:
        ratios_by_model.setdefault(r.config.model, set()).add(r.config.data.mixing_ratio)
    swept = [m for m, ratios in ratios_by_model.items() if len(ratios) >= 5]
    assert len(swept) == 3 and len(ratios_by_model) == 4
    # Three seeds of tiny-50k's r-sweep; a control at half the ratio and twice the tokens for r >= 0.2.
    seeds = {(r.config.data.mixing_ratio, r.config.seed) for r in mains if r.config.model == "tiny-50k"}
    assert {s for _, s in seeds} == {0, 1, 2} and len(seeds) == 15
    budget = mains[0].config.tokens
    controls = {(r.config.data.mixing_ratio, r.config.tokens) for r in synbio if r.role == "exposure_matched"}
    assert {(r / 2, 2 * budget) for r in (0.2, 0.3, 0.4, 0.6)} == controls
    horizons = {(r.config.data.mixing_ratio, r.config.tokens) for r in synbio if r.role == "horizon"}
    assert horizons == {(0.1, 4 * budget), (0.2, 4 * budget)}
    assert all(r.config.data.people == 128 for r in synbio)


def test_named_sweeps_build_at_both_scales():
    for name, function in SWEEPS.items():
        for scale in ("cpu", "gpu"):
            sweep = function(scale)
            assert len(sweep) >= 1 and all(isinstance(r.config, TrainConfig) for r in sweep.runs)
    ratio = SWEEPS["ratio"]("cpu")
    controls = [r for r in ratio.runs if r.role == "exposure_matched"]
    assert controls, "every ratio sweep carries exposure-matched controls"
    with pytest.raises(ValueError, match="unknown sweep 'nope'"):
        resolve_sweep("nope")
    with pytest.raises(ValueError, match="scale must be one of"):
        SWEEPS["ratio"]("tpu")


# --- real sweeps -----------------------------------------------------------------------------------
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.slow
def test_a_failed_run_is_recorded_and_the_others_finish(tmp_path, tiny):
    bad = tiny().replace(**{"data.web": f"folder:{tmp_path / 'missing'}"})
    sweep = Sweep("partly-bad", (Run(tiny(0.5)), Run(bad), Run(tiny(1.0))))
    report = run_sweep(sweep, tmp_path / "r.jsonl", progress=False)
    assert report.failed == [bad.run_id] and report.completed == 2
    assert "missing" in report.errors[0]
    failures = [json.loads(line) for line in (tmp_path / "r.runs" / "failures.jsonl").read_text().splitlines()]
    assert failures[-1]["run_ids"] == [bad.run_id]
    assert (tmp_path / "r.runs" / bad.run_id / "error.txt").exists()
    assert {r["run_id"] for r in read_rows(tmp_path / "r.jsonl")} == {tiny(0.5).run_id, tiny(1.0).run_id}


@pytest.mark.slow
def test_rows_a_checkpoint_holds_but_the_table_lacks_are_recovered(tmp_path, tiny):
    config = tiny(0.5, steps=12, points=3)
    # A run killed after writing its checkpoint at step 6 but before appending that step's rows.
    train(config, tmp_path / "r.runs" / config.run_id, progress=False, stop_after_steps=6)
    assert checkpoint_step(tmp_path / "r.runs" / config.run_id) == 6
    run_sweep(Sweep("s", (Run(config),)), tmp_path / "r.jsonl", progress=False)
    steps = [r["step"] for r in read_rows(tmp_path / "r.jsonl")]
    assert sorted(steps) == config.eval_steps()


SWEEP_FILE = """
from empirical.config import DataConfig, EvalConfig, OptimConfig, ScheduleConfig, TrainConfig

def killable():
    base = TrainConfig(model="tiny-50k", data=DataConfig(people=20, seq_len=192), batch_size=4, tokens=4 * 192 * 40,
                       optim=OptimConfig(lr=5e-3), schedule=ScheduleConfig(warmup_steps=2),
                       eval=EvalConfig(points=4, people=10, templates="first", web_sequences=4))
    return [base.replace(**{"data.mixing_ratio": r}) for r in (0.3, 0.6, 0.9)]
"""


def _sweep_cmd(tmp_path, results, max_group):
    return [sys.executable, "-m", "empirical", "sweep", f"{tmp_path / 'sweeps.py'}:killable", "--results",
            str(results), "--max-group", str(max_group), "--no-progress"]


@pytest.mark.slow
@pytest.mark.parametrize("max_group", [1, 3])
def test_a_sweep_killed_mid_run_resumes_without_losing_or_repeating_rows(tmp_path, max_group):
    """One run at a time (max_group 1), or all three as one K-stack whose members write their
    checkpoints and rows one after another (max_group 3: a kill can fall between them)."""
    (tmp_path / "sweeps.py").write_text(textwrap.dedent(SWEEP_FILE))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    reference = tmp_path / "reference.jsonl"
    subprocess.run(_sweep_cmd(tmp_path, reference, max_group), check=True, env=env, cwd=ROOT, capture_output=True)
    expected = metrics(read_rows(reference))
    per_run = len(expected) // 3

    killed = tmp_path / "killed.jsonl"
    process = subprocess.Popen(_sweep_cmd(tmp_path, killed, max_group), env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    # Kill once the first run is complete and the second is part way (rows of one run and a bit).
    while time.time() < deadline and process.poll() is None:
        if killed.exists() and len(killed.read_bytes().splitlines()) >= per_run + 1:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the sweep finished before it could be killed: make its runs longer"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    rows_at_kill = read_rows(killed)
    done_first = {r["run_id"] for r in rows_at_kill if r["step"] == r["config"]["tokens"] // (4 * 192)}
    assert len(rows_at_kill) < len(expected) and (max_group > 1 or len(done_first) >= 1)
    finished_dirs = {rid: (killed.with_suffix(".runs") / rid / "checkpoint.pt").stat().st_mtime_ns for rid in done_first}

    subprocess.run(_sweep_cmd(tmp_path, killed, max_group), check=True, env=env, cwd=ROOT, capture_output=True)
    rows = read_rows(killed)
    keys = [(r["run_id"], r["step"]) for r in rows]
    assert len(keys) == len(set(keys)), "no row duplicated"
    if max_group == 1:
        assert metrics(rows) == expected, "no row lost; the resumed run ends with the uninterrupted run's numbers"
    else:
        # Members killed between their checkpoints resume at different steps, hence in other groups:
        # the same numbers up to float rounding of a different stack.
        got = metrics(rows)
        assert [(r["run_id"], r["step"]) for r in got] == [(r["run_id"], r["step"]) for r in expected], "no row lost"
        for a, b in zip(got, expected):
            assert a["knowledge_loss"] == pytest.approx(b["knowledge_loss"], rel=1e-4)
            assert abs(a["accuracy"] - b["accuracy"]) <= 0.02
    for rid, mtime in finished_dirs.items():  # completed runs were not trained again
        assert (killed.with_suffix(".runs") / rid / "checkpoint.pt").stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_a_local_ray_cluster_and_the_process_pool_give_the_same_rows(tmp_path, tiny):
    pytest.importorskip("ray")
    sweep = Sweep("pair", (Run(tiny(0.3)), Run(tiny(0.8)), Run(tiny(0.5, steps=8))))
    pool = run_sweep(sweep, tmp_path / "pool.jsonl", workers=2, engine="local", progress=False)
    ray_report = run_sweep(sweep, tmp_path / "ray.jsonl", workers=2, engine="ray", progress=False)
    assert pool.completed == ray_report.completed == 3 and not pool.failed and not ray_report.failed
    a, b = metrics(read_rows(tmp_path / "pool.jsonl")), metrics(read_rows(tmp_path / "ray.jsonl"))
    assert len(a) == 6 and a == b
    # Runs sharing a budget were trained as one K-stack.
    assert {r["group_size"] for r in a} == {1, 2}


@pytest.mark.slow
def test_a_pool_worker_killed_mid_run_is_replaced_and_its_runs_finish(tmp_path, tiny):
    import threading

    sweep = Sweep("pool", (Run(tiny(0.3, steps=40)), Run(tiny(0.8, steps=30))))
    results = tmp_path / "r.jsonl"
    killed = []

    def kill_a_worker():
        # Wait for the first row (a worker is mid-run), then SIGKILL one pool worker.
        deadline = time.time() + 120
        while time.time() < deadline and not (results.exists() and results.stat().st_size):
            time.sleep(0.05)
        out = subprocess.run(["pgrep", "-P", str(os.getpid())], capture_output=True, text=True).stdout.split()
        workers = [int(p) for p in out if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text(errors="ignore")]
        if workers:
            os.kill(workers[0], signal.SIGKILL)
            killed.append(workers[0])

    killer = threading.Thread(target=kill_a_worker)
    killer.start()
    report = run_sweep(sweep, results, workers=2, group=False, progress=False)
    killer.join()
    assert killed, "no pool worker was found to kill"
    assert not report.failed and report.completed == 2
    keys = [(r["run_id"], r["step"]) for r in read_rows(results)]
    assert len(keys) == len(set(keys)) == sum(len(run.config.eval_steps()) for run in sweep.runs)


def test_dry_run_lists_runs_costs_and_status(tmp_path, capsys):
    from empirical.__main__ import main

    assert main(["sweep", "ratio", "--dry-run", "--no-measure", "--results", str(tmp_path / "none.jsonl")]) == 0
    out = capsys.readouterr().out
    sweep = SWEEPS["ratio"]("cpu")
    for run in sweep.runs:
        assert run.run_id in out
    assert "exposure_matched" in out and f"to train: {len(sweep)} runs" in out
    assert main(["sweep", "nope"]) == 2 and "unknown sweep 'nope'" in capsys.readouterr().err
