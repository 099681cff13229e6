"""The threshold frequency of each power-law SynBio run: the numbers of arXiv 2505.18091, Fig. 7a.

A power-law run's rows carry, per group of people, the measured exposure frequency
(``exposure_frequency_by_group``, exposures per content token) and the recall
(``accuracy_by_group``). Its threshold frequency is the frequency of the first group, by frequency
descending, whose recall falls below the target (``capacity.fit.threshold_frequency_grouped``). The
theory (section 4) predicts f_thres ~ M^-(alpha + 1) across model sizes M; the paper measured slope
-1.152 against a predicted -1.283.

Both objects are read as dicts (rows loaded with ``pd.DataFrame(rows)``) or as the
``<key>.<group>`` columns ``empirical.results.load_results`` spreads them into.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analysis.tables import final_rows, require_columns, with_role
from capacity.fit import threshold_frequency_grouped

ACCURACY = "accuracy_by_group"
FREQUENCY = "exposure_frequency_by_group"
_PASS_THROUGH = ("model", "params_nonembedding", "params_total", "knowledge", "people", "mixing_ratio", "rho", "tau",
                 "seed", "role", "tokens")
COMPUTED = ("groups", "frequency_max", "frequency_min", "threshold_frequency", "threshold_group", "all_learned",
            "none_learned")


def check_target(target: float) -> float:
    if not 0.0 < float(target) <= 1.0:
        raise ValueError(f"target accuracy must be in (0, 1], got {target!r}")
    return float(target)


def _has(df: pd.DataFrame, key: str) -> bool:
    return any(c == key or str(c).startswith(key + ".") for c in df.columns)


def _by_group(row: pd.Series, key: str) -> dict[int, float]:
    """{group: value} of one row, from the dict (or its JSON text) or from the ``key.<group>`` columns."""
    value = row.get(key)
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, dict):
        items = value.items()
    else:
        prefix = key + "."
        items = ((c[len(prefix):], row[c]) for c in row.index if str(c).startswith(prefix))
    return {int(g): float(v) for g, v in items if v is not None and pd.notna(v)}


def threshold_frequencies(df: pd.DataFrame, target: float = 0.8) -> pd.DataFrame:
    """One row per final power-law run: its threshold frequency (exposures per token) at ``target``.

    Groups enter with both a recall and a positive measured frequency (a group never exposed yet has
    frequency 0 and is left out). ``all_learned``: every group meets the target, so the threshold lies
    below ``frequency_min`` and ``threshold_frequency`` is NaN. ``none_learned``: every group is below
    it; the rule then gives ``frequency_max`` and the threshold is only bounded from below. Both are
    censored and must not enter a power-law fit as measured points. Runs whose knowledge column says
    anything but "synbio-powerlaw", or with fewer than two usable groups, are skipped.
    """
    tgt = check_target(target)
    require_columns(df, ("run_id", "step", "model", "params_nonembedding", "mixing_ratio"), "threshold_frequencies")
    missing = [k for k in (ACCURACY, FREQUENCY) if not _has(df, k)]
    if missing:
        raise ValueError(f"threshold_frequencies needs per-group result columns {missing} (or their "
                         f"'<key>.<group>' columns); the table has {sorted(map(str, df.columns))}")
    final = with_role(final_rows(df))
    if "knowledge" in final.columns:
        final = final[final["knowledge"] == "synbio-powerlaw"]
    records = []
    for _, row in final.iterrows():
        accuracy, frequency = _by_group(row, ACCURACY), _by_group(row, FREQUENCY)
        groups = sorted(g for g in accuracy if frequency.get(g, 0.0) > 0.0)
        if len(groups) < 2:
            continue
        freqs = np.array([frequency[g] for g in groups])
        accs = np.array([accuracy[g] for g in groups])
        found = threshold_frequency_grouped(freqs, accs, tgt)
        records.append({
            "run_id": row["run_id"], **{c: row[c] for c in _PASS_THROUGH if c in row.index},
            "groups": len(groups), "frequency_max": float(freqs.max()), "frequency_min": float(freqs.min()),
            "threshold_frequency": np.nan if found.all_learned else found.threshold_frequency,
            "threshold_group": None if found.all_learned else groups[found.index],
            "all_learned": found.all_learned, "none_learned": bool((accs < tgt).all()),
        })
    columns = ["run_id", *(c for c in _PASS_THROUGH if c in final.columns), *COMPUTED]
    table = pd.DataFrame.from_records(records, columns=columns)
    table["threshold_group"] = table["threshold_group"].astype("Int64")
    return table


def threshold_points(table: pd.DataFrame) -> pd.DataFrame:
    """The located thresholds of a ``threshold_frequencies`` table (neither all nor no group learned),
    one point per (mixing ratio, model): the geometric mean over its runs (seeds), with min and max."""
    require_columns(table, ("mixing_ratio", "model", "params_nonembedding", "threshold_frequency", "all_learned",
                            "none_learned"), "threshold_points")
    located = table[~table["all_learned"] & ~table["none_learned"]]
    grouped = located.groupby(["mixing_ratio", "model", "params_nonembedding"], sort=True)["threshold_frequency"]
    out = grouped.agg(threshold_frequency=lambda f: float(np.exp(np.log(f).mean())),
                      threshold_min="min", threshold_max="max", runs="count")
    return out.reset_index().sort_values(["mixing_ratio", "params_nonembedding"], kind="stable").reset_index(drop=True)

