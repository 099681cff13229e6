"""Figures of the measurements with the theory on the same axes (arXiv 2505.18091, Figs. 1-4).

Each figure is a function from the results table (docs/RESULTS.md; its tables come from
``analysis.tables``) and the theory's numbers to a matplotlib Figure; nothing here trains or fits
beyond what a figure draws. Figs. 7b-8, the phase diagram and the stored bits live in
``figures.empirical_theory``, Fig. 7a in ``figures.empirical_powerlaw``. Artists a reader (or a test)
may look for carry a gid: "critical_size", "critical_ratio", "control", "paper", "fit_exponential", ...
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.measure import evaluation_phase
from analysis.paper import PAPER_REFERENCE
from analysis.tables import (
    baseline,
    final_rows,
    fit_tokens_to_target,
    match_exposures,
    require_columns,
    run_settings,
    seed_summary,
    tokens_to_target,
    tokens_to_target_by_ratio,
)
from figures.style import PAPER_COLOR, THEORY_STYLE, log_axis, new_figure, save, series_colors

ROLE_LINESTYLE = {"main": "-", "horizon": "--", "exposure_matched": ":"}


def save_figure(fig, out_dir, name: str) -> list[str]:
    """Write ``out_dir/name.png`` and ``.pdf`` (creating ``out_dir``); return the paths."""
    if not name or "/" in name or "\\" in name:
        raise ValueError(f"figure name must be a plain file stem, got {name!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return save(fig, out / name)


def _final_main(df: pd.DataFrame, what: str, columns) -> pd.DataFrame:
    require_columns(df, ("run_id", "step", "tokens", "accuracy", *columns), what)
    final = baseline(final_rows(df), roles=("main",))
    if final.empty:
        raise ValueError(f"{what}: no 'main' runs without subsampling or CKM (rho = 1, tau = 0) among "
                         f"the {df['run_id'].nunique()} runs given")
    return final


def _seed_line(ax, rows: pd.DataFrame, x: str, color, label: str) -> None:
    """Mean over seeds, with the min-max band where a setting has more than one seed."""
    rows = rows.sort_values(x)
    ax.plot(rows[x], rows["accuracy_mean"], marker="o", ms=4, color=color, label=label)
    if (rows["seeds"] > 1).any():
        ax.fill_between(rows[x], rows["accuracy_min"], rows["accuracy_max"], color=color, alpha=0.2, lw=0)


def _mark(ax, values: dict, colors: dict, gid: str, label: str) -> None:
    for i, (key, x) in enumerate(sorted(values.items(), key=lambda kv: kv[1])):
        color = next((c for k, c in colors.items() if k == key or (isinstance(k, float) and np.isclose(k, key))),
                     THEORY_STYLE["color"])
        line = ax.axvline(x, **{**THEORY_STYLE, "color": color}, label=label if i == 0 else "_nolegend_")
        line.set_gid(gid)


def accuracy_vs_model_size(df: pd.DataFrame, critical_sizes: dict[float, float] | None = None):
    """Final accuracy against non-embedding parameters, one line per mixing ratio (Fig. 1).

    Mean over seeds with a min-max band; ``critical_sizes`` maps r to the theory's critical size
    (non-embedding parameters), drawn as dashed vertical lines in that r's colour.
    """
    final = _final_main(df, "accuracy_vs_model_size", ("params_nonembedding", "mixing_ratio", "people"))
    summary = seed_summary(final)
    ratios = sorted(summary["mixing_ratio"].unique())
    colors = dict(zip(ratios, series_colors(len(ratios))))
    fig, ax = new_figure(6.4, 3.4)
    several_n = summary["people"].nunique() > 1
    for (r, n), rows in summary.groupby(["mixing_ratio", "people"], sort=True):
        _seed_line(ax, rows, "params_nonembedding", colors[r], f"r = {r:g}" + (f", N = {n}" if several_n else ""))
    if critical_sizes:
        _mark(ax, critical_sizes, colors, "critical_size", "theory: critical size")
    log_axis(ax, "x")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("model size (non-embedding parameters)")
    ax.set_ylabel("final accuracy")
    ax.set_title("Accuracy vs model size")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def accuracy_vs_mixing_ratio(df: pd.DataFrame, critical_ratios: dict[str, float] | None = None,
                             tolerance: float = 0.05, show_paper: bool = True):
    """Final accuracy against r, one line per model (Fig. 2), with the exposure-matched controls.

    Each control (role "exposure_matched": a lower r trained longer) is a diamond at its own r,
    joined by a dotted line to the main run with the same exposures per person (within
    ``tolerance``) and annotated with its token multiple. ``critical_ratios`` maps model to the
    predicted critical r (dashed vertical lines). The paper's Table 1 (70M) is drawn in grey.
    """
    final = _final_main(df, "accuracy_vs_mixing_ratio", ("model", "params_nonembedding", "mixing_ratio", "people"))
    summary = seed_summary(final)
    models = summary.sort_values("params_nonembedding")["model"].unique().tolist()
    colors = dict(zip(models, series_colors(len(models))))
    fig, ax = new_figure(7.4, 3.6)
    several_n = summary["people"].nunique() > 1
    for (_, n, model), rows in summary.groupby(["params_nonembedding", "people", "model"], sort=True):
        _seed_line(ax, rows, "mixing_ratio", colors[model], model + (f", N = {n}" if several_n else ""))
    controls = match_exposures(baseline(df, roles=("main", "exposure_matched")), tolerance) \
        if "exposures_per_person" in df.columns else pd.DataFrame()
    for i, c in controls.reset_index(drop=True).iterrows():
        color = colors.get(c["model"], "black")
        (marker,) = ax.plot([c["mixing_ratio"]], [c["accuracy"]], marker="D", ms=6, mfc="white", mec=color, ls="none",
                            label="exposure-matched control" if i == 0 else "_nolegend_")
        marker.set_gid("control")
        if pd.notna(c["matched_run_id"]):
            (link,) = ax.plot([c["mixing_ratio"], c["matched_mixing_ratio"]], [c["accuracy"], c["matched_accuracy"]],
                              color=color, ls=":", lw=1)
            link.set_gid("control_link")
            ax.annotate(f"{c['token_ratio']:.3g}x tokens", (c["mixing_ratio"], c["accuracy"]),
                        textcoords="offset points", xytext=(4, 6), fontsize=7, color=color)
    if critical_ratios:
        _mark(ax, critical_ratios, colors, "critical_ratio", "theory: critical ratio")
    if show_paper:
        ref = PAPER_REFERENCE["table1_70m"]
        (paper,) = ax.plot(ref["mixing_ratio"], ref["accuracy"], color=PAPER_COLOR, marker="x", ms=4, lw=1,
                           label=ref["label"])
        paper.set_gid("paper")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("mixing ratio r")
    ax.set_ylabel("final accuracy")
    ax.set_title("Accuracy vs mixing ratio")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


X_AXES = {"tokens": ("training tokens", "tokens"), "exposures_per_person": ("exposures per person", "exposures")}


def accuracy_vs_tokens(df: pd.DataFrame, model: str | None = None, x: str = "tokens"):
    """Accuracy along each run against training tokens (log x), one line per (r, role), seeds
    averaged at each evaluation (Fig. 3). Horizon runs dashed, exposure-matched dotted; one panel
    per model unless ``model`` picks one.

    ``x="exposures_per_person"`` puts every run on the exposures axis instead: if accuracy depended on
    exposure counts alone, the lines of all ratios would fall on one curve; the paper's capacity
    effect separates them, lower ratios learning less at the same exposures."""
    if x not in X_AXES:
        raise ValueError(f"x must be one of {sorted(X_AXES)}, got {x!r}")
    require_columns(df, ("run_id", "step", x, "accuracy", "model", "mixing_ratio", "params_nonembedding"),
                    "accuracy_vs_tokens")
    rows = baseline(df)
    models = rows.sort_values("params_nonembedding")["model"].unique().tolist()
    if model is not None:
        if model not in models:
            raise ValueError(f"accuracy_vs_tokens: no runs of model {model!r}; models with runs: {models}")
        models = [model]
    if not models:
        raise ValueError("accuracy_vs_tokens: no runs without subsampling or CKM (rho = 1, tau = 0) in the table")
    ratios = sorted(rows["mixing_ratio"].unique())
    colors = dict(zip(ratios, series_colors(len(ratios))))
    fig, axes = new_figure(4.4, 3.4, ncols=len(models))
    for ax, name in zip(np.atleast_1d(axes), models):
        mine = rows[rows["model"] == name].copy()
        mine["setting"] = mine["run_id"].map(run_settings(final_rows(mine)))
        settings = sorted(mine.groupby("setting", sort=False),
                          key=lambda item: (item[1]["mixing_ratio"].iloc[0], item[1]["tokens"].max()))
        for _, run in settings:  # legend in order of r, then budget
            first = run.iloc[0]
            curve = run.groupby("step", sort=True)[[x, "accuracy"]].mean().set_index(x)["accuracy"]
            role = first["role"]
            ax.plot(curve.index, curve.to_numpy(), color=colors[first["mixing_ratio"]], ls=ROLE_LINESTYLE.get(role, "-"),
                    marker="o", ms=3, label=f"r = {first['mixing_ratio']:g}" + ("" if role == "main" else f" ({role})"))
        log_axis(ax, "x")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(X_AXES[x][0])
        ax.set_ylabel("accuracy")
        ax.set_title(f"Accuracy vs {X_AXES[x][1]}: {name}")
        ax.legend(fontsize=7)
    return fig


def accuracy_vs_exposures(df: pd.DataFrame):
    """Accuracy against exposures per person, one panel per model, colour by r: each run's final row
    filled (comparable across runs and budgets) and its stable-phase rows open and faint, labelled as
    such: before the WSD cooldown a run has not consolidated what it saw, so those rows sit below
    where a run that ended there would be."""
    require_columns(df, ("run_id", "step", "exposures_per_person", "accuracy", "model", "mixing_ratio",
                         "params_nonembedding"), "accuracy_vs_exposures")
    rows = baseline(df).copy()
    if rows.empty:
        raise ValueError("accuracy_vs_exposures: no runs without subsampling or CKM (rho = 1, tau = 0) in the table")
    rows["phase"] = evaluation_phase(rows).to_numpy()
    models = rows.sort_values("params_nonembedding")["model"].unique().tolist()
    ratios = sorted(rows["mixing_ratio"].unique())
    colors = dict(zip(ratios, series_colors(len(ratios))))
    fig, axes = new_figure(4.4, 3.4, ncols=len(models))
    for ax, name in zip(np.atleast_1d(axes), models):
        mine = rows[rows["model"] == name]
        for _, run in mine.groupby("run_id"):
            run = run.sort_values("step")
            color = colors[run["mixing_ratio"].iloc[0]]
            early = run[run["phase"] != "final"]
            ax.plot(early["exposures_per_person"], early["accuracy"], "o", mfc="white", color=color, alpha=0.45, ms=3)
            last = run[run["phase"] == "final"]
            ax.plot(last["exposures_per_person"], last["accuracy"], "o", color=color, ms=6)
        for r in sorted(mine["mixing_ratio"].unique()):
            ax.plot([], [], "o", color=colors[r], label=f"r = {r:g}")
        ax.plot([], [], "o", color="0.3", label="final row (after cooldown)")
        ax.plot([], [], "o", color="0.3", mfc="white", alpha=0.6, label="during training (not comparable)")
        log_axis(ax, "x")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("exposures per person")
        ax.set_ylabel("accuracy")
        ax.set_title(f"Accuracy vs exposures: {name}")
        ax.legend(fontsize=6)
    return fig


def steps_to_target(df: pd.DataFrame, target: float = 0.5, fit=None, *, model: str | None = None,
                    min_ratio: float | None = None):
    """Tokens to reach ``target`` accuracy against 1/r (log y), with the exponential and power-law
    fits of ``capacity.fit.fit_steps_to_target`` and their extrapolation ratios (Figs. 3-4).

    Runs that reached the target are filled circles; runs that never did are open triangles at
    their final tokens (a lower bound on T). ``fit`` is a ``StepsToTargetFits`` in tokens, or None to
    fit here on r >= ``min_ratio`` (see ``fit_tokens_to_target``); with fewer than 3 ratios reached
    the figure says so instead of drawing fits.
    """
    require_columns(df, ("run_id", "step", "tokens", "accuracy", "model", "mixing_ratio"), "steps_to_target")
    rows = baseline(df)
    models = sorted(rows["model"].unique())
    if model is not None:
        rows = rows[rows["model"] == model]
    elif len(models) > 1:
        raise ValueError(f"steps_to_target draws one model; pass model= one of {models}")
    if rows.empty:
        raise ValueError(f"steps_to_target: no runs without subsampling or CKM for model {model!r}; models: {models}")
    table = tokens_to_target(rows, target)
    fig, ax = new_figure(8.4, 3.6)
    hit, miss = table[table["reached"]], table[~table["reached"]]
    (points,) = ax.plot(1.0 / hit["mixing_ratio"], hit["tokens_to_target"], "o", color="C0", label="measured")
    points.set_gid("measured")
    (bounds,) = ax.plot(1.0 / miss["mixing_ratio"], miss["final_tokens"], "^", mfc="white", color="C3",
                        label="not reached (final tokens, a lower bound)")
    bounds.set_gid("lower_bound")
    notes = []
    if fit is None:
        try:
            fit = fit_tokens_to_target(table, min_ratio)
        except ValueError as err:
            notes.append(f"no fit: {err}")
    if fit is not None:
        inv = 1.0 / table["mixing_ratio"].to_numpy(float)
        grid = np.linspace(inv.min(), inv.max(), 200)
        for gid, f, name, ls in (("fit_exponential", fit.exponential, "exponential A exp(B/r)", "-"),
                                 ("fit_power_law", fit.power_law, "power law C r^-D", "--")):
            (line,) = ax.plot(grid, f.predict(1.0 / grid), color="black", ls=ls, lw=1,
                              label=f"{name}, R$^2$ = {f.r_squared:.3f}")
            line.set_gid(gid)
        for h_exp, h_pow in zip(fit.exponential.held_out, fit.power_law.held_out):
            notes.append(f"r = {h_exp.mixing_ratio:g}: measured/predicted {h_exp.measured_over_predicted:.2f}x (exp), "
                         f"{h_pow.measured_over_predicted:.2f}x (power)")
        per_ratio = tokens_to_target_by_ratio(table)
        for _, p in per_ratio[per_ratio["tokens_to_target"].isna()].iterrows():
            r = p["mixing_ratio"]
            notes.append(f"r = {r:g}: not reached, > {p['lower_bound_tokens'] / fit.exponential.predict(r):.2f}x (exp), "
                         f"> {p['lower_bound_tokens'] / fit.power_law.predict(r):.2f}x (power)")
    paper = PAPER_REFERENCE["steps_to_target_fits"]["held_out_lower_bounds"][0.25]
    notes.append(f"paper (70M, App. E.5): r = 0.25 exceeds power law by > {paper['power_law']}x, "
                 f"exponential by > {paper['exponential']}x")
    # Notes and legend beside the axes, wrapped, so that neither hides a point.
    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7)
    ax.text(1.02, 0.0, "\n".join(textwrap.fill(n, 58) for n in notes), transform=ax.transAxes, va="bottom",
            fontsize=6.5)
    legend.set_gid("legend")
    log_axis(ax, "y")
    ax.set_xlabel("1 / r")
    ax.set_ylabel(f"tokens to {target:.0%} accuracy")
    ax.set_title(f"Tokens to target vs 1/r{'' if model is None else f': {model}'}")
    return fig
