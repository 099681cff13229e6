"""Fig. 5 of arXiv 2505.18091 (section 3.3) on our runs: exact-match accuracy of a reasoning task's final
answer on fresh held-out questions, against the mixing ratio and against model size, with the
exposure-matched controls on the r panel (the pairs and their reading: ``analysis.reasoning``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.reasoning import sweep_axes, task_exposure_pairs, task_rows
from figures.style import new_figure


def accuracy_vs_ratio_and_size(df: pd.DataFrame, task: str = "slope"):
    """Two panels (Fig. 5): accuracy against r for the r-sweep's model with its exposure-matched controls,
    and accuracy against non-embedding parameters at the size sweep's ratio. Means over seeds."""
    final = task_rows(df, task)
    model, size_ratio = sweep_axes(final)
    fig, (left, right) = new_figure(ncols=2)
    label = final["knowledge"].iloc[0]
    main = final[final["role"] == "main"]
    curve = main[main["model"] == model].groupby("mixing_ratio")["accuracy"].mean()
    left.plot(curve.index, curve.values, "o-", color="C0", label=f"{model}", gid="main")
    pairs = task_exposure_pairs(final)
    pairs = pairs[pairs["model"] == model]
    if not pairs.empty:
        left.plot(pairs["control_ratio"], pairs["control_accuracy"], "s", mfc="none", color="C3",
                  label="exposure-matched (r/2, 2x tokens)", gid="control")
        for _, p in pairs.iterrows():  # each control joined to the main run of equal examples
            left.plot([p["control_ratio"], p["mixing_ratio"]], [p["control_accuracy"], p["accuracy"]], ":",
                      color="C3", linewidth=0.8)
    left.set(xlabel="mixing ratio r", ylabel="exact-match accuracy (1k fresh questions)",
             title=f"{label}: accuracy against r", ylim=(-0.02, 1.02))
    left.legend()
    if size_ratio is not None:
        at = main[np.isclose(main["mixing_ratio"], size_ratio)]
        by = at.groupby("params_nonembedding")["accuracy"].mean().sort_index()
        right.plot(by.index, by.values, "o-", color="C2", label=f"r = {size_ratio:g}", gid="size")
        right.set_xscale("log")
        right.legend()
    else:
        right.text(0.5, 0.5, "no size sweep in the results", ha="center", va="center", transform=right.transAxes)
    right.set(xlabel="non-embedding parameters", ylabel="exact-match accuracy", title=f"{label}: accuracy against size",
              ylim=(-0.02, 1.02))
    return fig
