"""Hostile and unlucky inputs to training and sweeps: a checkpoint that would run code, damaged
checkpoints, diverging runs, a kill between a checkpoint and its printed rows, two sweeps on one
table with different work folders, Ray's settings, provenance, and a last row without its newline.
Real tiny training throughout; nothing is mocked."""
import functools
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from empirical.__main__ import main
from empirical.train.checkpoint import CHECKPOINT, CheckpointError, load, load_or_set_aside
from empirical.config import DataConfig, EvalConfig, OptimConfig, ScheduleConfig, TrainConfig
from empirical.train.divergence import DivergedError, DivergenceWatch, divergence_limit
from empirical.train.provenance import commit_of, git_commit
from empirical.results import SCHEMA, append_rows, read_rows
from empirical.sweeps.pool import ray_environment, ray_init_kwargs
from empirical.sweeps.runner import Task, _record_failure, checkpoint_step, lock_dir, run_sweep
from empirical.sweeps.spec import Run, Sweep
from empirical.train.loop import train, train_group

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(tiny):
    """The shared tiny run (tests/conftest.py) at this file's size: 12 steps of 192 tokens, 2 warm-up steps."""
    return functools.partial(tiny, steps=12, seq_len=192, warmup_steps=2)


def strict_json(line: str):
    """json.loads that refuses bare NaN / Infinity (which Python's json would accept)."""
    def refuse(name):
        raise ValueError(f"bare {name} in JSON")
    return json.loads(line, parse_constant=refuse)


class RunsAShellCommand:
    """Unpickling this runs ``touch <marker>``: what a crafted checkpoint could do under a plain load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def write_malicious_checkpoint(run_dir: Path, marker: Path) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"step": 3, "payload": RunsAShellCommand(marker)}, run_dir / CHECKPOINT)
    return run_dir / CHECKPOINT


def set_aside_files(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob(f"{CHECKPOINT}.damaged-*"))


# --- 1. a checkpoint cannot run code -----------------------------------------------------------------
def test_the_malicious_pickle_really_runs_code_under_a_plain_load(tmp_path):
    """The file used below is a real exploit: an unrestricted unpickler runs its command."""
    marker = tmp_path / "ran"
    path = write_malicious_checkpoint(tmp_path / "run", marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_a_malicious_checkpoint_is_refused_in_one_line_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    path = write_malicious_checkpoint(tmp_path / "run", marker)
    with pytest.raises(CheckpointError) as refused:
        load(path)
    assert "\n" not in str(refused.value) and str(path) in str(refused.value)
    assert not marker.exists()


@pytest.mark.slow
def test_train_group_sets_a_malicious_checkpoint_aside_and_trains_from_scratch(tmp_path, capfd, tiny):
    marker = tmp_path / "ran"
    config = tiny(steps=6, points=1)
    write_malicious_checkpoint(tmp_path / "run", marker)
    [rows] = train_group([config], [tmp_path / "run"], progress=False)
    assert not marker.exists()
    assert [r["step"] for r in rows] == config.eval_steps()
    assert len(set_aside_files(tmp_path / "run")) == 1  # kept, under a new name
    warnings = [line for line in capfd.readouterr().err.splitlines() if "set aside" in line]
    assert len(warnings) == 1 and "not a readable checkpoint" in warnings[0]


@pytest.mark.slow
def test_sweep_dry_run_and_train_run_dir_refuse_a_malicious_checkpoint(tmp_path, capsys, tiny):
    marker = tmp_path / "ran"
    config = tiny(steps=4, points=1)
    (tmp_path / "sweeps.py").write_text(textwrap.dedent(f"""
        from empirical.config import TrainConfig
        def one():
            return [TrainConfig.from_json({config.to_json()!r})]
    """))
    results = tmp_path / "r.jsonl"
    write_malicious_checkpoint(results.with_suffix(".runs") / config.run_id, marker)
    dry = subprocess.run([sys.executable, "-m", "empirical", "sweep", f"{tmp_path / 'sweeps.py'}:one", "--dry-run",
                          "--no-measure", "--results", str(results)], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert dry.returncode == 0, dry.stderr
    assert not marker.exists()
    assert dry.stderr.count("\n") == 1 and "not a readable checkpoint" in dry.stderr and "Traceback" not in dry.stderr

    (tmp_path / "config.json").write_text(config.to_json())
    write_malicious_checkpoint(tmp_path / "cli-run", marker)
    assert main(["train", "--config", str(tmp_path / "config.json"), "--run-dir", str(tmp_path / "cli-run"),
                 "--no-progress"]) == 0
    out = capsys.readouterr()
    assert not marker.exists()
    assert [strict_json(line)["step"] for line in out.out.splitlines()] == config.eval_steps()
    assert len([line for line in out.err.splitlines() if "set aside" in line]) == 1
    assert len(set_aside_files(tmp_path / "cli-run")) == 1


# --- 3. a damaged checkpoint affects its run alone ---------------------------------------------------
def _damage(kind: str, path: Path, config: TrainConfig) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(os.urandom(4096))
    elif kind == "truncated":
        torch.save({"step": 1, "model": {"w": torch.zeros(1000)}}, path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "not-a-dict":
        torch.save([1, 2, 3], path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "beyond-budget":  # a checkpoint of this run whose step lies past its last step
        torch.save({"config": config.to_dict(), "step": config.steps + 5, "model": {}, "optimizer": {}, "data": {},
                    "rows": []}, path)
    else:
        raise AssertionError(kind)


DAMAGE = ["empty", "random", "truncated", "not-a-dict", "folder", "beyond-budget"]


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_checkpoint_is_set_aside_not_deleted(tmp_path, kind, capfd, tiny):
    config = tiny()
    path = tmp_path / "run" / CHECKPOINT
    _damage(kind, path, config)
    assert checkpoint_step(path.parent, config.steps) == 0  # a sweep's plan does not die on it
    assert load_or_set_aside(path, config.steps) is None
    assert not os.path.lexists(path)
    [kept] = set_aside_files(path.parent)
    assert kept.is_dir() == (kind == "folder")
    err = capfd.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("warning:") and kept.name in err


@pytest.mark.slow
def test_a_sweep_with_damaged_checkpoints_trains_every_run_and_counts_it_once(tmp_path, capfd, tiny):
    """Four runs, three with damaged checkpoints (random bytes, a folder, a step beyond the budget):
    the dry run and the sweep go on, every run finishes, and a second sweep finds all done."""
    configs = [tiny(r) for r in (0.3, 0.5, 0.7, 0.9)]
    results, work = tmp_path / "r.jsonl", tmp_path / "r.runs"
    for kind, config in zip(["random", "folder", "beyond-budget"], configs[1:]):
        _damage(kind, work / config.run_id / CHECKPOINT, config)
    sweep = Sweep("damaged", tuple(Run(c) for c in configs))
    report = run_sweep(sweep, results, progress=False)
    assert report.completed == 4 and not report.failed
    keys = sorted((r["run_id"], r["step"]) for r in read_rows(results))
    assert keys == sorted((c.run_id, s) for c in configs for s in c.eval_steps())
    for config in configs[1:]:
        assert len(set_aside_files(work / config.run_id)) == 1
    again = run_sweep(sweep, results, progress=False)
    assert (again.skipped, again.completed) == (4, 0)
    assert capfd.readouterr().err.count("set aside as") == 3


# --- 2. divergence -----------------------------------------------------------------------------------
def test_the_divergence_watch_flags_nan_inf_and_a_blown_up_loss_at_their_first_step():
    watch = DivergenceWatch(4, divergence_limit(2048), torch.device("cpu"))
    watch.update(torch.tensor([7.8, 7.8, 7.8, 7.8]), 1)
    watch.check(["a", "b", "c", "d"], 1)  # healthy: no error
    watch.update(torch.tensor([6.0, float("nan"), 7.0, 5.0]), 2)
    watch.update(torch.tensor([5.0, float("nan"), float("inf"), 31.0]), 3)
    with pytest.raises(DivergedError) as error:
        watch.check(["a", "b", "c", "d"], 3)
    assert error.value.members == [1, 2, 3] and error.value.run_ids == ["b", "c", "d"]
    assert error.value.step == 2  # the first step any of them diverged
    assert error.value.losses[1:] == [float("inf"), 31.0]
    assert "step 2" in str(error.value) and "nan" in str(error.value)


def test_the_divergence_limit_is_twice_the_uniform_predictors_loss():
    assert divergence_limit(2048) == pytest.approx(2 * 7.6246, rel=1e-4)
    with pytest.raises(ValueError, match="vocab_size"):
        divergence_limit(1)


@pytest.mark.slow
def test_healthy_training_at_a_high_learning_rate_never_trips_the_divergence_check(tiny):
    # lr 3e-2 with one warm-up step: a tiny model's loss spikes early, far below 2 ln V.
    config = tiny(steps=20, lr=3e-2).replace(**{"schedule.warmup_steps": 1})
    rows = train(config, progress=False)
    assert [r["step"] for r in rows] == config.eval_steps()


@pytest.mark.slow
def test_train_exits_non_zero_with_one_line_naming_the_step_and_loss_and_prints_no_row(tmp_path, capsys, tiny):
    config = tiny(lr=0.99)  # accepted by validation (lr < 1), and diverges within a few steps
    (tmp_path / "config.json").write_text(config.to_json())
    status = main(["train", "--config", str(tmp_path / "config.json"), "--run-dir", str(tmp_path / "run"),
                   "--no-progress"])
    out = capsys.readouterr()
    assert status == 1
    assert out.out == ""  # no row claims an accuracy
    [line] = out.err.strip().splitlines()
    assert line.startswith("python -m empirical train: error: training diverged at step ") and "training loss" in line


@pytest.mark.slow
def test_a_diverged_member_of_a_k_stack_is_recorded_failed_and_the_others_finish(tmp_path, tiny):
    healthy = [tiny(0.3, seed=1), tiny(0.8, seed=2)]
    bad = tiny(0.5, seed=3, lr=0.99)
    sweep = Sweep("one-diverges", (Run(healthy[0]), Run(bad), Run(healthy[1])))
    report = run_sweep(sweep, tmp_path / "r.jsonl", progress=False)
    assert report.failed == [bad.run_id] and report.completed == 2
    rows = read_rows(tmp_path / "r.jsonl")
    assert bad.run_id not in {r["run_id"] for r in rows}  # no row claims an accuracy for it
    assert sorted((r["run_id"], r["step"]) for r in rows) == sorted(
        (c.run_id, s) for c in healthy for s in c.eval_steps())
    assert all(r["group_size"] == 2 for r in rows)  # the healthy pair went on as one K-stack
    [record] = [strict_json(line) for line in (tmp_path / "r.runs" / "failures.jsonl").read_text().splitlines()]
    assert record["reason"] == "diverged" and record["run_ids"] == [bad.run_id]
    assert record["step"] >= 1 and record["losses"][bad.run_id] > divergence_limit(2048)
    error_text = (tmp_path / "r.runs" / bad.run_id / "error.txt").read_text()
    assert error_text.splitlines()[0].startswith(f"DivergedError: training diverged at step {record['step']}")


def test_a_non_finite_loss_is_recorded_as_null_never_bare_nan(tmp_path, tiny):
    config = tiny()
    task = Task(configs=[config.to_dict()], roles=["main"], run_dirs=[str(tmp_path / config.run_id)], sweep="s",
                results=str(tmp_path / "r.jsonl"), work_dir=str(tmp_path), threads=1)
    _record_failure(task, [0], DivergedError([config.run_id], 4, [float("nan")], [0]))
    record = strict_json((tmp_path / "failures.jsonl").read_text())
    assert record["losses"] == {config.run_id: None} and record["step"] == 4
    assert "training loss nan" in record["error"]


# --- 4. train --run-dir replays the rows its checkpoint holds ----------------------------------------
@pytest.mark.slow
def test_train_run_dir_prints_every_row_after_a_kill_and_again_when_finished(tmp_path, capsys, tiny):
    config = tiny(steps=24, points=4)
    assert config.eval_steps() == [3, 6, 12, 24]
    (tmp_path / "config.json").write_text(config.to_json())
    # Killed after writing the checkpoint at step 6, before printing step 6's row.
    train(config, tmp_path / "run", progress=False, stop_after_steps=6)
    argv = ["train", "--config", str(tmp_path / "config.json"), "--run-dir", str(tmp_path / "run"), "--no-progress"]
    assert main(argv) == 0
    first = [strict_json(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["step"] for r in first] == [3, 6, 12, 24]
    assert main(argv) == 0  # a finished run prints its rows again, without training
    again = [strict_json(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["step"] for r in again] == [3, 6, 12, 24] and again == first


# --- 5. one lock per run of a results table ----------------------------------------------------------
SWEEP_FILE = """
from empirical.config import DataConfig, EvalConfig, OptimConfig, ScheduleConfig, TrainConfig

def pair():
    base = TrainConfig(model="tiny-50k", data=DataConfig(people=20, seq_len=192), batch_size=4, tokens=4 * 192 * 8,
                       optim=OptimConfig(lr=5e-3), schedule=ScheduleConfig(warmup_steps=2),
                       eval=EvalConfig(points=2, people=10, templates="first", web_sequences=4))
    return [base.replace(**{"data.mixing_ratio": r}) for r in (0.3, 0.7)]
"""


@pytest.mark.slow
def test_two_sweeps_on_one_table_with_different_work_dirs_train_each_run_once(tmp_path):
    (tmp_path / "sweeps.py").write_text(textwrap.dedent(SWEEP_FILE))
    results = tmp_path / "r.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "empirical", "sweep", f"{tmp_path / 'sweeps.py'}:pair",
                               "--results", str(results), "--work-dir", str(tmp_path / f"work{i}"), "--no-group",
                               "--no-progress"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in (1, 2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    trained = [int(o[0].split(" trained now")[0].rsplit(" ", 1)[1]) for o in outs]
    assert sum(trained) == 2  # each run trained by one sweep; the other found it done
    rows = read_rows(results)
    keys = [(r["run_id"], r["step"]) for r in rows]
    assert len(keys) == len(set(keys)) == 4
    for run_id in {r["run_id"] for r in rows}:
        assert sum((tmp_path / f"work{i}" / run_id / CHECKPOINT).exists() for i in (1, 2)) == 1
    assert sorted(p.name for p in lock_dir(results).iterdir()) == sorted(f"{rid}.lock" for rid in {k[0] for k in keys})


# --- 8. Ray ------------------------------------------------------------------------------------------
def test_ray_starts_without_usage_stats_or_dashboard_unless_asked():
    env: dict = {}
    ray_environment(env)
    assert env["RAY_USAGE_STATS_ENABLED"] == "0"
    chosen = {"RAY_USAGE_STATS_ENABLED": "1"}
    ray_environment(chosen)
    assert chosen["RAY_USAGE_STATS_ENABLED"] == "1"  # the user's own choice is kept
    local = ray_init_kwargs(None, {})
    assert local["include_dashboard"] is False and local["num_cpus"] >= 1 and "address" not in local
    assert ray_init_kwargs("auto", {})["address"] == "auto"
    assert ray_init_kwargs(None, {"PHASEMIX_RAY_DASHBOARD": "1"})["include_dashboard"] is True


# --- 9. provenance -----------------------------------------------------------------------------------
def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


def _package_tree(root: Path, name: str = "phasemix") -> None:
    (root / "empirical").mkdir(parents=True)
    (root / "empirical" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(f'[project]\nname = "{name}"\nversion = "0.1.0"\n')


@pytest.mark.skipif(subprocess.run(["git", "--version"], capture_output=True).returncode != 0, reason="no git")
def test_the_commit_is_recorded_only_for_the_packages_own_checkout(tmp_path):
    own = tmp_path / "own"
    _package_tree(own)
    _git(own, "init", "-q")
    _git(own, "add", ".")
    _git(own, "commit", "-qm", "x")
    head = _git(own, "rev-parse", "HEAD")
    assert commit_of(own) == head
    # An installed copy inside someone else's repository records no commit (not theirs).
    outer = tmp_path / "outer"
    _package_tree(outer / "site-packages")
    (outer / "README").write_text("theirs")
    _git(outer, "init", "-q")
    _git(outer, "add", ".")
    _git(outer, "commit", "-qm", "theirs")
    assert commit_of(outer / "site-packages") is None
    # A checkout of another project is not ours either.
    other = tmp_path / "other"
    _package_tree(other, name="something-else")
    _git(other, "init", "-q")
    assert commit_of(other) is None
    assert commit_of(tmp_path / "not-a-repo-at-all") is None


@pytest.mark.skipif(subprocess.run(["git", "--version"], capture_output=True).returncode != 0, reason="no git")
def test_reading_the_commit_never_writes_the_git_index(tmp_path):
    """Plain ``git status`` refreshes a stale index (taking .git/index.lock and rewriting .git/index);
    with optional locks off it writes nothing."""
    own = tmp_path / "own"
    _package_tree(own)
    _git(own, "init", "-q")
    _git(own, "add", ".")
    _git(own, "commit", "-qm", "x")
    index = own / ".git" / "index"
    future = time.time() + 100
    os.utime(own / "pyproject.toml", (future, future))  # stale stat data: status would refresh the index
    before = (index.stat().st_mtime_ns, index.read_bytes())
    assert commit_of(own) == _git(own, "rev-parse", "HEAD")
    assert (index.stat().st_mtime_ns, index.read_bytes()) == before
    _git(own, "status")  # the control: plain status does rewrite it
    assert index.read_bytes() != before[1]


def test_git_commit_runs_once_per_process():
    first = git_commit()
    hits = git_commit.cache_info().hits
    assert git_commit() == first and git_commit.cache_info().hits == hits + 1


# --- the results table: a whole last row without its newline ----------------------------------------
def test_a_complete_last_row_without_its_newline_is_kept_and_completed(tmp_path, recwarn):
    path = tmp_path / "r.jsonl"
    append_rows(path, [{"run_id": "a", "step": 1}, {"run_id": "a", "step": 2}])
    path.write_bytes(path.read_bytes()[:-1])  # the last row lacks only its newline
    assert [r["step"] for r in read_rows(path)] == [1, 2]
    append_rows(path, [{"run_id": "a", "step": 3}])
    assert [r["step"] for r in read_rows(path)] == [1, 2, 3]
    assert path.read_bytes().count(b"\n") == 3 and all(line.startswith(b'{"schema":')
                                                        for line in path.read_bytes().splitlines())
    assert not [w for w in recwarn if "incomplete" in str(w.message)]
    assert read_rows(path)[0]["schema"] == SCHEMA
