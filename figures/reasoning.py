"""Fig. 5 of arXiv 2505.18091 (section 3.3) on our runs: exact-match accuracy of a reasoning task's final
answer on fresh held-out questions, against the mixing ratio and against model size.

The r panel also shows the exposure-matched controls (r/2 trained twice as long, so each control sees as
many task examples as the main run it is paired with, ``task_exposure_pairs``): at equal examples, a
control that is as accurate as its main run says exposure counts explain the curve in r; one clearly
below it says the ratio itself matters, as for SynBio.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from figures.empirical_tables import final_rows, require_columns, with_role
from figures.style import new_figure

TASKS = ("slope", "max")
COLUMNS = ("run_id", "step", "knowledge", "model", "params_nonembedding", "mixing_ratio", "tokens", "seed", "accuracy")


def task_rows(df: pd.DataFrame, task: str = "slope") -> pd.DataFrame:
    """Final rows of the runs of one reasoning task ("slope" or "max", any size of it: "slope:9")."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    require_columns(df, COLUMNS, "the reasoning figure")
    kind = df["knowledge"].astype(str)
    rows = df[(kind == task) | kind.str.startswith(task + ":")]
    if rows.empty:
        raise ValueError(f"no runs of the {task} task in the results")
    return with_role(final_rows(rows))


def task_exposure_pairs(final: pd.DataFrame, tolerance: float = 0.05) -> pd.DataFrame:
    """Each exposure-matched control with the main run of equal task examples: same model, task and seed,
    r x tokens equal within ``tolerance``, the control trained longer. Columns: model, seed, mixing_ratio,
    accuracy, exposures (the main run's), control_ratio, control_accuracy, control_exposures,
    token_ratio, gap (main minus control accuracy)."""
    main = final[final["role"] == "main"]
    out = []
    for _, c in final[final["role"] == "exposure_matched"].iterrows():
        knowledge = float(c["mixing_ratio"]) * float(c["tokens"])
        same = main[(main["model"] == c["model"]) & (main["seed"] == c["seed"]) & (main["knowledge"] == c["knowledge"])
                    & (main["tokens"] < c["tokens"])]
        match = same[(same["mixing_ratio"] * same["tokens"] - knowledge).abs() <= tolerance * knowledge]
        if match.empty:
            continue
        m = match.iloc[0]
        out.append({"model": c["model"], "seed": int(c["seed"]), "mixing_ratio": float(m["mixing_ratio"]),
                    "accuracy": float(m["accuracy"]), "exposures": m.get("exposures"),
                    "control_ratio": float(c["mixing_ratio"]), "control_accuracy": float(c["accuracy"]),
                    "control_exposures": c.get("exposures"), "token_ratio": float(c["tokens"]) / float(m["tokens"]),
                    "gap": float(m["accuracy"]) - float(c["accuracy"])})
    columns = ["model", "seed", "mixing_ratio", "accuracy", "exposures", "control_ratio", "control_accuracy",
               "control_exposures", "token_ratio", "gap"]
    return pd.DataFrame(out, columns=columns).sort_values(["model", "mixing_ratio"]).reset_index(drop=True)


def sweep_axes(final: pd.DataFrame) -> tuple[str, float | None]:
    """The r-sweep's model (the one with main runs at the most ratios) and the size sweep's ratio (the
    ratio with main runs at the most models; None when no ratio has two)."""
    main = final[final["role"] == "main"]
    if main.empty:
        raise ValueError("no main runs of the task in the results")
    model = main.groupby("model")["mixing_ratio"].nunique().idxmax()
    sizes = main.groupby("mixing_ratio")["model"].nunique()
    return model, (float(sizes.idxmax()) if sizes.max() >= 2 else None)


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
