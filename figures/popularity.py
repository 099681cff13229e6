"""Threshold popularity against model size across a model family (arXiv 2505.18091, Fig. 7b).

One point per model: its Algorithm-1 threshold popularity with the bootstrap interval as an error
bar; censored models (threshold not located) are drawn hollow and left out of the fit; the fitted
power law threshold = exp(intercept) params^slope is the line, its slope and interval in the legend.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from capacity.popularity import FamilyThresholds, PopularityTable, family_thresholds
from figures.style import RC, THEORY_STYLE, new_figure


def popularity_threshold_figure(data: FamilyThresholds | PopularityTable, *, target: float = 0.6, n_fail: int = 5,
                                n_bootstrap: int = 500, seed: int = 0, title: str | None = None):
    """Fig. 7b from a table (computed here with Algorithm 1) or from ``family_thresholds``' result."""
    result = data if isinstance(data, FamilyThresholds) else family_thresholds(
        data, target=target, n_fail=n_fail, n_bootstrap=n_bootstrap, seed=seed)
    fig, ax = new_figure()
    for censored, style in ((False, dict(color="C0")), (True, dict(color="C0", markerfacecolor="none"))):
        points = [m for m in result.models if m.censored == censored]
        if not points:
            continue
        x = np.array([m.params for m in points])
        y = np.array([m.threshold for m in points])
        err = np.array([[m.threshold - m.interval[0] for m in points], [m.interval[1] - m.threshold for m in points]])
        ax.errorbar(x, y, yerr=np.clip(err, 0, None), fmt="o", capsize=3, label="censored (not fitted)" if censored
                    else "threshold popularity", **style)
    if result.slope is not None:
        located = [m.params for m in result.models if not m.censored]
        xs = np.geomspace(min(located), max(located), 50)
        low, high = result.slope_interval
        conf = round(100 * result.confidence)
        ax.plot(xs, np.exp(result.intercept) * xs**result.slope, **THEORY_STYLE,
                label=f"fit: slope {result.slope:.3f} [{low:.3f}, {high:.3f}] ({conf}%)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("model size (parameters)")
    ax.set_ylabel("threshold popularity")
    ax.set_title(title or f"Threshold popularity (target {result.target:g}, N_fail {result.n_fail})")
    ax.legend()
    return fig


def save_figure(fig, path: str | Path) -> str:
    """Write one file (format from the suffix) and close the figure."""
    import matplotlib.pyplot as plt

    with plt.rc_context(RC):
        fig.savefig(str(path))
    plt.close(fig)
    return str(path)
