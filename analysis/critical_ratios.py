"""Critical ratios measured on the runs, their slope in size, and the headline test: a held-out size's
critical ratio predicted from the other sizes (arXiv 2505.18091, Section 4 and Table 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.tables import baseline, final_rows, require_columns
from analysis.theory_fit import theory_on_runs, threshold_curve
from capacity.critical import critical_ratio as logistic_critical_ratio
from capacity.thresholds import critical_mixing_ratio
from capacity.units import capacity_bits


def measured_critical_ratios(df: pd.DataFrame, accuracy: float = 0.1, n_boot: int = 1000,
                             seed: int = 0) -> pd.DataFrame:
    """Per model, the mixing ratio at which the final accuracy of its main runs (one budget: the most
    common) reaches ``accuracy``: the crossing of a binomial logistic fit of exact-match counts
    (accuracy x items_evaluated) against log r over all its runs and seeds, with a 95% bootstrap
    interval over people and seeds (``capacity.critical``), instead of a linear interpolation of mean
    accuracy between grid points, which reads low and carries no uncertainty. ``bound`` says when it
    is only a bound: "below" (reached at the lowest ratio swept) or "above" (never reached); the
    value is then that ratio and the interval is empty. Exposures grow with r at a fixed budget, so
    this is where learning appears in the sweep, whatever the cause; the verdict says which cause."""
    if not 0.0 < accuracy < 1.0:
        raise ValueError(f"accuracy must be in (0, 1), got {accuracy!r}")
    require_columns(df, ("items_evaluated",), "measured_critical_ratios")
    final = baseline(final_rows(df), roles=("main",))
    records = []
    for model, rows in final.groupby("model", sort=False):
        rows = rows[(rows["tokens"] == rows["tokens"].mode().iloc[0]) & (rows["mixing_ratio"] > 0)
                    & (rows["mixing_ratio"] < 1)]
        if rows["mixing_ratio"].nunique() < 2:
            continue
        items = rows["items_evaluated"].to_numpy(float)
        correct = np.rint(rows["accuracy"].to_numpy(float) * items)
        r = rows["mixing_ratio"].to_numpy(float)
        mean = rows.groupby("mixing_ratio")["accuracy"].mean().sort_index()
        seeds = rows["seed"].to_numpy() if "seed" in rows else None
        people = rows["people_evaluated"].to_numpy(float) if "people_evaluated" in rows else items
        low = high = np.nan
        if (mean >= accuracy).all():
            value, bound = float(mean.index[0]), "below"
        elif (mean < accuracy).all():
            value, bound = float(mean.index[-1]), "above"
        else:
            est = logistic_critical_ratio(r, correct, items, level=accuracy, n_boot=n_boot, seed=seed,
                                          seeds=seeds if seeds is not None and len(set(seeds)) > 1 else None,
                                          items_per_person=float(np.mean(items / np.maximum(people, 1))))
            value, bound, (low, high) = est.value, "", est.interval
        records.append({"model": model, "params_nonembedding": int(rows["params_nonembedding"].iloc[0]),
                        "tokens": int(rows["tokens"].iloc[0]), "measured_critical_ratio": value, "bound": bound,
                        "interval_low": low, "interval_high": high, "ratios_swept": len(mean),
                        "seeds": int(len(set(seeds))) if seeds is not None else 1})
    return pd.DataFrame.from_records(records, columns=["model", "params_nonembedding", "tokens",
                                                       "measured_critical_ratio", "bound", "interval_low",
                                                       "interval_high", "ratios_swept", "seeds"]
                                     ).sort_values("params_nonembedding", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class HeldOutPrediction:
    """The headline test: the theory calibrated on some model sizes predicts the
    critical mixing ratio of a size it never saw. The web-loss law is fitted without the held-out size;
    the effective bits per parameter is the one value that best matches (least squares in the log
    odds) the measured critical ratios of the calibration sizes, the theory's ratio read at the same
    accuracy level as the measurement (``TheoryOnRuns.critical_ratio``); the held-out size's critical ratio is predicted
    with both and compared with its measurement."""
    held_out: str
    params_nonembedding: int
    law_models: tuple[str, ...]
    calibration_models: tuple[str, ...]
    bits_per_parameter: float
    predicted: float
    measured: float
    calibration: pd.DataFrame  # model, measured, predicted (after calibration)

    @property
    def ratio(self) -> float:
        """predicted / measured."""
        return self.predicted / self.measured


def held_out_critical_ratio(df: pd.DataFrame, held_out: str | None = None, *, law_mixing_ratio: float | None = None,
                            accuracy: float = 0.1, n_bootstrap: int = 0) -> HeldOutPrediction:
    """Predict the critical ratio of ``held_out`` (default: the largest model whose critical ratio is
    measured, not a bound) from the other sizes' runs alone; see ``HeldOutPrediction``."""
    from scipy.optimize import minimize_scalar

    measured = measured_critical_ratios(df, accuracy)
    exact = measured[measured["bound"] == ""]
    if held_out is None:
        if exact.empty:
            raise ValueError(f"no model's critical ratio is measured (accuracy never crosses {accuracy:.0%} "
                             f"between two swept ratios): {measured[['model', 'bound']].to_dict(orient='records')}")
        held_out = str(exact.sort_values("params_nonembedding")["model"].iloc[-1])
    if held_out not in set(exact["model"]):
        raise ValueError(f"held-out model {held_out!r} has no measured critical ratio; measured: "
                         f"{sorted(exact['model'])}")
    calibration = exact[exact["model"] != held_out]
    if calibration.empty:
        raise ValueError(f"calibrating bits per parameter needs a measured critical ratio at another model than "
                         f"{held_out!r}; measured: {sorted(exact['model'])}")
    others = df[df["model"] != held_out]
    theory = theory_on_runs(others, law_mixing_ratio=law_mixing_ratio, n_bootstrap=n_bootstrap,
                            accuracy_level=accuracy)
    # The sizes the law was fitted on, by name: what the fit used, not a second selection of runs.
    names = final_rows(others).drop_duplicates("params_nonembedding").set_index("params_nonembedding")["model"]
    law_models = tuple(str(names[n]) for n in sorted(set(theory.web.sizes)))
    params = calibration["params_nonembedding"].to_numpy(float)
    measured_r = calibration["measured_critical_ratio"].to_numpy(float)
    target = np.log(measured_r / (1 - measured_r))
    shift = accuracy * theory.knowledge.entropy_bits  # read at the measurement's accuracy level

    def predict(bits_per_parameter: float, n) -> np.ndarray:
        bits = np.asarray(capacity_bits(n, bits_per_parameter), dtype=float) - shift
        return np.asarray(critical_mixing_ratio(threshold_curve(theory.law, bits_per_parameter),
                                                theory.exposure_frequency, np.maximum(bits, 1e-300)), dtype=float)

    def misfit(log_bpp: float) -> float:
        r = np.clip(predict(float(np.exp(log_bpp)), params), 1e-300, 1 - 1e-16)
        return float(np.sum((np.log(r / (1 - r)) - target) ** 2))

    lowest = np.log(max(1e-3, 1.01 * shift / params.min()))  # below it the smallest model holds < shift bits
    best = minimize_scalar(misfit, bounds=(lowest, np.log(1e3)), method="bounded",
                           options={"xatol": 1e-8})
    bpp = float(np.exp(best.x))
    row = exact[exact["model"] == held_out].iloc[0]
    table = calibration[["model", "params_nonembedding", "measured_critical_ratio"]].rename(
        columns={"measured_critical_ratio": "measured"}).assign(predicted=predict(bpp, params))
    return HeldOutPrediction(held_out, int(row["params_nonembedding"]),
                             law_models, tuple(calibration["model"]), bpp,
                             float(predict(bpp, row["params_nonembedding"])), float(row["measured_critical_ratio"]),
                             table.reset_index(drop=True))


def critical_ratio_slope(measured: pd.DataFrame, variable: str = "odds") -> float | None:
    """Slope against log M of the critical ratios measured (not bounds), by least squares; None with
    fewer than two sizes. ``variable="odds"`` (default): d log[r_c/(1 - r_c)] / d log M, the variable of
    the theory's p r/(1 - r) = g(M), whose slope is -(alpha + 1) (arXiv 2505.18091, Section 4), so the
    two compare like with like; ``"log"``: d log r_c / d log M, which equals it only for small r_c."""
    if variable not in ("odds", "log"):
        raise ValueError(f"variable must be 'odds' or 'log', got {variable!r}")
    exact = measured[measured["bound"] == ""]
    if exact["params_nonembedding"].nunique() < 2:
        return None
    r = exact["measured_critical_ratio"].to_numpy(float)
    y = np.log(r / (1 - r)) if variable == "odds" else np.log(r)
    slope, _ = np.polyfit(np.log(exact["params_nonembedding"].to_numpy(float)), y, 1)
    return float(slope)
