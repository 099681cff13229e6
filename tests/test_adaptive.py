"""The adaptive r_c search: placement on a simulated results table (a known logistic curve, no
training) converges within its stopping rule; a restart from a partial table replans the same runs;
waves take phases in order; and a tiny real search runs through the sweep runner and resumes."""
import math
from pathlib import Path

import numpy as np
import pytest

from empirical.sweeps.adaptive import (Search, StudyReport, cost_table, decide, final_results, grid_position, grid_ratio,
                                plan_wave, replay, run_study)
from empirical.config import DataConfig, EvalConfig, OptimConfig, ScheduleConfig, TrainConfig
from empirical.results import append_rows
from capacity.critical import critical_ratio

PEOPLE, ITEMS_PER_PERSON = 128, 5


def base(model="tiny-50k", tokens=16 * 192 * 900):
    return TrainConfig(model=model, data=DataConfig(people=PEOPLE, seq_len=192), batch_size=16, tokens=tokens,
                       eval=EvalConfig(points=4, people=0, templates="first", web_sequences=32))


class Curve:
    """Accuracy = logistic in log r through (r_c, 10%), each seed's r_c shifted by a fixed log-normal
    offset (seed-to-seed SD of log r_c 2.6%, as measured across three seeds of tiny-50k in docs/full)."""

    def __init__(self, r_c, slope=7.0, seed_sd=0.026, rng_seed=0):
        self.r_c, self.slope, self.seed_sd = r_c, slope, seed_sd
        self.rng = np.random.default_rng(rng_seed)
        self.offsets = {}

    def rows(self, runs):
        out = []
        for run in runs:
            c = run.config
            shift = self.offsets.setdefault(c.seed, self.seed_sd * self.rng.standard_normal())
            logit = math.log(0.1 / 0.9) + self.slope * (math.log(c.data.mixing_ratio) - math.log(self.r_c) - shift)
            p_person = 1 / (1 + math.exp(-logit))
            # One person's attributes are learned together: correct counts clustered by person.
            correct = int(self.rng.binomial(PEOPLE, p_person)) * ITEMS_PER_PERSON
            out.append({"run_id": run.run_id, "step": c.steps, "config": c.to_dict(),
                        "accuracy": correct / (PEOPLE * ITEMS_PER_PERSON),
                        "items_evaluated": PEOPLE * ITEMS_PER_PERSON, "people_evaluated": PEOPLE})
        return out


def simulate(search, curve, table, max_rounds=20):
    """Train (simulate) each round's pending runs into the table until the search ends."""
    for _ in range(max_rounds):
        state = replay(search, final_results(table), critical_ratio)
        if state.status != "running":
            return state
        append_rows(table, curve.rows(state.pending))
    raise AssertionError("search did not end")


def test_grid_ratios_are_fixed_and_geometric():
    assert [grid_ratio(k) for k in (0, 6, 12)] == [0.1, 0.2, 0.4]
    assert grid_ratio(9) == 0.283 and grid_ratio(-6) == 0.05
    assert all(grid_ratio(k + 1) / grid_ratio(k) == pytest.approx(2 ** (1 / 6), rel=0.01) for k in range(-10, 16))
    assert grid_position(grid_ratio(7)) == pytest.approx(7, abs=0.02)


@pytest.mark.parametrize("true_r_c,start", [(0.33, 0.3), (0.18, 0.3), (0.45, 0.2)])
def test_search_converges_to_the_true_critical_ratio(tmp_path, true_r_c, start):
    search = Search("s", base(), start=start, n_boot=400)
    state = simulate(search, Curve(true_r_c), tmp_path / "results.jsonl")
    assert state.status == "converged"
    lo, hi = state.estimate.interval
    assert max(hi / state.estimate.value - 1, 1 - lo / state.estimate.value) <= search.tolerance
    # The interval covers the seeds' mean r_c (the estimand with these seeds); within 5% of the true one.
    assert state.estimate.value == pytest.approx(true_r_c, rel=0.05)
    assert len(state.points) <= search.max_runs
    assert {p.seed for p in state.points} >= {0, 1}


def test_a_restart_from_a_partial_table_plans_the_same_runs(tmp_path):
    table = tmp_path / "results.jsonl"
    search = Search("s", base(), start=0.25, n_boot=200)
    curve = Curve(0.3)
    rounds = []
    for _ in range(3):
        state = replay(search, final_results(table), critical_ratio)
        assert state.status == "running"
        rounds.append([run.run_id for run in state.pending])
        append_rows(table, curve.rows(state.pending[:-1]))  # killed before the round's last run finished
        again = [replay(search, final_results(table), critical_ratio) for _ in range(2)]
        assert [r.run_id for r in again[0].pending] == [r.run_id for r in again[1].pending] == rounds[-1][-1:]
        append_rows(table, curve.rows(again[0].pending))
    # From the table alone, a fresh replay walks the same rounds.
    assert replay(search, final_results(table), critical_ratio).rounds == 3
    assert len({rid for r in rounds for rid in r}) == sum(len(r) for r in rounds)


def test_round_zero_brackets_the_start_and_unbracketed_data_move_outward():
    search = Search("s", base(), start=0.3)
    first = decide(search, [], critical_ratio)
    assert sorted({r for r, _ in first.placements}) == [0.252, 0.317, 0.4]
    assert {s for _, s in first.placements} == {0, 1}
    from empirical.sweeps.adaptive import Point

    nothing = [Point(r, s, 0, 640, 5.0) for r, s in first.placements]
    up = decide(search, nothing, critical_ratio)
    assert up.status == "running" and min(r for r, _ in up.placements) > 0.4
    everything = [Point(r, s, 640, 640, 5.0) for r, s in first.placements]
    assert max(r for r, _ in decide(search, everything, critical_ratio).placements) < 0.252
    edge = Search("e", base(), start=0.6, r_max=0.64)
    top = [Point(r, s, 0, 640, 5.0) for r, s in decide(edge, [], critical_ratio).placements]
    top += [Point(0.635, s, 0, 640, 5.0) for s in (0, 1)]
    assert decide(edge, top, critical_ratio).status == "above_range"


def test_waves_take_the_first_phase_and_fill_idle_workers_from_the_next():
    first = Search("small", base(), start=0.3, phase=0)
    later = Search("long", base(tokens=16 * 192 * 3600), start=0.2, phase=1)
    states, runs = plan_wave([first, later], {}, critical_ratio, workers=2, max_group=2)
    assert {r.config.tokens for r in runs} == {first.base.tokens}  # 6 runs: 3 stacks of 2 keep 2 workers busy
    _, runs = plan_wave([first, later], {}, critical_ratio, workers=4, max_group=2)
    assert {r.config.tokens for r in runs} == {first.base.tokens, later.base.tokens}
    rows = cost_table(states, lambda config: config.steps * 0.1)
    assert rows[0]["expected_runs"] == 12 and rows[0]["seconds_per_run"] == pytest.approx(90.0)


def test_searches_are_validated():
    with pytest.raises(ValueError, match="seeds must be >= 2"):
        Search("s", base(), start=0.3, seeds=(0,))
    with pytest.raises(ValueError, match="start"):
        Search("s", base(), start=0.9)
    with pytest.raises(ValueError, match="distinct names"):
        run_study([Search("s", base(), start=0.3), Search("s", base(), start=0.2)], "unused.jsonl")
    with pytest.raises(ValueError, match="share one base"):
        run_study([Search("a", base(), start=0.3), Search("b", base().replace(seed=3), start=0.2)], "unused.jsonl")


@pytest.mark.slow
def test_a_tiny_real_search_runs_through_the_runner_and_resumes(tmp_path, one_thread):
    tiny = TrainConfig(model="tiny-50k", data=DataConfig(people=8, seq_len=192), batch_size=4, tokens=4 * 192 * 10,
                       optim=OptimConfig(lr=5e-3), schedule=ScheduleConfig(warmup_steps=2),
                       eval=EvalConfig(points=1, people=0, templates="first", web_sequences=2))
    search = Search("tiny", tiny, start=0.5, initial=2, r_min=0.4, r_max=0.64, max_runs=8, n_boot=100)
    table, work = tmp_path / "results.jsonl", tmp_path / "runs"
    seen = []
    report = run_study([search], table, work, max_group=8, progress=False,
                       on_wave=lambda states: seen.append(states[0].status))
    assert isinstance(report, StudyReport) and report.done and not report.failed
    state = report.states[0]
    assert state.status in ("converged", "above_range", "below_range", "max_runs")
    assert report.trained == len(state.points) >= 4 and report.waves >= 2
    assert all(p.total == 8 * ITEMS_PER_PERSON for p in state.points)
    assert seen == ["running"] * report.waves + [state.status]  # planned before each wave and at the end
    again = run_study([search], table, work, max_group=8, progress=False)
    assert again.trained == 0 and again.waves == 0
    assert [vars(p) for p in again.states[0].points] == [vars(p) for p in state.points]


def test_the_predict_study_meets_its_design_and_plans_stable_run_ids(tmp_path):
    from empirical.model.presets import params_nonembedding, sized_for
    from empirical.sweeps.named import predict

    searches = predict()
    size = {s.base.model: params_nonembedding(sized_for(s.base.model, 2048, 192)) for s in searches}
    assert len(size) >= 5 and max(size.values()) / min(size.values()) >= 16
    assert all(len(s.seeds) >= 2 for s in searches)
    budgets = {}
    for s in searches:
        budgets.setdefault(s.base.model, set()).add(s.base.tokens)
    assert sum(len(b) >= 2 for b in budgets.values()) >= 3
    assert max(max(b) / min(b) for b in budgets.values()) >= 16
    assert predict("bf16")[0].base.precision == "bf16"
    # Same table, same plan: twice from an empty table, and twice from a table holding part of wave 1.
    table = tmp_path / "results.jsonl"
    plans = [[r.run_id for r in plan_wave(searches, final_results(table), critical_ratio, 2, 2)[1]] for _ in range(2)]
    assert plans[0] == plans[1] and len(plans[0]) == 30  # phase 0: five sizes x 3 ratios x 2 seeds
    _, wave = plan_wave(searches, {}, critical_ratio, 2, 2)
    finished = wave[1:5] + wave[6:9]  # parts of the first two searches' round 0 (6 runs each)
    append_rows(table, Curve(0.3).rows(finished))
    again = [[r.run_id for r in plan_wave(searches, final_results(table), critical_ratio, 2, 2)[1]] for _ in range(2)]
    assert again[0] == again[1] == [rid for rid in plans[0] if rid not in {r.run_id for r in finished}]


def test_predict_preset_runs_only_the_named_searches(tmp_path, capsys):
    """--searches: the plan holds those searches alone (costs come from the committed table's finished runs)."""
    import shutil

    import paper_repro

    table = tmp_path / "results.jsonl"
    shutil.copy(Path(__file__).parents[1] / "docs" / "predict" / "results.jsonl", table)
    assert paper_repro.main(["--preset", "predict", "--dry-run", "--results", str(table), "--out", str(tmp_path / "o"),
                             "--searches", "small-500k@1T0", "small-200k@4T0"]) == 0
    plan = capsys.readouterr().out
    rows = [line.split()[0] for line in plan.splitlines() if "@" in line.split(" ", 1)[0]]
    assert sorted(rows) == ["small-200k@4T0", "small-500k@1T0"]
    assert "small-500k@1T0" in plan and "converged" in plan


@pytest.mark.slow
def test_continuous_schedule_lets_a_cheap_search_finish_while_a_costly_one_trains(tmp_path, one_thread):
    """Two workers: the cheap search's rounds follow one another on one worker while the costly
    search's single K-stack trains on the other; resuming trains nothing."""
    from empirical.results import read_rows

    def tiny(steps, seed):
        return TrainConfig(model="tiny-50k", data=DataConfig(people=8, seq_len=192), batch_size=4,
                           tokens=4 * 192 * steps, optim=OptimConfig(lr=5e-3), schedule=ScheduleConfig(warmup_steps=2),
                           eval=EvalConfig(points=1, people=0, templates="first", web_sequences=2), seed=seed)

    cheap = Search("cheap", tiny(10, 0), start=0.5, initial=2, r_min=0.4, r_max=0.64, max_runs=8, n_boot=100)
    costly = Search("costly", tiny(500, 0), start=0.5, initial=2, r_min=0.4, r_max=0.64, max_runs=4, n_boot=100)
    table, work = tmp_path / "results.jsonl", tmp_path / "runs"
    report = run_study([costly, cheap], table, work, workers=2, max_group=8, progress=False, schedule="continuous")
    assert report.done and not report.failed
    by_name = {st.search.name: st for st in report.states}
    assert report.trained == len(by_name["cheap"].points) + len(by_name["costly"].points)
    rows = list(read_rows(table))
    costly_ids = {costly.run(p.ratio, p.seed).run_id for p in by_name["costly"].points}
    first_costly = min(i for i, r in enumerate(rows) if r["run_id"] in costly_ids)
    cheap_rows = [i for i, r in enumerate(rows) if r["run_id"] not in costly_ids]
    assert by_name["cheap"].rounds >= 2 and max(cheap_rows) < first_costly  # every cheap round before costly's end
    again = run_study([costly, cheap], table, work, workers=2, max_group=8, progress=False, schedule="continuous")
    assert again.trained == 0 and again.waves == 0
    with pytest.raises(ValueError, match="schedule must be one of"):
        run_study([cheap], table, work, schedule="async")
