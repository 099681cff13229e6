"""Continual pre-training against training from scratch (arXiv 2505.18091, section 6 and Appendix D.1).

A model pre-trained on web text alone (r = 0) is continued on knowledge mixtures; each continued run is
compared with the from-scratch run of the same data settings trained on as many tokens as the
pre-training and the continuation together. Runs are recognised by their configs (``init_from``), not
by their roles, so from-scratch runs another sweep trained count too. ``continual_section`` gives the
report's paragraph.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.tables import final_rows, require_columns

COLUMNS = ("run_id", "step", "model", "knowledge", "people", "mixing_ratio", "rho", "tau", "seed", "tokens",
           "accuracy", "config")


def _init_from(df: pd.DataFrame) -> pd.Series:
    if "init_from" in df.columns:
        # object first: an all-null column is float64, and filling it with a string is deprecated
        return df["init_from"].astype(object).where(df["init_from"].notna(), "").astype(str)
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


def continual_section(df: pd.DataFrame, level: float = 0.1) -> dict:
    """Continued against from-scratch runs: the crossing of ``level`` accuracy in r (the measured critical
    ratio, interpolated) and the subsampling gains; the paragraph in ``text``."""
    pairs = continual_pairs(df)
    full = pairs[np.isclose(pairs["rho"], 1.0)].groupby("mixing_ratio")[["accuracy", "scratch_accuracy"]].mean()
    if full.empty:
        raise ValueError("no continued runs without subsampling (rho = 1) in the results")
    crossings = {}
    for column in ("accuracy", "scratch_accuracy"):
        known = full[column].dropna()
        crossings[column] = crossing_ratio(known.index, known.values, level) if len(known) else None
    gains = []
    for _, sub in pairs[~np.isclose(pairs["rho"], 1.0)].iterrows():
        r = sub["mixing_ratio"]
        if r in full.index:
            gains.append({"rho": float(sub["rho"]), "mixing_ratio": float(r),
                          "continued_gain": float(sub["accuracy"] - full.loc[r, "accuracy"]),
                          "scratch_gain": float(sub["scratch_accuracy"] - full.loc[r, "scratch_accuracy"])})

    def show(c):
        return "not measured" if c is None else f"{c[1]} {c[0]:.3g}".strip()
    first = pairs.iloc[0]
    text = [f"{first['model']} pre-trained on web text alone for {first['source_tokens']:,.0f} tokens, then continued "
            f"for {first['continued_tokens']:,.0f} tokens on mixtures; from-scratch runs of the same data trained "
            f"{first['scratch_tokens']:,.0f} tokens (equal total tokens).",
            "Accuracy, continued against from scratch: " + ", ".join(
                f"r = {r:g}: {a.accuracy:.1%} vs "
                + ("-" if math.isnan(a.scratch_accuracy) else f"{a.scratch_accuracy:.1%}")
                for r, a in full.iterrows()) + ".",
            f"The ratio where accuracy reaches {level:.0%}: continued {show(crossings['accuracy'])}, from scratch "
            f"{show(crossings['scratch_accuracy'])}."]
    for g in gains:
        text.append(f"Subsampling to rho = {g['rho']:g} at r = {g['mixing_ratio']:g} changes accuracy by "
                    f"{g['continued_gain']:+.1%} when continued and by "
                    + ("-" if math.isnan(g["scratch_gain"]) else f"{g['scratch_gain']:+.1%}") + " from scratch.")
    return {"pairs": pairs.to_dict(orient="records"),
            "critical_ratio": {k: (None if v is None else {"ratio": v[0], "bound": v[1]})
                               for k, v in crossings.items()},
            "subsampling_gains": gains, "text": " ".join(text)}
