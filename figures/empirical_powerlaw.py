"""The threshold frequency against model size on power-law SynBio (arXiv 2505.18091, Fig. 7a), drawn
from the thresholds of ``analysis.powerlaw``: the theory (section 4) predicts f_thres ~ M^-(alpha + 1)
across model sizes M; the paper measured slope -1.152 against a predicted -1.283.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.paper import PAPER_REFERENCE
from analysis.powerlaw import check_target, threshold_frequencies, threshold_points
from analysis.tables import baseline
from capacity.fit import fit_power_law_slope
from figures.style import PAPER_COLOR, THEORY_STYLE, log_axis, new_figure, series_colors


def threshold_frequency_vs_size(df: pd.DataFrame, predicted_slope: float | None, target: float = 0.8):
    """Threshold frequency against non-embedding parameters, log-log (Fig. 7a).

    From the final main power-law runs without subsampling or CKM: one point per model and ratio
    (``threshold_points``; seed min-max as a bar), the log-log least-squares fit per ratio with its t
    interval (``capacity.fit.fit_power_law_slope``, 3 sizes or more), the theory's slope
    ``predicted_slope`` = -(alpha + 1) (``capacity.threshold_frequency_slope`` of the fitted web-loss
    law) drawn through the geometric mean of the points, censored runs as open triangles, and the
    paper's measured and predicted slopes as text. Artists carry gids: "runs", "seed_range", "fit",
    "predicted", "all_learned", "none_learned", "paper".
    """
    tgt = check_target(target)
    table = baseline(threshold_frequencies(df, tgt), roles=("main",))
    if table.empty:
        raise ValueError("threshold_frequency_vs_size: no final 'main' power-law runs (rho = 1, tau = 0) with "
                         "per-group accuracy and exposure frequency in the table")
    points = threshold_points(table)
    fig, ax = new_figure(5.2, 3.8)
    ratios = sorted(table["mixing_ratio"].unique())
    for color, r in zip(series_colors(len(ratios)), ratios):
        pts = points[points["mixing_ratio"] == r]
        x, y = pts["params_nonembedding"].to_numpy(float), pts["threshold_frequency"].to_numpy(float)
        if len(pts):
            (runs,) = ax.plot(x, y, "o", color=color, label=f"measured, r = {r:g}")
            runs.set_gid("runs")
            spread = pts[pts["runs"] > 1]
            if len(spread):
                bars = ax.vlines(spread["params_nonembedding"], spread["threshold_min"], spread["threshold_max"],
                                 color=color, lw=1.5)
                bars.set_gid("seed_range")
        if len(pts) >= 3 and np.unique(x).size >= 2:
            fit = fit_power_law_slope(x, y)
            grid = np.geomspace(x.min(), x.max(), 50)
            lo, hi = fit.slope_interval
            (line,) = ax.plot(grid, fit.predict(grid), color=color, lw=1.2,
                              label=f"fit: slope {fit.slope:.3f} [{lo:.3f}, {hi:.3f}] ({fit.confidence:.0%})")
            line.set_gid("fit")
        censored = table[table["mixing_ratio"] == r]
        for flag, column, marker, text in (("all_learned", "frequency_min", "v", "all groups learned: below"),
                                           ("none_learned", "frequency_max", "^", "no group learned: above")):
            part = censored[censored[flag]]
            if len(part):
                (mark,) = ax.plot(part["params_nonembedding"], part[column], marker, mfc="white", color=color,
                                  label=f"{text}, r = {r:g}")
                mark.set_gid(flag)
    if points.empty:
        ax.text(0.5, 0.5, "no located threshold: every run learned all groups or none", transform=ax.transAxes,
                ha="center", va="center", color="0.4")
    elif predicted_slope is not None:
        log_x, log_y = np.log(points["params_nonembedding"].to_numpy(float)), np.log(points["threshold_frequency"])
        grid = np.geomspace(points["params_nonembedding"].min(), points["params_nonembedding"].max(), 50)
        anchored = np.exp(log_y.mean() + predicted_slope * (np.log(grid) - log_x.mean()))
        (theory,) = ax.plot(grid, anchored, **THEORY_STYLE, label=f"theory: slope -(alpha+1) = {predicted_slope:.3f}")
        theory.set_gid("predicted")
    ref = PAPER_REFERENCE["threshold_frequency_slope"]
    paper = ax.text(0.02, 0.03, f"{ref['label']}: slope {ref['measured']} measured, {ref['predicted']} predicted",
                    transform=ax.transAxes, fontsize=6.5, color=PAPER_COLOR)
    paper.set_gid("paper")
    log_axis(ax, "x")
    log_axis(ax, "y")
    ax.set_xlabel("model size (non-embedding parameters)")
    ax.set_ylabel("threshold frequency (exposures per token)")
    ax.set_title(f"Threshold frequency: first group below {tgt:.0%} recall")
    ax.legend(fontsize=6.5)
    return fig
