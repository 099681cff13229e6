"""Measurements against the theory's fitted constants and predictions: the web-loss law (Fig. 7b), the
phase diagram with measured runs, stored bits against the allocation m1*, and the strategies (Fig. 8).

Functions from the results table (see ``analysis.tables``) and theory objects to a Figure.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.colors import Normalize

from capacity.curves import PowerLawCurve
from capacity.fit import ScalingLawFit
from capacity.units import KnowledgeSet
from analysis.paper import PAPER_REFERENCE
from analysis.tables import WebLossFit, baseline, final_rows, fit_web_loss, require_columns, seed_summary, with_role
from figures.style import PAPER_COLOR, THEORY_STYLE, log_axis, new_figure, series_colors
from figures.theory import phase_diagram_figure


def _no_runs(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no runs: {what}", transform=ax.transAxes, ha="center", va="center", color="0.4")


def web_loss_scaling(df: pd.DataFrame, fit: WebLossFit | ScalingLawFit | None = None):
    """Final web loss (nats) against non-embedding parameters (log x), with the fitted law
    L = C + A M^-alpha and, for a ``WebLossFit``, its bootstrap band (Fig. 7b). Points are the main
    runs without subsampling or CKM, coloured by r; ``fit=None`` fits them with ``fit_web_loss``."""
    require_columns(df, ("run_id", "step", "params_nonembedding", "web_loss", "mixing_ratio"), "web_loss_scaling")
    final = baseline(final_rows(df), roles=("main",))
    final = final[final["web_loss"].notna()]
    if final.empty:
        raise ValueError("web_loss_scaling: no final 'main' runs with a web loss (rho = 1, tau = 0) in the table")
    if fit is None:
        fit = fit_web_loss(df)
    law = fit.law if isinstance(fit, WebLossFit) else fit
    fig, ax = new_figure()
    ratios = sorted(final["mixing_ratio"].unique())
    for color, r in zip(series_colors(len(ratios)), ratios):
        rows = final[final["mixing_ratio"] == r]
        (points,) = ax.plot(rows["params_nonembedding"], rows["web_loss"], "o", color=color, label=f"runs, r = {r:g}")
        points.set_gid("runs")
    sizes = final["params_nonembedding"].to_numpy(float)
    grid = np.geomspace(sizes.min(), sizes.max(), 200)
    interval = "" if law.alpha_interval is None else f" [{law.alpha_interval[0]:.3f}, {law.alpha_interval[1]:.3f}]"
    (line,) = ax.plot(grid, law.predict(grid), color="black", lw=1.2,
                      label=f"fit: {law.C:.3g} + {law.A:.3g} M$^{{-{law.alpha:.3f}}}$, alpha{interval}")
    line.set_gid("fit")
    if isinstance(fit, WebLossFit) and fit.band_resamples_used:
        band = ax.fill_between(fit.band_sizes, fit.band_low, fit.band_high, color="0.5", alpha=0.25, lw=0,
                               label=f"bootstrap {law.confidence:.0%} band ({fit.band_resamples_used} refits)")
        band.set_gid("band")
    ref = PAPER_REFERENCE["fineweb_edu_law"]
    # The paper's law is for FineWeb-Edu and the Pythia tokenizer: a different loss axis, so only quoted.
    ax.text(0.02, 0.03, f"paper (Fig. 7b): {ref['irreducible']} + {ref['amplitude']} (M/1e6)^-{ref['exponent']} nats,"
            f" FineWeb-Edu, 70M-410M", transform=ax.transAxes, fontsize=6.5, color=PAPER_COLOR)
    log_axis(ax, "x")  # the loss spans a few per cent: a linear y reads better than a log one
    ax.set_xlabel("model size (non-embedding parameters)")
    ax.set_ylabel("final web loss (nats/token)")
    ax.set_title("Web-loss scaling law")
    ax.legend(fontsize=7)
    return fig


def phase_diagram_with_runs(df: pd.DataFrame, law: PowerLawCurve, knowledge: KnowledgeSet, mixing_ratios, params,
                            bits_per_parameter: float, params_kind: str = "nonembedding",
                            title: str = "Predicted fraction learned, with measured runs"):
    """``figures.theory.phase_diagram_figure`` with the final main runs (mean over seeds) as points at
    (model size, r), coloured by accuracy on the heat map's own colour scale. ``params_kind`` says
    which parameter count the diagram's axis (and capacity) uses: "nonembedding" or "total"."""
    if params_kind not in ("nonembedding", "total"):
        raise ValueError(f"params_kind must be 'nonembedding' or 'total', got {params_kind!r}")
    size = f"params_{params_kind}"
    require_columns(df, ("run_id", "step", "tokens", "accuracy", "mixing_ratio", size), "phase_diagram_with_runs")
    final = baseline(final_rows(df), roles=("main",))
    if final.empty:
        raise ValueError("phase_diagram_with_runs: no final 'main' runs without subsampling or CKM in the table")
    summary = seed_summary(final)
    fig = phase_diagram_figure(law, knowledge, mixing_ratios, params, bits_per_parameter, title=title)
    ax = fig.axes[0]
    mesh = ax.collections[0]
    points = ax.scatter(summary[size], summary["mixing_ratio"], c=summary["accuracy_mean"], cmap=mesh.get_cmap(),
                        norm=mesh.norm, s=36, edgecolors="cyan", linewidths=1.0, zorder=3, label="measured accuracy")
    points.set_gid("runs")
    x_lo, x_hi = ax.get_xlim()
    ax.set_xlim(min(x_lo, summary[size].min() / 1.2), max(x_hi, summary[size].max() * 1.2))
    y_lo, y_hi = ax.get_ylim()
    ax.set_ylim(min(y_lo, summary["mixing_ratio"].min() - 0.02), max(y_hi, summary["mixing_ratio"].max() + 0.02))
    log_axis(ax, "x")  # the widened range needs its tick labels recomputed, or minor labels collide
    ax.set_xlabel(f"model size ({params_kind.replace('nonembedding', 'non-embedding')} parameters)")
    ax.legend(loc="upper right", fontsize=7)
    return fig


def stored_bits_vs_allocation(df: pd.DataFrame, predicted_bits: Callable | np.ndarray):
    """Measured ``bits_stored`` against the theory's allocation m1*(r, M) to the knowledge, one point
    per final run without subsampling or CKM, coloured by r, with the line y = x.

    ``predicted_bits``: a callable (mixing_ratio array, params_nonembedding array) -> bits, or an
    array with one value per run in the order of ``final_rows`` (sorted by run_id).
    """
    require_columns(df, ("run_id", "step", "mixing_ratio", "params_nonembedding", "bits_stored"),
                    "stored_bits_vs_allocation")
    final = baseline(final_rows(df))
    final = final[final["bits_stored"].notna()]
    if final.empty:
        raise ValueError("stored_bits_vs_allocation: no final runs with bits_stored (rho = 1, tau = 0) in the table")
    if callable(predicted_bits):
        predicted = np.asarray(predicted_bits(final["mixing_ratio"].to_numpy(float),
                                              final["params_nonembedding"].to_numpy(float)), dtype=float)
    else:
        predicted = np.asarray(predicted_bits, dtype=float)
    if predicted.shape != (len(final),):
        raise ValueError(f"predicted_bits must give one value per final run ({len(final)}), got shape {predicted.shape}")
    measured = final["bits_stored"].to_numpy(float)
    fig, ax = new_figure(4.8, 3.8)
    ratios = final["mixing_ratio"].to_numpy(float)
    points = ax.scatter(predicted, measured, c=ratios, cmap="viridis", norm=Normalize(ratios.min(), ratios.max()),
                        s=30, edgecolors="black", linewidths=0.5, zorder=3)
    points.set_gid("runs")
    fig.colorbar(points, ax=ax, label="mixing ratio r")
    top = max(float(np.nanmax(predicted)), float(measured.max()), 1.0) * 1.05
    (diagonal,) = ax.plot([0, top], [0, top], label="measured = predicted", **THEORY_STYLE)
    diagonal.set_gid("identity")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("predicted bits for the knowledge, m1*(r, M)")
    ax.set_ylabel("measured bits stored")
    ax.set_title("Stored knowledge vs the theory's allocation")
    ax.legend(loc="upper left")
    return fig


def _facts(frame: pd.DataFrame, y: str) -> pd.Series:
    # Accuracy is over every person of the population, trained on or not (as the paper reports it).
    return frame["accuracy"] if y == "accuracy" else frame["accuracy"] * frame["people"]


def subsampling_and_ckm(df: pd.DataFrame, best_rho: float | None = None, y: str = "accuracy"):
    """Strategies at low r (Fig. 8), three panels from the final main runs:
    (a) ``y`` against web loss for every rho and tau; (b) ``y`` against rho (tau = 0), with the theory's
    ``best_rho`` and the paper's subsampling accuracies (when y is "accuracy"); (c) facts learned
    relative to tau = 0 against tau (rho = 1), with the paper's CKM multiples.

    ``y``: "accuracy" (over all N people, as the paper reports it: at most rho) or "facts_learned"
    (accuracy x N).
    Runs are grouped by (model, r, N); an empty panel says "no runs".
    """
    if y not in ("accuracy", "facts_learned"):
        raise ValueError(f"y must be 'accuracy' or 'facts_learned', got {y!r}")
    require_columns(df, ("run_id", "step", "model", "mixing_ratio", "people", "rho", "tau",
                         "accuracy", "web_loss"), "subsampling_and_ckm")
    final = with_role(final_rows(df))
    final = final[final["role"] == "main"].assign(value=lambda f: _facts(f, y))
    if final.empty:
        raise ValueError("subsampling_and_ckm: no final 'main' runs in the table")
    label_y = "accuracy" if y == "accuracy" else "facts learned"
    fig, (ax_a, ax_b, ax_c) = new_figure(4.0, 3.4, ncols=3)
    # Only (model, r, N) groups where rho or tau varies: a plain r-sweep has nothing to say here.
    groups = [(key, rows) for key, rows in final.groupby(["model", "mixing_ratio", "people"], sort=True)
              if ((rows["rho"] < 1.0) | (rows["tau"] > 0.0)).any()]
    colors = series_colors(len(groups))
    for color, ((model, r, n), rows) in zip(colors, groups):
        name = f"{model}, r = {r:g}, N = {n}"
        sub, ckm = rows[rows["tau"] == 0], rows[rows["tau"] > 0]
        for part, gid, style in ((sub, "subsampling", dict(marker="o")), (ckm, "ckm", dict(marker="s", mfc="white"))):
            if len(part):
                (points,) = ax_a.plot(part["web_loss"], part["value"], ls="none", color=color, label=f"{name} ({gid})",
                                      **style)
                points.set_gid(gid)
        for _, p in rows.iterrows():
            tag = f"tau={p['tau']:g}" if p["tau"] > 0 else f"rho={p['rho']:g}"
            ax_a.annotate(tag, (p["web_loss"], p["value"]), textcoords="offset points", xytext=(3, 3), fontsize=6)
        line = sub.groupby("rho", sort=True)["value"].mean()
        if len(line):
            (curve,) = ax_b.plot(line.index, line.to_numpy(), "o-", color=color, label=name)
            curve.set_gid("subsampling")
        ckm_line = rows[rows["rho"] == 1.0].groupby("tau", sort=True)["value"].mean()
        if 0.0 in ckm_line.index and ckm_line[0.0] > 0 and len(ckm_line) > 1:
            (ratio,) = ax_c.plot(ckm_line.index, ckm_line.to_numpy() / ckm_line[0.0], "s-", color=color, label=name)
            ratio.set_gid("ckm")
    if not groups:
        _no_runs(ax_a, "no model and ratio with rho < 1 or tau > 0")
    if not ax_b.lines:
        _no_runs(ax_b, "subsampling (tau = 0)")
    if best_rho is not None:
        mark = ax_b.axvline(best_rho, label=f"theory: best rho = {best_rho:.3g}", **THEORY_STYLE)
        mark.set_gid("best_rho")
    if y == "accuracy":
        ref = PAPER_REFERENCE["subsampling_410m"]
        (paper,) = ax_b.plot(ref["rho"], ref["accuracy"], "x-", color=PAPER_COLOR, lw=1, label=ref["label"])
        paper.set_gid("paper")
    if not ax_c.lines:
        _no_runs(ax_c, "CKM with a tau = 0 baseline that learned")
    ref = PAPER_REFERENCE["ckm_wikibio"]
    (paper_ckm,) = ax_c.plot(ref["tau"], ref["facts_learned_ratio"], "x-", color=PAPER_COLOR, lw=1, label=ref["label"])
    paper_ckm.set_gid("paper")
    ax_c.set_yscale("log")
    for ax, x, title in ((ax_a, "final web loss (nats/token)", "(a) knowledge vs web loss"),
                         (ax_b, "subsampling ratio rho", "(b) random subsampling"),
                         (ax_c, "CKM fraction tau", "(c) compact knowledge mixing")):
        ax.set_xlabel(x)
        ax.set_title(title)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    ax_a.set_ylabel(label_y)
    ax_b.set_ylabel(label_y)
    ax_c.set_ylabel("facts learned / facts at tau = 0")
    return fig
