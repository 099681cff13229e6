"""Tables read from the results table: pure functions, no plotting.

The results table (docs/RESULTS.md) has one row per (run, evaluation point), with the run's keys
(run_id, model, params_nonembedding, mixing_ratio, people, rho, tau, seed, step, tokens,
exposures_per_person, accuracy, web_loss, bits_stored, config, ...) and, from the sweep runner,
``role``: "main", "exposure_matched" (a lower r trained proportionally longer, so that exposures per
person match a main run) or "horizon" (a low-r run trained longer). A table without a ``role`` column
is read as all "main". Only these plain keys are used, never flattened columns.

Here: final rows and baselines, settings and their seed summaries, tokens to a target accuracy and
its fits (arXiv 2505.18091, Figs. 3-4 and Appendix E.5), exposure-matched pairs, and the web-loss law
with a bootstrap band (Fig. 7).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from capacity.fit import ScalingLawFit, StepsToTargetFits, fit_scaling_law, fit_steps_to_target

ROLES = ("main", "exposure_matched", "horizon")
# Columns that say which experiment a run belongs to; runs equal in all of them and in their config
# (seed aside) are seeds of one setting.
SETTING_COLUMNS = ("model", "params_nonembedding", "knowledge", "people", "mixing_ratio", "rho", "tau", "role")
_PASS_THROUGH = ("model", "params_nonembedding", "params_total", "knowledge", "people", "people_trained",
                 "mixing_ratio", "rho", "tau", "seed", "role")


def require_columns(df: pd.DataFrame, columns, what: str) -> None:
    """ValueError naming the columns ``what`` needs and the table lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs result columns {missing}; the table has {sorted(map(str, df.columns))}")


def with_role(df: pd.DataFrame) -> pd.DataFrame:
    """The table with a ``role`` column ("main" where the runner wrote none)."""
    out = df.copy()
    out["role"] = out["role"].fillna("main") if "role" in out.columns else "main"
    return out


def final_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The last evaluation of each run: the row with the largest step (the later row if repeated),
    sorted by run_id."""
    require_columns(df, ("run_id", "step"), "final_rows")
    ordered = df.reset_index(drop=True).sort_values(["run_id", "step"], kind="stable")
    return ordered.groupby("run_id", sort=True).tail(1).reset_index(drop=True)


def baseline(df: pd.DataFrame, roles=ROLES) -> pd.DataFrame:
    """Rows of runs without subsampling or compact mixing (rho = 1, tau = 0) whose role is in ``roles``."""
    out = with_role(df)
    keep = out["role"].isin(roles)
    if "rho" in out.columns:
        keep &= out["rho"].fillna(1.0) == 1.0
    if "tau" in out.columns:
        keep &= out["tau"].fillna(0.0) == 0.0
    return out[keep].reset_index(drop=True)


def _config_without_seed(config) -> str:
    if isinstance(config, str):  # a table read back from CSV keeps the config as JSON text
        try:
            config = json.loads(config)
        except ValueError:
            return config
    if not isinstance(config, dict):
        return ""
    return json.dumps({k: v for k, v in config.items() if k != "seed"}, sort_keys=True, default=str)


def setting_ids(df: pd.DataFrame) -> pd.Series:
    """A key equal for runs that differ only in their seed: the setting columns, the final tokens
    and, when present, the config without its seed."""
    frame = with_role(df)
    parts = frame[[c for c in SETTING_COLUMNS if c in frame.columns]].astype(str).agg("|".join, axis=1)
    if "config" in frame.columns:
        parts = parts + "|" + frame["config"].map(_config_without_seed)
    return parts


def run_settings(final: pd.DataFrame) -> pd.Series:
    """run_id -> setting key, from final rows: seeds of one setting (same final tokens) share it."""
    require_columns(final, ("run_id", "tokens"), "run_settings")
    return pd.Series((setting_ids(final) + "|" + final["tokens"].astype(str)).to_numpy(), index=final["run_id"].to_numpy())


def seed_summary(final: pd.DataFrame) -> pd.DataFrame:
    """One row per setting from final rows: accuracy mean/min/max over seeds, other numbers averaged."""
    require_columns(final, ("run_id", "accuracy", "tokens"), "seed_summary")
    frame = with_role(final)
    frame["setting"] = run_settings(frame).to_numpy()
    keys = [c for c in SETTING_COLUMNS if c in frame.columns]
    means = [c for c in ("tokens", "exposures_per_person", "web_loss", "knowledge_loss", "bits_stored",
                         "params_total", "people_trained") if c in frame.columns]
    grouped = frame.groupby("setting", sort=False)
    out = grouped[keys].first()
    for c in means:
        out[c] = grouped[c].mean()
    acc = grouped["accuracy"]
    out["accuracy_mean"], out["accuracy_min"], out["accuracy_max"] = acc.mean(), acc.min(), acc.max()
    out["seeds"] = grouped["run_id"].count()
    out["run_ids"] = grouped["run_id"].agg(tuple)
    return out.reset_index()


def tokens_to_target(df: pd.DataFrame, target: float) -> pd.DataFrame:
    """Tokens (and steps) each run took to reach ``target`` accuracy, one row per run.

    Between the evaluation points i-1 and i where accuracy first reaches the target, the crossing is
    interpolated linearly in accuracy against log tokens:
        log T = log t_{i-1} + (target - a_{i-1}) / (a_i - a_{i-1}) * (log t_i - log t_{i-1}).
    A run already at the target at its first evaluation gets that point's tokens with
    ``upper_bound`` True (the crossing lies somewhere before it); a run that never reaches it gets NaN
    with ``reached`` False, and its ``final_tokens`` is a lower bound on T.
    """
    if not 0.0 < float(target) <= 1.0:
        raise ValueError(f"target accuracy must be in (0, 1], got {target!r}")
    require_columns(df, ("run_id", "step", "tokens", "accuracy", "mixing_ratio", "model"), "tokens_to_target")
    frame = with_role(df)
    records = []
    for run_id, rows in frame.sort_values(["run_id", "step"], kind="stable").groupby("run_id", sort=True):
        rows = rows.drop_duplicates("step", keep="last")
        t = rows["tokens"].to_numpy(float)
        s = rows["step"].to_numpy(float)
        a = rows["accuracy"].to_numpy(float)
        hit = np.flatnonzero(a >= target)
        record = {"run_id": run_id, **{c: rows[c].iloc[-1] for c in _PASS_THROUGH if c in rows.columns},
                  "final_tokens": t[-1], "final_step": s[-1], "final_accuracy": a[-1],
                  "reached": hit.size > 0, "upper_bound": bool(hit.size and hit[0] == 0)}
        if hit.size == 0:
            record["tokens_to_target"] = record["steps_to_target"] = np.nan
        elif hit[0] == 0:
            record["tokens_to_target"], record["steps_to_target"] = t[0], s[0]
        else:
            i = hit[0]
            frac = (target - a[i - 1]) / (a[i] - a[i - 1])
            record["tokens_to_target"] = float(np.exp(np.log(t[i - 1]) + frac * np.log(t[i] / t[i - 1])))
            record["steps_to_target"] = float(np.exp(np.log(s[i - 1]) + frac * np.log(s[i] / s[i - 1])))
        records.append(record)
    return pd.DataFrame.from_records(records)


def tokens_to_target_by_ratio(table: pd.DataFrame) -> pd.DataFrame:
    """Per mixing ratio, from a ``tokens_to_target`` table: the geometric mean of T over the runs that
    reached the target (NaN if none did), and the largest final tokens of those that did not (a lower
    bound on T where no run reached it)."""
    require_columns(table, ("mixing_ratio", "tokens_to_target", "reached", "final_tokens"), "tokens_to_target_by_ratio")
    records = []
    for r, rows in table.groupby("mixing_ratio", sort=True):
        reached = rows[rows["reached"]]
        missed = rows[~rows["reached"]]
        records.append({
            "mixing_ratio": float(r),
            "tokens_to_target": float(np.exp(np.log(reached["tokens_to_target"]).mean())) if len(reached) else np.nan,
            "runs_reached": len(reached),
            "runs_missed": len(missed),
            "lower_bound_tokens": float(missed["final_tokens"].max()) if len(missed) else np.nan,
        })
    return pd.DataFrame.from_records(records)


def fit_tokens_to_target(table: pd.DataFrame, min_ratio: float | None = None) -> StepsToTargetFits:
    """``capacity.fit.fit_steps_to_target`` on T per ratio (tokens), fitted on r >= ``min_ratio``
    (all ratios that reached the target when None); reached ratios below it are held out, so each fit
    reports measured / predicted there (the paper's appendix E.5 check)."""
    per_ratio = tokens_to_target_by_ratio(table)
    measured = per_ratio[per_ratio["tokens_to_target"].notna()]
    cut = -np.inf if min_ratio is None else float(min_ratio)
    fitted = measured[measured["mixing_ratio"] >= cut]
    if len(fitted) < 3:
        where = "" if min_ratio is None else f" at r >= {cut:g}"
        raise ValueError(f"fitting T against 1/r needs at least 3 mixing ratios that reached the target{where}, "
                         f"got {len(fitted)} ({fitted['mixing_ratio'].tolist()})")
    held = measured[measured["mixing_ratio"] < cut]
    return fit_steps_to_target(fitted["mixing_ratio"], fitted["tokens_to_target"],
                               held_out=dict(zip(held["mixing_ratio"], held["tokens_to_target"])))


def match_exposures(df: pd.DataFrame, tolerance: float = 0.05) -> pd.DataFrame:
    """Pair each exposure-matched run with the main run it controls for, from final rows.

    A main run matches when model, knowledge, people, rho and tau agree, its mixing ratio is higher
    and its exposures per person are within ``tolerance`` (relative) of the control's; among
    several, one with the same seed wins, then the closest exposures. Unmatched controls keep NaN in
    the ``matched_*`` columns. ``token_ratio``: control tokens / main tokens.
    """
    if not 0.0 <= float(tolerance) < 1.0:
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance!r}")
    require_columns(df, ("run_id", "step", "model", "mixing_ratio", "tokens", "accuracy", "exposures_per_person"),
                    "match_exposures")
    final = with_role(final_rows(df))
    final["exposures_per_person"] = pd.to_numeric(final["exposures_per_person"], errors="coerce")
    controls, mains = final[final["role"] == "exposure_matched"], final[final["role"] == "main"]
    same = [c for c in ("model", "knowledge", "people", "rho", "tau") if c in final.columns]
    columns = ["run_id", "model", "seed", "mixing_ratio", "tokens", "exposures_per_person", "accuracy"]
    records = []
    for _, c in controls.iterrows():
        record = {k: c.get(k) for k in columns}
        candidates = mains[(mains[same] == c[same]).all(axis=1) & (mains["mixing_ratio"] > c["mixing_ratio"])]
        gap = (candidates["exposures_per_person"] - c["exposures_per_person"]).abs() / candidates["exposures_per_person"]
        candidates = candidates.assign(gap=gap, other_seed=candidates.get("seed") != c.get("seed"))
        candidates = candidates[candidates["gap"] <= tolerance].sort_values(["other_seed", "gap"], kind="stable")
        best = candidates.iloc[0] if len(candidates) else None
        for k in columns:
            record[f"matched_{k}"] = best[k] if best is not None else np.nan
        record["exposure_ratio"] = c["exposures_per_person"] / best["exposures_per_person"] if best is not None else np.nan
        record["token_ratio"] = c["tokens"] / best["tokens"] if best is not None else np.nan
        records.append(record)
    return pd.DataFrame.from_records(records, columns=columns + [f"matched_{k}" for k in columns]
                                     + ["exposure_ratio", "token_ratio"])


@dataclass(frozen=True)
class WebLossFit:
    """The web-loss law fitted on final runs (web_loss in nats, M = params_nonembedding) and a
    pointwise bootstrap band: percentiles over refits of resampled runs at each of ``band_sizes``."""

    law: ScalingLawFit
    sizes: tuple[float, ...]  # the runs' params_nonembedding
    losses: tuple[float, ...]  # their final web loss
    band_sizes: tuple[float, ...]
    band_low: tuple[float, ...]
    band_high: tuple[float, ...]
    band_resamples_used: int


def fit_web_loss(df: pd.DataFrame, *, mixing_ratio: float | None = None, n_bootstrap: int = 200,
                 band_resamples: int = 50, confidence: float = 0.95, seed: int = 0) -> WebLossFit:
    """Fit L(M) = C + A M^-alpha (``capacity.fit_scaling_law``) to the final web loss of the main runs
    without subsampling or CKM, at one ``mixing_ratio`` or all when None.

    The band refits ``band_resamples`` resamples of the runs (each with ``fit_scaling_law``, no inner
    bootstrap); resamples with fewer than 3 distinct sizes are skipped.
    """
    require_columns(df, ("run_id", "step", "params_nonembedding", "web_loss", "mixing_ratio"), "fit_web_loss")
    final = baseline(final_rows(df), roles=("main",))
    if mixing_ratio is not None:
        final = final[np.isclose(final["mixing_ratio"], mixing_ratio)]
    final = final[final["web_loss"].notna()]
    if final["params_nonembedding"].nunique() < 3:
        raise ValueError(f"fitting the web-loss law needs final main runs at >= 3 model sizes"
                         f"{'' if mixing_ratio is None else f' at r = {mixing_ratio:g}'}, got sizes "
                         f"{sorted(final['params_nonembedding'].unique().tolist())}")
    sizes, losses = final["params_nonembedding"].to_numpy(float), final["web_loss"].to_numpy(float)
    law = fit_scaling_law(sizes, losses, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed)
    grid = np.geomspace(sizes.min(), sizes.max(), 60)
    rng = np.random.default_rng(seed)
    curves = []
    for _ in range(band_resamples):
        idx = rng.integers(0, sizes.size, sizes.size)
        if np.unique(sizes[idx]).size < 3:
            continue
        try:
            curves.append(fit_scaling_law(sizes[idx], losses[idx], n_bootstrap=0).predict(grid))
        except RuntimeError:  # no start converged on this resample
            continue
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = (np.percentile(curves, [tail, 100.0 - tail], axis=0) if curves else (np.full(grid.size, np.nan),) * 2)
    return WebLossFit(law, tuple(sizes), tuple(losses), tuple(grid), tuple(low), tuple(high), len(curves))
