"""Fig. 7a: per-group rows of real power-law runs, threshold frequencies of hand-made rows, the figure."""
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from analysis.paper import PAPER_REFERENCE
from analysis.powerlaw import threshold_frequencies, threshold_points
from capacity.fit import fit_power_law_slope
from empirical.results import flatten_row
from empirical.train.loop import train
from figures.empirical_powerlaw import threshold_frequency_vs_size

GROUPS = 4


@pytest.fixture(scope="module")
def rows(tiny, one_thread_module):
    """Final rows of a real power-law run and a real uniform run (a few seconds): the shared tiny run
    (tests/conftest.py) on 40 people in 4 power-law groups, every person evaluated."""
    def run(knowledge="synbio-powerlaw", steps=48):
        return tiny(0.8, knowledge=knowledge, people=40, powerlaw_groups=GROUPS, steps=steps, eval_people=0)

    return train(run(), progress=False)[-1], train(run("synbio", steps=4), progress=False)[-1]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_power_law_rows_carry_every_group_with_frequencies_falling_by_group(rows):
    row, _ = rows
    keys = [str(g) for g in range(GROUPS)]
    assert list(row["accuracy_by_group"]) == keys and list(row["exposure_frequency_by_group"]) == keys
    assert all(0.0 <= a <= 1.0 for a in row["accuracy_by_group"].values())
    freqs = [row["exposure_frequency_by_group"][k] for k in keys]
    assert all(a > b > 0 for a, b in zip(freqs, freqs[1:]))
    # Equal groups, no subsampling: the groups' mean frequency is the population's, exactly.
    assert np.mean(freqs) == pytest.approx(row["exposure_frequency_per_token"], rel=1e-12)
    assert row["people_evaluated"] == 40 and row["items_evaluated"] == 40 * 5


def test_uniform_rows_have_no_groups(rows):
    _, uniform = rows
    assert uniform["accuracy_by_group"] is None and uniform["exposure_frequency_by_group"] is None


def powerlaw_run(run_id, params, accuracies, frequencies, *, model=None, step=100, **extra):
    """One hand-made final row of a power-law run (group g has accuracies[g], frequencies[g])."""
    row = dict(run_id=run_id, model=model or f"m{params:g}", params_nonembedding=params, knowledge="synbio-powerlaw",
               mixing_ratio=0.5, people=40, rho=1.0, tau=0.0, seed=0, role="main", step=step, tokens=step * 10,
               accuracy=float(np.mean(accuracies)),
               accuracy_by_group={str(g): a for g, a in enumerate(accuracies)},
               exposure_frequency_by_group={str(g): f for g, f in enumerate(frequencies)})
    return {**row, **extra}


FREQS = [8e-4, 4e-4, 2e-4, 1e-4]
HAND_MADE = [
    powerlaw_run("a", 1000, [0.0, 0.0, 0.0, 0.0], FREQS, step=10),  # an earlier point, superseded
    powerlaw_run("a", 1000, [1.0, 0.9, 0.5, 0.9], FREQS),  # first below 0.8 by frequency: group 2
    powerlaw_run("b", 2000, [1.0, 0.9, 0.85, 0.8], FREQS),  # every group learned
    powerlaw_run("c", 3000, [0.7, 0.1, 0.0, 0.0], FREQS),  # none learned
    powerlaw_run("d", 4000, [0.5, 0.9, 0.9, 0.1], [4e-4, 8e-4, 2e-4, 1e-4]),  # group 1 measured most frequent
    dict(powerlaw_run("u", 5000, [1.0], [1e-4]), knowledge="synbio", accuracy_by_group=None,
         exposure_frequency_by_group=None),
]


@pytest.mark.parametrize("flatten", [False, True], ids=["dict columns", "load_results columns"])
def test_threshold_frequencies_of_hand_made_rows(flatten):
    df = pd.DataFrame([flatten_row(r) for r in HAND_MADE] if flatten else HAND_MADE)
    table = threshold_frequencies(df, target=0.8).set_index("run_id")
    assert list(table.index) == ["a", "b", "c", "d"]
    assert table.loc["a", "threshold_frequency"] == 2e-4 and table.loc["a", "threshold_group"] == 2
    assert table.loc["b", "all_learned"] and math.isnan(table.loc["b", "threshold_frequency"])
    assert table.loc["c", "none_learned"] and table.loc["c", "threshold_frequency"] == 8e-4
    assert table.loc["d", "threshold_frequency"] == 4e-4 and table.loc["d", "threshold_group"] == 0
    assert not table.loc[["a", "d"], ["all_learned", "none_learned"]].to_numpy().any()
    assert (table["groups"] == 4).all() and table.loc["a", "params_nonembedding"] == 1000
    assert list(threshold_points(table)["model"]) == ["m1000", "m4000"]


def test_threshold_frequencies_refuses_a_table_without_groups_and_a_bad_target():
    plain = pd.DataFrame([{k: v for k, v in HAND_MADE[1].items() if "by_group" not in k}])
    with pytest.raises(ValueError, match="accuracy_by_group"):
        threshold_frequencies(plain)
    with pytest.raises(ValueError, match=r"target accuracy must be in \(0, 1\], got 1.5"):
        threshold_frequencies(pd.DataFrame(HAND_MADE), target=1.5)


SIZES = [1e4, 3e4, 1e5, 3e5]
LADDER = [1e-2 * 0.5**g for g in range(12)]


def ladder_run(i, params, first_missed, seed=0):
    accuracies = [1.0] * first_missed + [0.2] * (len(LADDER) - first_missed)
    return powerlaw_run(f"r{i}s{seed}", params, accuracies, LADDER, seed=seed)


def test_figure_draws_one_point_per_model_and_the_least_squares_slope():
    # Bigger models learn further down the ladder, not exactly as a power law (the fit has residuals);
    # the smallest model has two seeds whose thresholds differ by one group.
    firsts = [2, 5, 6, 9]
    df = pd.DataFrame([ladder_run(i, p, k) for i, (p, k) in enumerate(zip(SIZES, firsts))]
                      + [ladder_run(0, SIZES[0], 3, seed=1), ladder_run(9, 1e6, len(LADDER))])  # + all learned
    fig = threshold_frequency_vs_size(df, predicted_slope=-1.3)
    by = {gid: [a for a in fig.axes[0].get_children() if a.get_gid() == gid]
          for gid in ("runs", "fit", "predicted", "all_learned", "paper", "seed_range")}
    (points,) = by["runs"]
    x, y = points.get_xdata(), points.get_ydata()
    expected_y = [math.sqrt(LADDER[2] * LADDER[3]), *(LADDER[k] for k in firsts[1:])]
    assert list(x) == SIZES and y == pytest.approx(expected_y, rel=1e-12)
    (fit_line,) = by["fit"]
    fx, fy = fit_line.get_xdata(), fit_line.get_ydata()
    drawn_slope = math.log(fy[-1] / fy[0]) / math.log(fx[-1] / fx[0])
    assert drawn_slope == pytest.approx(fit_power_law_slope(x, y).slope, rel=1e-9)
    (theory,) = by["predicted"]
    tx, ty = theory.get_xdata(), theory.get_ydata()
    assert math.log(ty[-1] / ty[0]) / math.log(tx[-1] / tx[0]) == pytest.approx(-1.3)
    # Anchored through the points' geometric mean: at the mean log size it passes the mean log frequency.
    at_mean = np.interp(np.log(x).mean(), np.log(tx), np.log(ty))
    assert at_mean == pytest.approx(np.log(y).mean(), abs=1e-9)
    assert len(by["all_learned"]) == 1 and list(by["all_learned"][0].get_xdata()) == [1e6]
    assert len(by["seed_range"]) == 1
    ref = PAPER_REFERENCE["threshold_frequency_slope"]
    (paper,) = by["paper"]
    assert str(ref["measured"]) in paper.get_text() and str(ref["predicted"]) in paper.get_text()


def test_figure_refuses_a_table_without_power_law_runs():
    with pytest.raises(ValueError, match="no final 'main' power-law runs"):
        threshold_frequency_vs_size(pd.DataFrame([HAND_MADE[-1]]), predicted_slope=None)
