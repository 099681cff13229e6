"""Empirical figures: on rows from real tiny training runs, and on hand-made tables whose answers are known."""
import functools
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from analysis.paper import PAPER_REFERENCE
from analysis.tables import (
    final_rows,
    fit_tokens_to_target,
    fit_web_loss,
    match_exposures,
    seed_summary,
    tokens_to_target,
)
from capacity import KnowledgeSet, facts_capacity
from capacity.curves import PowerLawCurve
from empirical.train.loop import train_group
from figures.empirical import (
    accuracy_vs_mixing_ratio,
    accuracy_vs_model_size,
    accuracy_vs_tokens,
    save_figure,
    steps_to_target,
)
from figures.empirical_theory import (
    phase_diagram_with_runs,
    stored_bits_vs_allocation,
    subsampling_and_ckm,
    web_loss_scaling,
)

LAW = PowerLawCurve(1.0, 50.0, 0.3)


@pytest.fixture(scope="module")
def real(tiny, one_thread_module):
    """Rows of 11 real runs (about 10 s): an r-sweep with two seeds at r = 0.6, subsampling and CKM at r = 0.3,
    an exposure-matched control (r = 0.3, twice the tokens of r = 0.6), a horizon run, three model sizes."""
    run = functools.partial(tiny, steps=8, warmup_steps=2, points=3)  # the shared tiny run (tests/conftest.py)
    groups = [
        ([run(0.15), run(0.3), run(0.6), run(0.6, seed=1), run(0.3, subsample_rho=0.5), run(0.3, ckm_tau=0.2)], "main"),
        ([run(0.3, steps=16)], "exposure_matched"),
        ([run(0.15, steps=16)], "horizon"),
        ([run(0.3, model="tiny-100k"), run(0.6, model="tiny-100k")], "main"),
        ([run(0.3, model="small-200k")], "main"),
    ]
    rows = [dict(row, role=role) for configs, role in groups
            for run_rows in train_group(configs, progress=False) for row in run_rows]
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def by_gid(fig, gid):
    return [a for ax in fig.axes for a in ax.get_children() if a.get_gid() == gid]


def run(run_id, r, tokens, accuracy, *, model="m", seed=0, role="main", tokens_per_step=10, exposures=None, **extra):
    """Rows of one hand-made run: one per evaluation point."""
    return [dict(run_id=run_id, model=model, params_nonembedding=1000, mixing_ratio=r, people=10, rho=1.0, tau=0.0,
                 seed=seed, role=role, step=t // tokens_per_step, tokens=t, accuracy=a,
                 exposures_per_person=exposures, **extra) for t, a in zip(tokens, accuracy)]


# --------------------------------------------------------------------------- tables, exact answers


def test_tokens_to_target_interpolates_on_log_tokens():
    rows = (run("a", 0.5, [100, 1000, 10000], [0.1, 0.3, 0.7])
            + run("b", 0.5, [100, 1000], [0.6, 0.9])
            + run("c", 0.2, [100, 1000], [0.0, 0.1])
            + run("d", 0.5, [100, 1000, 10000, 100000], [0.1, 0.6, 0.2, 0.9])
            + run("e", 0.5, [100, 1000], [0.2, 0.5]))
    table = tokens_to_target(pd.DataFrame(rows), 0.5).set_index("run_id")
    assert table.loc["a", "tokens_to_target"] == pytest.approx(1000 * math.sqrt(10))  # halfway in log
    assert table.loc["a", "steps_to_target"] == pytest.approx(100 * math.sqrt(10))
    assert table.loc["b", "tokens_to_target"] == 100 and table.loc["b", "upper_bound"]
    assert not table.loc["c", "reached"] and math.isnan(table.loc["c", "tokens_to_target"])
    assert table.loc["c", "final_tokens"] == 1000
    assert table.loc["d", "tokens_to_target"] == pytest.approx(100 * 10**0.8)  # the first crossing
    assert table.loc["e", "tokens_to_target"] == pytest.approx(1000)


def test_final_rows_take_the_last_step_and_the_later_of_repeated_rows():
    rows = run("a", 0.5, [300, 100, 200], [0.3, 0.1, 0.2]) + run("b", 0.5, [100], [0.4])
    rows.append(dict(rows[0], accuracy=0.35))  # the step-30 row written again after a resume
    final = final_rows(pd.DataFrame(rows)).set_index("run_id")
    assert final.loc["a", "step"] == 30 and final.loc["a", "accuracy"] == 0.35
    assert final.loc["b", "accuracy"] == 0.4 and len(final) == 2


def test_seed_summary_averages_seeds_of_one_setting_only():
    rows = run("a", 0.5, [100], [0.2], seed=0) + run("b", 0.5, [100], [0.6], seed=1) + run("c", 0.4, [100], [0.1])
    summary = seed_summary(final_rows(pd.DataFrame(rows))).set_index("mixing_ratio")
    assert summary.loc[0.5, ["accuracy_mean", "accuracy_min", "accuracy_max", "seeds"]].tolist() == \
        pytest.approx([0.4, 0.2, 0.6, 2])
    assert summary.loc[0.4, "seeds"] == 1


def test_exposure_matching_prefers_the_same_seed_and_leaves_unmatched_controls_empty():
    rows = (run("m0", 0.4, [1000], [0.5], seed=0, exposures=40.0)
            + run("m1", 0.4, [1000], [0.6], seed=1, exposures=41.0)
            + run("c1", 0.2, [2000], [0.1], seed=1, role="exposure_matched", exposures=40.2)
            + run("c2", 0.1, [2000], [0.0], seed=0, role="exposure_matched", exposures=60.0))
    pairs = match_exposures(pd.DataFrame(rows), tolerance=0.05).set_index("run_id")
    assert pairs.loc["c1", "matched_run_id"] == "m1" and pairs.loc["c1", "token_ratio"] == 2.0
    assert pairs.loc["c1", "matched_accuracy"] == 0.6
    assert pd.isna(pairs.loc["c2", "matched_run_id"])


def exponential_runs(held_factor=3.0):
    """Runs whose crossing of 0.5 lies exactly at T = 1000 exp(2 / r) (log-midpoint of T/2 and 2T)."""
    rows = []
    for r in (0.3, 0.4, 0.5, 0.6):
        t = 1000 * math.exp(2 / r)
        rows += run(f"r{r}", r, [t / 2, 2 * t], [0.4, 0.6], tokens_per_step=1)
    t = held_factor * 1000 * math.exp(2 / 0.25)
    rows += run("r0.25", 0.25, [t / 2, 2 * t], [0.4, 0.6], tokens_per_step=1)
    rows += run("r0.2", 0.2, [1e5, 1e6], [0.0, 0.0], tokens_per_step=1)
    return pd.DataFrame(rows)


def test_tokens_to_target_fit_recovers_the_exponential_and_the_held_out_ratio():
    fit = fit_tokens_to_target(tokens_to_target(exponential_runs(), 0.5), min_ratio=0.3)
    assert fit.exponential.B == pytest.approx(2.0) and fit.exponential.A == pytest.approx(1000.0)
    (held,) = fit.exponential.held_out
    assert held.mixing_ratio == 0.25 and held.measured_over_predicted == pytest.approx(3.0)


def test_steps_to_target_draws_both_fits_and_annotates_extrapolation():
    fig = steps_to_target(exponential_runs(), target=0.5, min_ratio=0.3)
    (exp_line,) = by_gid(fig, "fit_exponential")
    x = exp_line.get_xdata()
    assert np.allclose(exp_line.get_ydata(), 1000 * np.exp(2 * x))
    assert len(by_gid(fig, "fit_power_law")) == 1
    assert len(by_gid(fig, "measured")[0].get_xdata()) == 5
    assert list(by_gid(fig, "lower_bound")[0].get_xdata()) == [5.0]  # r = 0.2, never reached
    text = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "r = 0.25: measured/predicted 3.00x (exp)" in text
    assert f"> {1e6 / (1000 * math.exp(10)):.2f}x (exp)" in text and "paper" in text


def test_web_loss_fit_recovers_the_law_and_its_band_covers_it():
    sizes = [1e4, 3e4, 1e5, 3e5, 1e6]
    rows = [dict(run_id=f"s{m}", step=1, tokens=1, params_nonembedding=m, mixing_ratio=0.3, rho=1.0, tau=0.0,
                 web_loss=2.0 + 30.0 * m**-0.3, accuracy=0.0) for m in sizes]
    fit = fit_web_loss(pd.DataFrame(rows), n_bootstrap=0, band_resamples=6)
    assert fit.law.alpha == pytest.approx(0.3, abs=1e-3) and fit.law.C == pytest.approx(2.0, rel=1e-2)
    truth = 2.0 + 30.0 * np.asarray(fit.band_sizes) ** -0.3
    assert fit.band_resamples_used > 0
    assert np.all(np.asarray(fit.band_low) <= truth * 1.001) and np.all(np.asarray(fit.band_high) >= truth * 0.999)
    fig = web_loss_scaling(pd.DataFrame(rows), fit)
    (line,) = by_gid(fig, "fit")
    assert np.allclose(line.get_ydata(), fit.law.predict(line.get_xdata()))
    assert len(by_gid(fig, "band")) == 1


def test_missing_columns_and_missing_runs_are_named():
    with pytest.raises(ValueError, match=r"needs result columns \['run_id'"):
        accuracy_vs_model_size(pd.DataFrame())
    only_subsampled = pd.DataFrame(run("a", 0.5, [100], [0.2], exposures=1.0))
    only_subsampled["rho"] = 0.5
    with pytest.raises(ValueError, match="no 'main' runs without subsampling"):
        accuracy_vs_mixing_ratio(only_subsampled)
    with pytest.raises(ValueError, match="no runs of model 'x'"):
        accuracy_vs_tokens(pd.DataFrame(run("a", 0.5, [100], [0.2])), model="x")


def test_paper_reference_cites_paper_md_and_table1_is_drawn_as_printed():
    assert all(entry["section"].startswith(("arXiv 2505.18091", "docs/THEORY.md")) for entry in PAPER_REFERENCE.values())
    assert PAPER_REFERENCE["threshold_frequency_slope"]["measured"] == -1.152
    fig = accuracy_vs_mixing_ratio(pd.DataFrame(run("a", 0.5, [100], [0.2], exposures=1.0)))
    (paper,) = by_gid(fig, "paper")
    assert list(paper.get_ydata()) == [0.004, 0.004, 0.004, 0.008, 0.073, 0.275, 0.404, 0.581]
    assert "paper" in paper.get_label()


# --------------------------------------------------------------------------- figures on real rows


def test_real_rows_final_selection_matches_each_budget(real):
    final = final_rows(real)
    assert len(final) == 11 and final["run_id"].is_unique
    budgets = {rid: c["tokens"] for rid, c in zip(real["run_id"], real["config"])}
    assert all(final["tokens"] == final["run_id"].map(budgets))


def test_accuracy_vs_model_size_has_a_line_per_ratio_and_the_critical_sizes(real):
    fig = accuracy_vs_model_size(real, critical_sizes={0.3: 8e4, 0.6: 6e4})
    ax = fig.axes[0]
    data_lines = [line for line in ax.lines if line.get_gid() is None]
    assert sorted(line.get_label() for line in data_lines) == ["r = 0.15", "r = 0.3", "r = 0.6"]
    r06 = next(line for line in data_lines if line.get_label() == "r = 0.6")
    final = final_rows(real)
    main06 = final[(final.mixing_ratio == 0.6) & (final.model == "tiny-50k")]
    assert len(main06) == 2 and r06.get_ydata()[0] == pytest.approx(main06.accuracy.mean())
    assert list(r06.get_xdata()) == sorted(final[final.mixing_ratio == 0.6].params_nonembedding.unique())
    assert sorted(line.get_xdata()[0] for line in by_gid(fig, "critical_size")) == [6e4, 8e4]


def test_accuracy_vs_mixing_ratio_joins_the_control_to_its_exposure_match(real):
    fig = accuracy_vs_mixing_ratio(real, critical_ratios={"tiny-50k": 0.4}, tolerance=0.05)
    (control,) = by_gid(fig, "control")
    assert list(control.get_xdata()) == [0.3]
    (link,) = by_gid(fig, "control_link")
    final = final_rows(real).set_index("run_id")
    pair = match_exposures(real).iloc[0]
    assert final.loc[pair.matched_run_id, "seed"] == 0  # seed 0 at r = 0.6 has exactly the control's exposures
    assert list(link.get_xdata()) == [0.3, 0.6] and link.get_ydata()[1] == final.loc[pair.matched_run_id, "accuracy"]
    assert [line.get_xdata()[0] for line in by_gid(fig, "critical_ratio")] == [0.4]
    assert any("2x tokens" in t.get_text() for t in fig.axes[0].texts)


def test_accuracy_vs_tokens_draws_each_setting_along_its_evaluations(real):
    fig = accuracy_vs_tokens(real)
    assert [ax.get_title() for ax in fig.axes] == [f"Accuracy vs tokens: {m}" for m in ("tiny-50k", "tiny-100k", "small-200k")]
    lines = fig.axes[0].lines
    # r = 0.15, 0.3, 0.6 (two seeds, one line), the control and the horizon run; rho/tau runs excluded
    assert len(lines) == 5
    horizon = next(line for line in lines if "horizon" in line.get_label())
    assert horizon.get_linestyle() == "--" and list(horizon.get_xdata()) == [4096, 8192, 16384]


def test_accuracy_vs_exposures_puts_each_run_at_its_exposures_per_person(real):
    fig = accuracy_vs_tokens(real, model="tiny-50k", x="exposures_per_person")
    assert fig.axes[0].get_xlabel() == "exposures per person"
    control = next(line for line in fig.axes[0].lines if "exposure_matched" in line.get_label())
    run = real[real["role"] == "exposure_matched"].sort_values("step")
    assert list(control.get_xdata()) == pytest.approx(run["exposures_per_person"].tolist())
    with pytest.raises(ValueError, match="x must be one of"):
        accuracy_vs_tokens(real, x="steps")


def test_steps_to_target_on_real_rows_marks_unreached_runs_as_lower_bounds(real):
    fig = steps_to_target(real, target=0.9, model="tiny-50k")
    table = tokens_to_target(real.query("model == 'tiny-50k' and rho == 1 and tau == 0"), 0.9)
    assert len(table) == 6  # four main runs, the control and the horizon run
    assert len(by_gid(fig, "lower_bound")[0].get_xdata()) == (~table.reached).sum()
    assert len(by_gid(fig, "measured")[0].get_xdata()) == table.reached.sum()
    if table[table.reached].mixing_ratio.nunique() < 3:  # a few steps of training reach nothing
        assert any("no fit" in t.get_text() for t in fig.axes[0].texts) and not by_gid(fig, "fit_exponential")


def test_web_loss_scaling_on_real_rows_plots_every_main_run(real):
    fit = fit_web_loss(real, n_bootstrap=0, band_resamples=2)
    fig = web_loss_scaling(real, fit)
    points = sum(len(line.get_xdata()) for line in by_gid(fig, "runs"))
    assert points == 7  # main runs with rho = 1, tau = 0


def test_phase_diagram_with_runs_colours_points_on_the_heat_maps_scale(real):
    knowledge = KnowledgeSet.from_token_statistics(20, 100, 46.5)
    fig = phase_diagram_with_runs(real, LAW, knowledge, np.linspace(0.05, 0.95, 20), np.geomspace(1e4, 1e6, 20), 2.0)
    ax = fig.axes[0]
    (points,) = by_gid(fig, "runs")
    summary = seed_summary(final_rows(real).query("role == 'main' and rho == 1 and tau == 0"))
    assert len(points.get_offsets()) == len(summary) == 6
    assert points.norm is ax.collections[0].norm and points.get_cmap() is ax.collections[0].get_cmap()
    assert sorted(map(tuple, np.asarray(points.get_offsets()))) == \
        sorted(zip(summary.params_nonembedding.astype(float), summary.mixing_ratio))


def test_stored_bits_points_sit_at_predicted_and_measured(real):
    bits = 20 * 46.5

    def predicted(r, params):
        return facts_capacity(LAW, 1 / (20 * 100), bits, r, 2.0 * params)

    fig = stored_bits_vs_allocation(real, predicted)
    (points,) = by_gid(fig, "runs")
    final = final_rows(real).query("rho == 1 and tau == 0")
    expected = predicted(final.mixing_ratio.to_numpy(), final.params_nonembedding.to_numpy(float))
    assert np.allclose(np.asarray(points.get_offsets()), np.column_stack([expected, final.bits_stored]))
    with pytest.raises(ValueError, match="one value per final run"):
        stored_bits_vs_allocation(real, [1.0, 2.0])


def test_subsampling_and_ckm_marks_best_rho_and_the_papers_numbers(real):
    fig = subsampling_and_ckm(real, best_rho=0.4)
    (best,) = by_gid(fig, "best_rho")
    assert best.get_xdata()[0] == 0.4 and fig.axes[1].get_lines()[-2] is best
    ckm = [line for line in by_gid(fig, "ckm") if line.axes is fig.axes[0]]
    assert sum(len(line.get_xdata()) for line in ckm) == 1  # the tau = 0.2 run
    sub = next(line for line in by_gid(fig, "subsampling") if line.axes is fig.axes[1]
               and line.get_label().startswith("tiny-50k, r = 0.3"))
    assert list(sub.get_xdata()) == [0.5, 1.0]
    paper = [line for line in by_gid(fig, "paper") if line.axes is fig.axes[1]]
    assert list(paper[0].get_xdata()) == list(PAPER_REFERENCE["subsampling_410m"]["rho"])
    if fig.axes[2].texts:  # no tau = 0 baseline learned anything in a few steps: the panel says so
        assert fig.axes[2].texts[0].get_text().startswith("no runs")


def test_save_figure_writes_png_and_pdf(tmp_path, real):
    paths = save_figure(accuracy_vs_model_size(real), tmp_path / "figs", "fig1")
    assert [p.rsplit(".", 1)[1] for p in paths] == ["png", "pdf"]
    assert all((tmp_path / "figs" / f"fig1.{ext}").stat().st_size > 1000 for ext in ("png", "pdf"))
    with pytest.raises(ValueError, match="plain file stem"):
        save_figure(accuracy_vs_model_size(real), tmp_path, "a/b")
