"""Continual pre-training against training from scratch (arXiv 2505.18091, section 6 and Appendix D.1):
the continued runs and their from-scratch matches (``analysis.continual``) against r.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.continual import continual_pairs
from figures.style import new_figure


def continued_vs_scratch(df: pd.DataFrame):
    """Accuracy against r: continued runs and from-scratch runs of equal total tokens (rho = 1 lines;
    subsampled runs as separate markers)."""
    pairs = continual_pairs(df)
    fig, ax = new_figure()
    full = pairs[np.isclose(pairs["rho"], 1.0)].groupby("mixing_ratio")[["accuracy", "scratch_accuracy"]].mean()
    ax.plot(full.index, full["accuracy"], "o-", color="C0", label="continued from web-only model", gid="continued")
    ax.plot(full.index, full["scratch_accuracy"], "s--", color="C1", label="from scratch, equal total tokens",
            gid="scratch")
    for rho, sub in pairs[~np.isclose(pairs["rho"], 1.0)].groupby("rho"):
        ax.plot(sub["mixing_ratio"], sub["accuracy"], "^", color="C0", mfc="none", label=f"continued, rho = {rho:g}",
                gid="continued_subsampled")
        ax.plot(sub["mixing_ratio"], sub["scratch_accuracy"], "v", color="C1", mfc="none",
                label=f"from scratch, rho = {rho:g}", gid="scratch_subsampled")
    model = pairs["model"].iloc[0]
    ax.set(xlabel="mixing ratio r (continuation)", ylabel="exact-match accuracy",
           title=f"Continual pre-training ({model})", ylim=(-0.02, 1.02))
    ax.legend()
    return fig
