"""Continual pre-training against training from scratch (arXiv 2505.18091, section 6 and Appendix D.1).

A model pre-trained on web text alone (r = 0) is continued on knowledge mixtures; each continued run is
compared with the from-scratch run of the same data settings trained on as many tokens as the
pre-training and the continuation together. Runs are recognised by their configs (``init_from``), not
by their roles, so from-scratch runs another sweep trained count too.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from figures.empirical_tables import final_rows, require_columns
from figures.style import new_figure

COLUMNS = ("run_id", "step", "model", "knowledge", "people", "mixing_ratio", "rho", "tau", "seed", "tokens",
           "accuracy", "config")


def _init_from(df: pd.DataFrame) -> pd.Series:
    if "init_from" in df.columns:
        return df["init_from"].fillna("").astype(str)
    return df["config"].map(lambda c: (c or {}).get("init_from", "") if isinstance(c, dict) else "")


def continual_pairs(df: pd.DataFrame) -> pd.DataFrame:
    """One row per continued run with its from-scratch match: model, knowledge, people, mixing_ratio,
    rho, tau, seed, source (the init_from), source_tokens, continued_tokens, accuracy (continued),
    scratch_tokens and scratch_accuracy (NaN when no from-scratch run of equal total tokens exists).
    ValueError when the results hold no continued run."""
    require_columns(df, COLUMNS, "the continual pre-training comparison")
    final = final_rows(df).copy()
    final["init_from"] = _init_from(final).values
    continued = final[final["init_from"] != ""]
    if continued.empty:
        raise ValueError("no continued runs (init_from set) in the results")
    tokens_of = final.set_index("run_id")["tokens"]
    scratch = final[final["init_from"] == ""]
    keys = ["model", "knowledge", "people", "mixing_ratio", "rho", "tau", "seed"]
    out = []
    for _, c in continued.iterrows():
        source = c["init_from"]
        run_id = Path(source[4:]).name  # "run:<run_id>" or a path ending in the run's folder
        source_tokens = float(tokens_of.get(run_id, np.nan)) if source.startswith("run:") else np.nan
        total = float(c["tokens"]) + source_tokens
        match = scratch
        for key in keys:
            match = match[np.isclose(match[key], c[key])] if key in ("mixing_ratio", "rho", "tau") else \
                match[match[key] == c[key]]
        match = match[np.isclose(match["tokens"].astype(float), total)]
        out.append({**{k: c[k] for k in keys}, "source": source, "source_tokens": source_tokens,
                    "continued_tokens": float(c["tokens"]), "accuracy": float(c["accuracy"]),
                    "scratch_tokens": total,
                    "scratch_accuracy": float(match["accuracy"].mean()) if len(match) else np.nan})
    return pd.DataFrame(out).sort_values(["model", "rho", "mixing_ratio"]).reset_index(drop=True)


def crossing_ratio(ratios, accuracy, level: float = 0.1) -> tuple[float, str]:
    """Where accuracy first reaches ``level`` along increasing r, interpolated in log r: (r, "") or a bound
    ("<=" at the lowest ratio, ">" the highest when never reached)."""
    r = np.asarray(ratios, float)
    a = np.asarray(accuracy, float)
    order = np.argsort(r)
    r, a = r[order], a[order]
    if r.size == 0:
        raise ValueError("crossing_ratio needs at least one ratio")
    above = np.flatnonzero(a >= level)
    if above.size == 0:
        return float(r[-1]), ">"
    i = int(above[0])
    if i == 0:
        return float(r[0]), "<="
    t = (level - a[i - 1]) / (a[i] - a[i - 1])
    return float(np.exp(np.log(r[i - 1]) + t * (np.log(r[i]) - np.log(r[i - 1])))), ""


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
