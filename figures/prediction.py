"""Figures of the prediction report (``capacity.prediction_report``): r_c against model size with each
predictor's curve and its held-out predictions, and r_c against the training budget."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.ticker import NullFormatter

from capacity.calibration import RunRecord
from capacity.predictors import PREDICTORS
from figures.style import new_figure, save, series_colors

MARKERS = {"theory": "v", "theory-bpp": "^", "theory-budget": "s", "odds-power-law": "o", "logistic": "D",
           "floor-power-law": "P", "auto": "*"}


def _fits(runs: Sequence[RunRecord], level: float) -> dict:
    out = {}
    for name, predictor in PREDICTORS.items():
        try:
            out[name] = predictor.fit(runs, level=level, n_boot=0)
        except ValueError:
            continue
    return out


def _curve(fitted, sizes, tokens):
    values = []
    for M, T in np.broadcast(sizes, tokens):
        try:
            values.append(fitted.predict(float(M), float(T))[0])
        except ValueError:
            values.append(np.nan)
    return np.array(values)


def _measured(ax, rows, x: str, color="black") -> None:
    for m in rows:
        if m["measured"] is not None:
            lo, hi = m["interval"]
            ax.errorbar(m[x], m["measured"], yerr=[[m["measured"] - lo], [hi - m["measured"]]], fmt="o", color=color,
                        ms=6, capsize=3, zorder=5)
        elif m["bound"] in ("below", "above"):
            ax.plot(m[x], m["bound_value"], "v" if m["bound"] == "below" else "^", color=color, ms=8, mfc="white",
                    zorder=5)


def critical_ratio_vs_size(report: dict, runs: Sequence[RunRecord]):
    """Measured r_c (black, with 95% intervals; open triangles: bounds) at the most common budget, each
    predictor fitted on all runs (lines) and its held-out predictions (markers: open = leave one size
    out, filled = extrapolated from the smaller sizes). Left: every predictor, however far off; right:
    the same on the measured range of r_c."""
    level = report["accuracy_level"]
    fits = _fits(runs, level)
    budget = max({r.tokens for r in runs}, key=lambda t: sum(r.tokens == t for r in runs))
    fig, axes = new_figure(4.6, 3.8, ncols=2)
    rows = [m for m in report["critical_ratios"] if m["tokens"] == budget]
    sizes = np.geomspace(min(r.params for r in runs) / 1.5, max(r.params for r in runs) * 4, 80)
    colors = dict(zip(PREDICTORS, series_colors(len(PREDICTORS))))
    for ax in axes:
        for name, fitted in fits.items():
            ax.plot(sizes, _curve(fitted, sizes, budget), color=colors[name], lw=1.2, label=name)
        for i, name in enumerate(PREDICTORS):
            for p in report["predictions"]:
                if p["predictor"] != name or p["predicted"] is None or p["tokens"] != budget or p["axis"] != "size":
                    continue
                x = p["params"] * 1.04 ** (i - 2)
                filled = p["mode"] == "extrapolate"
                ax.errorbar(x, p["predicted"], yerr=[[p["predicted"] - p["interval"][0]],
                                                     [p["interval"][1] - p["predicted"]]],
                            fmt=MARKERS[name], color=colors[name], mfc=colors[name] if filled else "white", ms=5,
                            capsize=2, lw=0.8)
        _measured(ax, rows, "params_nonembedding")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("non-embedding parameters M")
    left, right = axes
    left.errorbar([], [], yerr=[], fmt="o", color="black", label="measured, 95% interval")
    if any(m["measured"] is None and m["bound"] in ("below", "above") for m in rows):
        left.plot([], [], "v", color="black", mfc="white", label="bound (sweep does not bracket)")
    left.plot([], [], "o", color="0.5", mfc="white", label="held out: leave one size out")
    left.plot([], [], "o", color="0.5", label="held out: extrapolated")
    left.set_ylim(max(min(left.get_ylim()[0], 0.05), 1e-3), 1.0)
    left.set_ylabel(f"critical mixing ratio r_c (accuracy {level:.0%})")
    left.set_title(f"r_c against size at {budget:,.0f} tokens", fontsize=9)
    left.legend(loc="lower left", fontsize=7)
    shown = [v for m in rows if m["measured"] is not None for v in m["interval"] if 0 < v < 1] or [0.1, 0.5]
    right.set_ylim(min(shown) / 2.0, min(max(shown) * 1.4, 1.0))
    right.yaxis.set_minor_formatter(NullFormatter())
    right.set_yticks([t for t in (0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8) if right.get_ylim()[0] <= t
                      <= right.get_ylim()[1]], labels=None)
    right.yaxis.set_major_formatter("{x:g}")
    right.set_title("the measured range", fontsize=9)
    return fig


def critical_ratio_vs_budget(report: dict, runs: Sequence[RunRecord]):
    """Measured r_c against the training tokens for every size trained at two or more budgets, with each
    predictor's curve at that size (fitted on all runs)."""
    level = report["accuracy_level"]
    fits = _fits(runs, level)
    fig, ax = new_figure(5.6, 3.8)
    models = [m for m in {c["model"] for c in report["critical_ratios"]}
              if len({c["tokens"] for c in report["critical_ratios"] if c["model"] == m}) > 1]
    colors = dict(zip(PREDICTORS, series_colors(len(PREDICTORS))))
    tokens = np.geomspace(min(r.tokens for r in runs) / 1.5, max(r.tokens for r in runs) * 4, 60)
    styles = ("-", "--", ":", "-.")
    models.sort(key=lambda m: min(c["params_nonembedding"] for c in report["critical_ratios"] if c["model"] == m))
    for i, model in enumerate(models):
        rows = [c for c in report["critical_ratios"] if c["model"] == model]
        params = rows[0]["params_nonembedding"]
        for name, fitted in fits.items():  # one colour per predictor, one line style per size
            ax.plot(tokens, _curve(fitted, params, tokens), color=colors[name], lw=1.2, ls=styles[i % len(styles)],
                    label=name if i == 0 else None)
        ax.plot([], [], color="0.3", ls=styles[i % len(styles)], label=f"curves at {model}")
        _measured(ax, rows, "tokens")
        for p in report["predictions"]:
            if p["axis"] == "budget" and p["held_out"] == model and p["predicted"] is not None and p["predictor"] in MARKERS \
                    and p["predictor"] in colors:
                ax.plot(p["tokens"], p["predicted"], MARKERS[p["predictor"]], color=colors[p["predictor"]], ms=6)
    if not models:
        ax.text(0.5, 0.5, "no size trained at two budgets", ha="center", va="center", transform=ax.transAxes)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # the minor labels overlap
    ax.set_xlabel("training tokens T")
    ax.set_ylabel(f"critical mixing ratio r_c (accuracy {level:.0%})")
    ax.plot([], [], "o", color="0.5", label="predicted from the smaller budgets only")
    ax.set_title("r_c against the training budget")
    ax.legend(loc="lower left", fontsize=7)
    return fig


def draw_all(report: dict, runs: Sequence[RunRecord], out_dir) -> list[str]:
    """Both figures as PNG and PDF in ``out_dir``; returns the PNG paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in (("critical_ratio_vs_size", critical_ratio_vs_size),
                       ("critical_ratio_vs_budget", critical_ratio_vs_budget)):
        paths.append(save(draw(report, runs), out / name)[0])
    return paths
