"""The theory fitted on our own runs, and the test that separates capacity from exposure counts.

``theory_on_runs`` turns a results table into the theory's inputs, all measured on the same runs:
the web-loss law L(M) = C + A M^-alpha fitted on the final web loss of the main runs against
non-embedding parameters (every ratio's runs, each corrected for the rise of the web loss with r, one
point per size: ``figures.report_measure.web_loss_at_zero_ratio``); the knowledge set from its measured statistics (people N, tokens per
exposure L, 46.6 bits per person, so each fact's exposure frequency is p = 1 / (N L) per knowledge
token, arXiv 2505.18091, Section 4); and bits per parameter (Allen-Zhu & Li's 2 by default). From these come
the predicted critical ratio of each model, the critical size at each ratio and the capacity the
optimal learner gives the knowledge, m1*(r, M).

``exposure_verdict`` reads the exposure-matched pairs: a run at ratio r and its control at r/k
trained k times longer see each person equally often. If accuracy depends only on exposures, the
pair agrees; the paper's capacity effect makes the control learn less. The verdict
names which the runs show, with the numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from capacity._validate import check_finite, check_positive
from capacity.allocation import optimal_allocation
from capacity.critical import critical_ratio as logistic_critical_ratio
from capacity.curves import PowerLawCurve
from capacity.thresholds import critical_capacity, critical_mixing_ratio
from capacity.units import KnowledgeSet, WebLossLaw, capacity_bits, params_from_capacity, synbio_bits_per_person
from figures.empirical_tables import WebLossFit, baseline, final_rows, fit_web_loss, match_exposures, require_columns
from figures.report_measure import web_loss_at_zero_ratio

# A control learning this much less than its exposure-matched main run counts as a capacity effect;
# closer pairs count as exposure-driven. 0.1 is well above the seed-to-seed spread of a few per cent.
CAPACITY_GAP = 0.10


class ThresholdPowerLaw(PowerLawCurve):
    """C + A m^-alpha for any alpha > 0. The thresholds of Theorem 4.3 (arXiv 2505.18091, Section 4)
    need only a convex, falling web curve, which this is for every alpha > 0; alpha < 1 is the
    paper's range for real web data, and a law fitted on a few small models (or without one of
    them) can land above it."""

    def __post_init__(self) -> None:
        check_finite("irreducible loss C", self.irreducible)
        check_positive("amplitude A", self.amplitude)
        check_positive("exponent alpha", self.exponent)


def threshold_curve(law: WebLossLaw, bits_per_parameter: float) -> ThresholdPowerLaw:
    """``law.capacity_curve`` (bits per token over bits of capacity) without the alpha < 1 restriction:
    F2(m) = C/ln2 + (A/ln2) (beta u)^alpha m^-alpha for a law in nats over parameters in units of u."""
    check_positive("bits_per_parameter", bits_per_parameter)
    to_bits = 1.0 / math.log(2.0) if law.loss_unit == "nats" else 1.0
    return ThresholdPowerLaw(law.irreducible * to_bits,
                             law.amplitude * to_bits * (bits_per_parameter * law.size_unit) ** law.exponent, law.exponent)


@dataclass(frozen=True)
class TheoryOnRuns:
    web: WebLossFit
    law: WebLossLaw  # nats per token over non-embedding parameters
    curve: PowerLawCurve  # the same in bits per token over bits of capacity
    knowledge: KnowledgeSet
    people: int
    tokens_per_person: float
    bits_per_parameter: float
    accuracy_level: float = 0.1  # the level the measured critical ratios are read at

    @property
    def exposure_frequency(self) -> float:
        return float(self.knowledge.groups[0].exposure_frequency)

    def critical_ratio(self, params_nonembedding, accuracy_level: float | None = None) -> np.ndarray:
        """The ratio at which a share ``accuracy_level`` (default: this theory's) of the knowledge's bits
        is stored: the onset M0- of Theorem 4.3 for a learner of beta M - level H bits, since past the
        onset the facts get exactly the capacity beyond it. This is the quantity measured as the
        ratio where accuracy reaches the level, so the two compare like with like; level 0 gives the
        onset itself."""
        level = self.accuracy_level if accuracy_level is None else float(accuracy_level)
        if not 0.0 <= level < 1.0:
            raise ValueError(f"accuracy_level must be in [0, 1), got {accuracy_level!r}")
        bits = np.asarray(capacity_bits(params_nonembedding, self.bits_per_parameter), dtype=float)
        effective = bits - level * self.knowledge.entropy_bits
        if np.any(effective <= 0):
            raise ValueError(f"a model of {float(np.min(params_nonembedding)):,.0f} parameters holds fewer bits than "
                             f"{level:.0%} of the knowledge's {self.knowledge.entropy_bits:,.0f}: no ratio reaches the level")
        return critical_mixing_ratio(self.curve, self.exposure_frequency, effective)

    def critical_size(self, mixing_ratio) -> np.ndarray:
        return params_from_capacity(critical_capacity(self.curve, self.exposure_frequency, mixing_ratio),
                                    self.bits_per_parameter)

    def knowledge_bits(self, mixing_ratio, params_nonembedding) -> np.ndarray:
        """m1*(r, M): the capacity (bits) the optimal learner gives the knowledge."""
        out = []
        for r, n in zip(np.atleast_1d(mixing_ratio), np.atleast_1d(params_nonembedding)):
            if r <= 0:
                out.append(0.0)
                continue
            if r >= 1:
                out.append(min(self.knowledge.entropy_bits, float(capacity_bits(n, self.bits_per_parameter))))
                continue
            allocation = optimal_allocation([self.knowledge.curve(), self.curve], [r, 1 - r],
                                            float(capacity_bits(n, self.bits_per_parameter)))
            out.append(float(allocation.capacity_bits[0]))
        return np.array(out)


def theory_on_runs(df: pd.DataFrame, *, law_mixing_ratio: float | None = None, bits_per_parameter: float = 2.0,
                   n_bootstrap: int = 200, seed: int = 0, accuracy_level: float = 0.1) -> TheoryOnRuns:
    """Fit the web law on the runs and describe the knowledge set they trained on.

    The law is fitted on final main runs of uniform SynBio at one token budget (the most common among
    them), every ratio included: the rise of the web loss with r is estimated within sizes and each
    run corrected to r = ``law_mixing_ratio`` (0, a web-only model, when None), then each size gives
    one point, the mean of its runs, so that neither the ratio nor the number of runs per size reads
    as an effect of size. The reference ratio only moves C: A and alpha, which set the thresholds,
    are the same for any. The knowledge set is the most common population N among those runs.
    """
    final = baseline(final_rows(df), roles=("main",))
    final = final[final["knowledge"] == "synbio"]
    if final.empty:
        found = sorted(map(str, baseline(final_rows(df))["knowledge"].unique()))
        raise ValueError(f"theory_on_runs needs final main runs of uniform SynBio (rho = 1, tau = 0); the table has "
                         f"knowledge {found}")
    final = final[final["tokens"] == final["tokens"].mode().iloc[0]]
    points, slope_in_r = web_loss_at_zero_ratio(final)
    reference = 0.0 if law_mixing_ratio is None else float(law_mixing_ratio)
    if not 0.0 <= reference < 1.0:
        raise ValueError(f"law_mixing_ratio must be in [0, 1), got {law_mixing_ratio!r}")
    points = pd.DataFrame({"run_id": [f"size-{n:.0f}" for n in points["params_nonembedding"]], "step": 0,
                           "params_nonembedding": points["params_nonembedding"], "mixing_ratio": reference,
                           "web_loss": points["web_loss"] + slope_in_r * -np.log1p(-reference), "role": "main"})
    # No bootstrap asked, no band either (the band's refits are most of the cost).
    web = fit_web_loss(points, n_bootstrap=n_bootstrap, band_resamples=50 if n_bootstrap else 0, seed=seed)
    law = WebLossLaw(web.law.C, web.law.A, web.law.alpha, loss_unit="nats", size_unit=1.0, params_kind="nonembedding")
    people = int(final["people"].mode().iloc[0])
    tokens_per_person = float(final.loc[final["people"] == people, "tokens_per_exposure"].mean())
    knowledge = KnowledgeSet.from_token_statistics(people, tokens_per_person, synbio_bits_per_person())
    return TheoryOnRuns(web, law, threshold_curve(law, bits_per_parameter), knowledge, people, tokens_per_person,
                        bits_per_parameter, accuracy_level)


@dataclass(frozen=True)
class ExposureVerdict:
    pairs: pd.DataFrame  # match_exposures' table plus "gap" = main accuracy - control accuracy
    verdict: str  # "capacity", "ratio" (beyond exposures, not capacity), "exposure", "mixed", "no pairs",
    # or, when no pair reaches the accuracy floor, "ratio (bits)", "exposure (bits)", "mixed (bits)"
    text: str


def exposure_verdict(df: pd.DataFrame, critical_ratios: dict[str, float] | None = None, tolerance: float = 0.05,
                     min_accuracy: float = 0.05) -> ExposureVerdict:
    """Compare each exposure-matched control with its main run. Pairs where the main run is near zero
    (below ``min_accuracy``) say nothing and are left out of the verdict, which is judged on the mean
    gap (main minus control accuracy) over the pairs: within ``CAPACITY_GAP`` is an exposure effect;
    above it, with every pair's gap positive, the ratio matters beyond exposures.

    A control that learns clearly less at equal exposures shows that the ratio matters beyond
    exposure counts. That is the paper's capacity effect only if the theory puts the model's critical
    ratio (``critical_ratios``, model -> r) among the ratios compared; when it lies far below them, the
    gap has another cause (e.g. forgetting between sparser exposures) and the verdict says so.
    """
    pairs = match_exposures(baseline(df, roles=("main", "exposure_matched")), tolerance)
    pairs = pairs[pairs["matched_run_id"].notna()].copy()
    if pairs.empty:
        return ExposureVerdict(pairs, "no pairs", "No exposure-matched pairs in the results: the runs cannot "
                                                  "separate capacity from exposure counts.")
    pairs["gap"] = pairs["matched_accuracy"].astype(float) - pairs["accuracy"].astype(float)
    if "bits_stored" in df.columns:
        bits = final_rows(df).set_index("run_id")["bits_stored"].astype(float)
        pairs["bits_stored"] = pairs["run_id"].map(bits)
        pairs["matched_bits_stored"] = pairs["matched_run_id"].map(bits)
        pairs["bits_ratio"] = pairs["bits_stored"] / pairs["matched_bits_stored"]
    informative = pairs[pairs["matched_accuracy"].astype(float) >= min_accuracy]
    if informative.empty:
        return _bits_verdict(pairs, min_accuracy)
    lower = informative["gap"] > CAPACITY_GAP
    mean_gap = float(informative["gap"].mean())
    spread = f"mean gap {mean_gap:+.1%} over {len(informative)} pairs, from {informative['gap'].min():+.1%} to " \
             f"{informative['gap'].max():+.1%}"
    lines = [f"r = {p['matched_mixing_ratio']:g} ({p['matched_exposures_per_person']:.0f} exposures/person, "
             f"seed {p['matched_seed']}): {p['matched_accuracy']:.1%}; control r = {p['mixing_ratio']:g} with "
             f"{p['token_ratio']:.2g}x tokens ({p['exposures_per_person']:.0f} exposures, seed {p['seed']}): "
             f"{p['accuracy']:.1%} ({p['accuracy'] / p['matched_accuracy']:.2f} of it)"
             for _, p in informative.sort_values(["matched_mixing_ratio", "seed"]).iterrows()]
    # Judged on the mean gap, because one pair's gap is as noisy as the seed-to-seed spread of a run.
    if mean_gap <= CAPACITY_GAP:
        verdict = "exposure"
        head = (f"Exposure effect: at equal exposures the controls match their main runs within {CAPACITY_GAP:.0%} "
                f"on average ({spread}); at this scale accuracy follows exposures per person, and the S-curve in r "
                f"comes from exposure counts, not from competition for capacity.")
    elif (informative["gap"] > 0).all():
        below = []
        if critical_ratios:
            for model, rows in informative.groupby("model"):
                r_c = critical_ratios.get(model)
                if r_c is not None and r_c < 0.5 * float(rows["mixing_ratio"].min()):
                    below.append(f"{model}: {r_c:.3g}")
        if below:
            verdict = "ratio"
            head = (f"The ratio matters beyond exposures: the lower-ratio controls learned less at equal exposures "
                    f"({spread}), but the theory puts the critical ratio far below every ratio compared "
                    f"({'; '.join(below)}), so its threshold as predicted does not explain the gap: either the "
                    f"models' effective capacity at this budget is far below the assumed bits per parameter, or a "
                    f"cause the theory does not model (such as forgetting between sparser exposures) is at work; "
                    f"these runs do not tell which.")
        else:
            verdict = "capacity"
            head = (f"Capacity effect: at equal exposures every lower-ratio control learned less than its main run "
                    f"({spread}), as the theory predicts and exposure counts cannot explain. Equal exposures rule out "
                    f"exposure counts; they do not by themselves rule out forgetting between sparser exposures, "
                    f"which the theory does not model.")
    else:
        verdict = "mixed"
        head = (f"Mixed: the controls learned less on average at equal exposures ({spread}), but not in every pair; "
                f"{int(lower.sum())} of {len(informative)} pairs show a gap above {CAPACITY_GAP:.0%}.")
    return ExposureVerdict(pairs, verdict, head + "\n" + "\n".join(f"- {line}" for line in lines))


def _bits_verdict(pairs: pd.DataFrame, min_accuracy: float) -> ExposureVerdict:
    """Below ``min_accuracy`` everywhere, exact-match recall cannot compare the pairs; the bits stored
    (Allen-Zhu & Li's estimate, from the cross-entropy of the values) still can."""
    known = (pairs[pairs["bits_ratio"].notna() & (pairs["matched_bits_stored"] > 0)] if "bits_ratio" in pairs
             else pairs.iloc[:0])
    if known.empty:
        return ExposureVerdict(pairs, "no pairs", "Every exposure-matched pair has its main run below "
                                                  f"{min_accuracy:.0%} accuracy: nothing learned, nothing to compare.")
    lines = [f"r = {p['matched_mixing_ratio']:g} ({p['matched_exposures_per_person']:.0f} exposures/person): "
             f"{p['matched_bits_stored']:,.0f} bits stored, accuracy {p['matched_accuracy']:.1%}; control r = "
             f"{p['mixing_ratio']:g} with {p['token_ratio']:.2g}x tokens: {p['bits_stored']:,.0f} bits "
             f"({p['bits_ratio']:.2f} of the main run's), accuracy {p['accuracy']:.1%}"
             for _, p in known.sort_values(["matched_mixing_ratio", "seed"]).iterrows()]
    worst = float(known["bits_ratio"].max())
    if worst < 2.0 / 3.0:
        verdict = "ratio (bits)"
        head = (f"Accuracy is below {min_accuracy:.0%} in every pair, so the pairs are compared by the bits of knowledge "
                f"stored. At equal exposures every lower-ratio control stored at most {worst:.2f} of its main run's "
                f"bits: the ratio matters beyond exposure counts, the direction of the paper's capacity effect, "
                f"though on a measure below the exact-match threshold.")
    elif float(known["bits_ratio"].min()) > 0.8:
        verdict = "exposure (bits)"
        head = (f"Accuracy is below {min_accuracy:.0%} in every pair; by the bits stored, each control kept at least "
                f"{float(known['bits_ratio'].min()):.2f} of its main run's bits at equal exposures: exposure counts "
                f"explain the difference.")
    else:
        verdict = "mixed (bits)"
        head = (f"Accuracy is below {min_accuracy:.0%} in every pair; by the bits stored the controls kept "
                f"{float(known['bits_ratio'].min()):.2f}-{worst:.2f} of their main runs' bits at equal exposures.")
    return ExposureVerdict(pairs, verdict, head + "\n" + "\n".join(f"- {line}" for line in lines))


def horizon_gains(df: pd.DataFrame) -> pd.DataFrame:
    """Each horizon run (role "horizon") against the main run of the same setting and ratio: final
    accuracy of each and the token multiple. Below the critical ratio the theory says training
    longer barely helps; an exposure-driven learner gains as exposures grow."""
    final = baseline(final_rows(df), roles=("main", "horizon"))
    same = [c for c in ("model", "knowledge", "people", "mixing_ratio", "seed") if c in final.columns]
    mains = final[final["role"] == "main"]
    records = []
    for _, h in final[final["role"] == "horizon"].iterrows():
        match = mains[(mains[same] == h[same]).all(axis=1)]
        if match.empty:
            continue
        m = match.iloc[0]
        records.append({"model": h["model"], "mixing_ratio": h["mixing_ratio"], "tokens": m["tokens"],
                        "accuracy": m["accuracy"], "horizon_tokens": h["tokens"], "horizon_accuracy": h["accuracy"],
                        "token_ratio": h["tokens"] / m["tokens"]})
    return pd.DataFrame.from_records(records, columns=["model", "mixing_ratio", "tokens", "accuracy", "horizon_tokens",
                                                       "horizon_accuracy", "token_ratio"])


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
