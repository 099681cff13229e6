"""Measurements for the reproduction report that the grid alone gets wrong.

* ``web_loss_at_zero_ratio``: the web-loss law's points. The web loss rises with the knowledge share
  r (fewer web tokens at a fixed budget), so pooling ratios reads that rise as an effect of size, and
  one run per (size, r, seed) counts well-sampled sizes several times. Here the rise is estimated
  within sizes, L = mu_size + B (-log(1 - r)), each run is corrected to r = 0, and each size gives
  one point (the mean over its runs): the loss of a web-only model at that budget, the theory's F2
  (arXiv 2505.18091, Theorem 4.3).
* ``threshold_frequency_crossings``: Fig. 7a's threshold frequency as the crossing of a logistic fit
  of per-group accuracy against log frequency (``capacity.critical.critical_frequency``), with a 95%
  interval, rather than the frequency of the first group below the level, which is quantised to the
  groups' frequencies.
* ``evaluation_phase``: which rows are comparable. Rows taken during the stable phase of a
  warmup-stable-decay schedule precede the cooldown, in which much is consolidated; only a run's
  final row measures its budget.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from capacity.critical import critical_frequency
from analysis.tables import baseline, final_rows, require_columns, with_role


def web_loss_at_zero_ratio(final: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """(one row per size: params_nonembedding, web_loss corrected to r = 0, runs), B in nats per unit
    of -log(1 - r). ``final``: final rows of the runs (one budget). B is 0 when no size has two ratios."""
    require_columns(final, ("params_nonembedding", "mixing_ratio", "web_loss"), "web_loss_at_zero_ratio")
    rows = final[final["web_loss"].notna() & (final["mixing_ratio"] < 1)]
    x = -np.log1p(-rows["mixing_ratio"].to_numpy(float))
    y = rows["web_loss"].to_numpy(float)
    sizes = rows["params_nonembedding"].to_numpy(float)
    # Within-size regression: demean x and y per size, then one slope.
    xd, yd = x.copy(), y.copy()
    for s in np.unique(sizes):
        mask = sizes == s
        xd[mask] -= x[mask].mean()
        yd[mask] -= y[mask].mean()
    B = float(xd @ yd / (xd @ xd)) if np.any(xd != 0) else 0.0
    corrected = pd.DataFrame({"params_nonembedding": sizes, "web_loss": y - B * x})
    points = corrected.groupby("params_nonembedding", sort=True)["web_loss"].agg(["mean", "count"]).reset_index()
    return points.rename(columns={"mean": "web_loss", "count": "runs"}), B


def _by_group(value) -> dict[int, float]:
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        return {}
    return {int(g): float(v) for g, v in value.items() if v is not None and np.isfinite(float(v))}


def _row_groups(row: pd.Series, key: str) -> dict[int, float]:
    found = _by_group(row.get(key))
    if found:
        return found
    prefix = key + "."
    return {int(str(c)[len(prefix):]): float(row[c]) for c in row.index
            if str(c).startswith(prefix) and pd.notna(row[c])}


def threshold_frequency_crossings(df: pd.DataFrame, target: float = 0.8, n_boot: int = 500,
                                  seed: int = 0) -> pd.DataFrame:
    """One row per final power-law run: the exposure frequency where its per-group accuracy crosses
    ``target`` (a logistic fit over the groups, each weighted by its evaluated items), with a 95%
    bootstrap interval over people; ``censored`` names runs whose groups do not bracket the target
    (no crossing is measured there)."""
    require_columns(df, ("run_id", "step", "model", "params_nonembedding", "mixing_ratio", "items_evaluated"),
                    "threshold_frequency_crossings")
    final = with_role(final_rows(df))
    if "knowledge" in final.columns:
        final = final[final["knowledge"] == "synbio-powerlaw"]
    records = []
    for _, row in final.iterrows():
        accuracy = _row_groups(row, "accuracy_by_group")
        frequency = _row_groups(row, "exposure_frequency_by_group")
        groups = sorted(g for g in accuracy if frequency.get(g, 0.0) > 0.0)
        if len(groups) < 2:
            continue
        # With every person evaluated (the power-law sweep's setting), groups hold equal item counts.
        items = float(row["items_evaluated"]) / len(accuracy)
        people = float(row.get("people_evaluated") or row["items_evaluated"])
        per_person = float(row["items_evaluated"]) / max(people, 1.0)
        freqs = np.array([frequency[g] for g in groups])
        accs = np.array([accuracy[g] for g in groups])
        record = {"run_id": row["run_id"], "model": row["model"], "params_nonembedding": row["params_nonembedding"],
                  "mixing_ratio": row["mixing_ratio"], "seed": row.get("seed"), "groups": len(groups)}
        try:
            est = critical_frequency(freqs, accs * np.rint(items), np.full(len(groups), np.rint(items)), level=target,
                                     n_boot=n_boot, seed=seed, items_per_person=per_person)
            record.update(threshold_frequency=est.value, low=est.interval[0], high=est.interval[1], censored="",
                          draws=est.draws)
        except ValueError as exc:
            record.update(threshold_frequency=np.nan, low=np.nan, high=np.nan, draws=(),
                          censored="all groups learned" if accs.min() >= target else
                          "no group learned" if accs.max() < target else str(exc))
        records.append(record)
    return pd.DataFrame.from_records(records, columns=["run_id", "model", "params_nonembedding", "mixing_ratio", "seed",
                                                       "groups", "threshold_frequency", "low", "high", "censored",
                                                       "draws"])


def threshold_frequency_slope_fitted(df: pd.DataFrame, predicted: float | None, target: float = 0.8,
                                     seed: int = 0) -> dict | None:
    """Fig. 7a's slope d log f_thres / d log M from fitted crossings, at the ratio with the most sizes
    (3 or more), with a 95% interval from the crossings' bootstrap draws; None without such a ratio."""
    if "knowledge" in df.columns and not (df["knowledge"] == "synbio-powerlaw").any():
        return None
    table = threshold_frequency_crossings(baseline(df, roles=("main",)), target, seed=seed)
    located = table[table["censored"] == ""]
    if located.empty:
        return None
    counts = located.groupby("mixing_ratio")["params_nonembedding"].nunique()
    if counts.max() < 3:
        return None
    r = float(counts.idxmax())
    pts = located[located["mixing_ratio"] == r]
    x = np.log(pts["params_nonembedding"].to_numpy(float))
    y = np.log(pts["threshold_frequency"].to_numpy(float))
    slope = float(np.polyfit(x, y, 1)[0])
    rng = np.random.default_rng(seed)
    draws = np.stack([rng.choice(np.log(np.asarray(d, dtype=float)), 500) for d in pts["draws"]], axis=1)
    slopes = np.polyfit(x, draws.T, 1)[0]
    return {"mixing_ratio": r, "sizes": int(pts["params_nonembedding"].nunique()), "slope": slope,
            "slope_interval": [float(v) for v in np.quantile(slopes, [0.025, 0.975])], "predicted": predicted,
            "paper_measured": -1.152, "paper_predicted": -1.283, "estimator": "logistic crossing over groups"}


def evaluation_phase(df: pd.DataFrame) -> pd.Series:
    """Per row: "final" (the run's last evaluation), "stable" (before the WSD cooldown starts, not
    comparable with final rows) or "cooldown" (inside it), from the run's schedule in its config."""
    require_columns(df, ("run_id", "step"), "evaluation_phase")
    last = df.groupby("run_id")["step"].transform("max")
    phase = pd.Series(np.where(df["step"] == last, "final", "cooldown"), index=df.index, dtype=object)

    def config_value(row, dotted: str, default):
        key = f"config.{dotted}"
        if key in row.index and pd.notna(row[key]):
            return row[key]
        config = row.get("config")
        if isinstance(config, str):
            config = json.loads(config)
        for part in dotted.split("."):
            if not isinstance(config, dict) or part not in config:
                return default
            config = config[part]
        return config

    for i, row in df.iterrows():
        if phase[i] == "final":
            continue
        kind = config_value(row, "schedule.kind", "wsd")
        fraction = float(config_value(row, "schedule.cooldown_fraction", 0.0) or 0.0)
        if kind == "wsd" and row["step"] < (1.0 - fraction) * float(last[i]):
            phase[i] = "stable"
    return phase

