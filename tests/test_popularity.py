"""Threshold popularity over a model family (arXiv 2505.18091 Algorithm 1, Fig. 7b): the slope of a
known power law is recovered within its interval; bad CSVs are refused with one line; the CLI and
the figure."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from capacity.cli import main
from capacity.fit import threshold_popularity
from capacity.popularity import family_thresholds, read_popularity_csv, synthetic_family, write_popularity_csv

SIZES = [1e8, 3e8, 1e9, 3e9, 1e10]
SHIPPED = Path(__file__).resolve().parent.parent / "empirical" / "data" / "popularity" / "synthetic_family.csv"


def family_csv(tmp_path, slope, seed=0, questions=3000):
    path = tmp_path / f"family_{seed}.csv"
    write_popularity_csv(synthetic_family(SIZES, slope=slope, threshold_at_first=3e4, questions=questions, seed=seed), path)
    return path


@pytest.mark.parametrize("slope, seed", [(-0.8, 0), (-1.3, 1), (-0.4, 2)])
def test_a_known_power_law_slope_is_recovered_within_its_interval(tmp_path, slope, seed):
    result = family_thresholds(read_popularity_csv(family_csv(tmp_path, slope, seed)), n_bootstrap=300, seed=seed)
    low, high = result.slope_interval
    assert low <= slope <= high
    assert high - low < 0.3  # an interval that says something
    assert abs(result.slope - slope) < 0.1
    assert all(not m.censored and m.interval[0] <= m.threshold <= m.interval[1] for m in result.models)
    thresholds = [m.threshold for m in result.models]
    assert thresholds == sorted(thresholds, reverse=True)  # larger models: lower threshold popularity


def test_each_threshold_is_algorithm_1_on_that_models_questions(tmp_path):
    table = read_popularity_csv(family_csv(tmp_path, -0.8, questions=500))
    result = family_thresholds(table, target=0.5, n_fail=2, n_bootstrap=20)
    for m in result.models:
        expected = threshold_popularity(table.popularity[m.model], table.correct[m.model], target=0.5, max_failures=2)
        assert m.threshold == expected.threshold_popularity and m.params == table.params[m.model]


def test_the_vectorised_walk_matches_the_step_by_step_walk():
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        pop = rng.integers(1, 20, size=n).astype(float)
        ok = (rng.random(n) < rng.random()).astype(float)
        target, n_fail = float(rng.choice([0.3, 0.6, 0.9])), int(rng.integers(0, 4))
        order = np.argsort(-pop, kind="stable")
        threshold, failures, stopped = None, 0, False
        for value in np.unique(pop)[::-1]:  # the walk as written in the paper, one step at a time
            acc = ok[pop >= value].mean()
            if acc >= target:
                threshold = value
            else:
                failures += 1
                if failures > n_fail:
                    stopped = True
                    break
        got = threshold_popularity(pop[order], ok[order], target=target, max_failures=n_fail)
        assert got.threshold_popularity == (threshold if threshold is not None else pop.min())
        assert (got.n_failures, got.stopped_early, got.target_met) == (failures, stopped, threshold is not None)


def test_censored_models_stay_out_of_the_slope(tmp_path):
    columns = synthetic_family(SIZES[:3], slope=-0.8, threshold_at_first=3e4, questions=1500, seed=3)
    never = np.zeros(500, dtype=int)  # a model that answers nothing: the target is never met
    columns = {"model": np.concatenate([columns["model"], ["mute"] * 500]),
               "params": np.concatenate([columns["params"], [1e11] * 500]),
               "popularity": np.concatenate([columns["popularity"], np.linspace(10, 1e5, 500)]),
               "correct": np.concatenate([columns["correct"], never])}
    path = tmp_path / "censored.csv"
    write_popularity_csv(columns, path)
    result = family_thresholds(read_popularity_csv(path), n_bootstrap=50)
    mute = result.models[-1]
    assert mute.model == "mute" and mute.censored and not mute.target_met
    assert "mute" in result.slope_note and result.slope is not None
    kept = tmp_path / "kept.csv"
    write_popularity_csv({k: v[:-500] for k, v in columns.items()}, kept)
    assert family_thresholds(read_popularity_csv(kept), n_bootstrap=50).slope == pytest.approx(result.slope, abs=1e-12)


BAD = [
    ("model,params,popularity\nm,1e6,3\n", "missing column(s) correct"),
    ("model,params,popularity,correct\nm,1e6,3,2\n", ":2: correct must be 0 or 1"),
    ("model,params,popularity,correct\nm,1e6,3,1\nm,1e6,-4,1\n", ":3: popularity must be > 0"),
    ("model,params,popularity,correct\nm,1e6,3,1\nm,2e6,4,1\n", ":3: model 'm' has params 2e+06 here"),
    ("model,params,popularity,correct\nm,lots,3,1\n", ":2: params must be a number, got 'lots'"),
    ("model,params,popularity,correct\nm,1e6,nan,1\n", ":2: popularity must be finite"),
    ("model,params,popularity,correct\n", "no data rows"),
    ("", "empty file"),
    ("model,params,popularity,correct\nm,1e6\n", ":2: expected 4 fields"),
]


@pytest.mark.parametrize("text, fragment", BAD)
def test_bad_csvs_are_refused_with_one_line(tmp_path, capsys, text, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as info:
        read_popularity_csv(path)
    assert fragment in str(info.value) and str(path) in str(info.value)
    assert main(["popularity-threshold", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and fragment in err


def test_cli_json_on_the_shipped_synthetic_sample(capsys, tmp_path):
    figure = tmp_path / "fig7b.png"
    assert main(["popularity-threshold", str(SHIPPED), "--json", "--bootstrap", "200", "--figure", str(figure)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"models", "slope", "slope_interval"} <= set(out)
    assert [m["model"] for m in out["models"]][0] == "synthetic-70m" and len(out["models"]) == 7
    assert all({"model", "params", "threshold", "interval"} <= set(m) for m in out["models"])
    low, high = out["slope_interval"]
    assert low <= -0.8 <= high  # the law the sample was drawn from (scripts/make_synthetic_popularity.py)
    assert figure.stat().st_size > 10_000


def test_cli_flags_are_checked(tmp_path, capsys):
    assert main(["popularity-threshold", str(SHIPPED), "--accuracy", "1.5"]) == 2
    assert "--accuracy" in capsys.readouterr().err
    assert main(["popularity-threshold", str(tmp_path / "absent.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_text_output_names_every_model_and_the_slope(capsys):
    assert main(["popularity-threshold", str(SHIPPED), "--bootstrap", "50"]) == 0
    out = capsys.readouterr().out
    assert "synthetic-12b" in out and "Slope of log threshold against log params" in out


def test_the_figure_is_drawn_from_a_table(tmp_path):
    from figures.popularity import popularity_threshold_figure

    fig = popularity_threshold_figure(read_popularity_csv(family_csv(tmp_path, -0.8, questions=800)), n_bootstrap=30)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "slope" in ax.get_legend().get_texts()[0].get_text()


def test_the_shipped_sample_is_what_its_documented_script_writes(tmp_path):
    from conftest import run_script_main

    run_script_main("make_synthetic_popularity", tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_bytes() == SHIPPED.read_bytes()
