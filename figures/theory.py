"""Figures of the theory alone (arXiv 2505.18091, Sec. 4): they need no training runs."""
from __future__ import annotations

import numpy as np
from matplotlib.colors import Normalize

from capacity.curves import PowerLawCurve
from capacity.phase import phase_diagram
from capacity.thresholds import critical_capacity, threshold_frequency, threshold_frequency_slope
from capacity.units import KnowledgeSet, params_from_capacity
from figures.style import THEORY_STYLE, new_figure, series_colors


def phase_diagram_figure(
    law: PowerLawCurve, knowledge: KnowledgeSet, mixing_ratios, params, bits_per_parameter: float,
    title: str = "Predicted fraction of the knowledge learned",
):
    """Heat map of the fraction learned over (model size, r), with the critical-size curve overlaid."""
    ratios = np.asarray(mixing_ratios, dtype=float)
    params = np.asarray(params, dtype=float)
    fraction = phase_diagram(law, knowledge, ratios, params * bits_per_parameter)
    fig, ax = new_figure(5.2, 3.6)
    mesh = ax.pcolormesh(params, ratios, fraction, shading="auto", cmap="magma", norm=Normalize(0, 1))
    fig.colorbar(mesh, ax=ax, label="fraction learned")
    if knowledge.is_uniform:
        p = knowledge.groups[0].exposure_frequency
        m_crit = params_from_capacity(critical_capacity(law, p, ratios), bits_per_parameter)
        ax.plot(m_crit, ratios, label="critical size (Thm 4.3)", **THEORY_STYLE)
        ax.legend(loc="upper right")
    ax.set_xscale("log")
    ax.set_xlim(params.min(), params.max())
    ax.set_xlabel("model size (parameters)")
    ax.set_ylabel("mixing ratio r")
    ax.set_title(title)
    return fig


def threshold_frequency_figure(law: PowerLawCurve, params, bits_per_parameter: float, mixing_ratio: float,
                               measured_slope: tuple[float, float, float] | None = None,
                               paper_slope: float | None = -1.152):
    """log f_thres against log M: the theory's slope -(alpha+1), with the paper's measured slope for reference."""
    params = np.asarray(params, dtype=float)
    f = threshold_frequency(law, params * bits_per_parameter, mixing_ratio)
    fig, ax = new_figure()
    ax.loglog(params, f, label=f"theory: slope {threshold_frequency_slope(law):.3f}", **THEORY_STYLE)
    if paper_slope is not None:
        anchor = f[len(f) // 2]
        mid = params[len(params) // 2]
        ax.loglog(params, anchor * (params / mid) ** paper_slope, color="0.5", linestyle=":",
                  label=f"paper's measured slope {paper_slope}")
    if measured_slope is not None:
        slope, lo, hi = measured_slope
        ax.text(0.03, 0.05, f"measured slope {slope:.3f} [{lo:.3f}, {hi:.3f}]", transform=ax.transAxes)
    ax.set_xlabel("model size (parameters)")
    ax.set_ylabel("threshold frequency per token")
    ax.set_title(f"Threshold frequency vs model size (r = {mixing_ratio})")
    ax.legend()
    return fig


def fraction_vs_ratio_figure(law: PowerLawCurve, knowledge: KnowledgeSet, params_list, bits_per_parameter: float):
    """Predicted fraction learned against r for several model sizes: the sharp transitions of Fig. 2."""
    ratios = np.linspace(0.005, 0.995, 400)
    fig, ax = new_figure()
    for color, n in zip(series_colors(len(params_list)), params_list):
        fraction = phase_diagram(law, knowledge, ratios, [n * bits_per_parameter])[:, 0]
        ax.plot(ratios, fraction, color=color, label=f"{n:.3g} params")
    ax.set_xlabel("mixing ratio r")
    ax.set_ylabel("predicted fraction learned")
    ax.set_title("Theory: knowledge learned vs mixing ratio")
    ax.legend()
    return fig
