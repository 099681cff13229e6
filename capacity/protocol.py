"""How predictors are judged: only on sizes and budgets their fit never saw, by a rule fixed here.

Modes (each fit sees only the runs its mode leaves in; the held-out runs never reach it):

* ``leave-one-out``: for each model size with a measured r_c, fit on every run of the other sizes
  (all budgets) and predict the held-out size at each budget where its r_c is measured;
* ``extrapolate`` (axis "size"): for every size with a measured r_c and at least two measured sizes at or
  below half of it, fit on those sizes alone and predict it (so each case extrapolates >= 2x, the range
  a user needs); where no size has two such, fit on every size below the largest and predict the largest;
* ``extrapolate`` (axis "budget"): fit on the runs below the largest budget with a measured r_c,
  predict that budget.

``pick_predictor`` chooses a predictor from the calibration runs alone: inner leave-one-size-out over
the calibration sizes (each candidate fitted without one size, scored by the mean |log(predicted /
measured)| of r_c over the held-out sizes; a candidate that cannot be fitted in some inner fold
scores infinity). With fewer than three calibration sizes no inner fold can fit a size slope, and
the first candidate of ``AUTO_FALLBACK`` that fits is taken.

``paper_checks`` applies fitted predictors to the two external points of arXiv 2505.18091
(Table 1 and Fig. 2b): Pythia-70M on SynBio-320k (r_c about 0.31 at 10% accuracy) and Pythia-410M on
SynBio-1.28M (r_c between 0.3 and 0.4).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from capacity.calibration import MeasuredCritical, RunRecord, measure_critical_ratios
from capacity.predictors import FORMULAS, PREDICTORS, Fitted, knowledge_frequency
from capacity.units import PAPER_FINEWEB_EDU_LAW, synbio_bits_per_person

EXTRAPOLATION = 2.0  # the size-extrapolation folds fit on sizes at most 1/EXTRAPOLATION of the held-out one
AUTO_FALLBACK = ("odds-power-law", "logistic", "theory-bpp", "theory-budget", "theory")


@dataclass(frozen=True)
class Prediction:
    predictor: str
    mode: str  # "leave-one-out" | "extrapolate"
    axis: str  # "size" | "budget"
    held_out: str
    params: float
    tokens: float
    fitted_on: tuple[str, ...]
    measured: float
    measured_interval: tuple[float, float]
    predicted: float | None = None
    interval: tuple[float, float] | None = None
    extrapolation_factor: float = 1.0
    picked: str | None = None  # for "auto": the predictor the rule chose
    error: str = ""  # why there is no prediction

    @property
    def ratio(self) -> float | None:
        return None if self.predicted is None else self.predicted / self.measured

    @property
    def covered(self) -> bool | None:
        return None if self.interval is None else self.interval[0] <= self.measured <= self.interval[1]

    def as_dict(self) -> dict:
        out = asdict(self)
        out.update(ratio=self.ratio, covered=self.covered, fitted_on=list(self.fitted_on),
                   measured_interval=list(self.measured_interval),
                   interval=None if self.interval is None else list(self.interval))
        return out


def fit_predictor(name: str, runs: Sequence[RunRecord], level: float, n_boot: int,
                  seed: int) -> tuple[Fitted, str | None]:
    """(fitted, picked): the named predictor fitted on ``runs``; for "auto", the rule's pick on ``runs``."""
    if name == "auto":
        picked, _ = pick_predictor(runs, level=level, seed=seed)
        return PREDICTORS[picked].fit(runs, level=level, n_boot=n_boot, seed=seed), picked
    return PREDICTORS[name].fit(runs, level=level, n_boot=n_boot, seed=seed), None


def pick_predictor(runs: Sequence[RunRecord], *, level: float = 0.1, candidates: Sequence[str] | None = None,
                   seed: int = 0) -> tuple[str, dict[str, float]]:
    """(name, scores): the predictor to use, chosen on ``runs`` alone (see the module docstring)."""
    candidates = tuple(candidates or AUTO_FALLBACK)
    unknown = [c for c in candidates if c not in PREDICTORS]
    if unknown:
        raise ValueError(f"unknown predictors {unknown}; known: {sorted(PREDICTORS)}")
    measured = [m for m in measure_critical_ratios(runs, level, n_boot=20, seed=seed) if m.measured]
    models = sorted({m.model for m in measured})
    scores: dict[str, float] = {}
    if len({m.params for m in measured}) >= 3:
        for name in candidates:
            errors = []
            for model in models:
                try:
                    fitted = PREDICTORS[name].fit([r for r in runs if r.model != model], level=level, n_boot=0)
                    for m in (m for m in measured if m.model == model):
                        errors.append(abs(math.log(fitted.predict(m.params, m.tokens)[0] / m.estimate.value)))
                except ValueError:
                    errors = [math.inf]
                    break
            scores[name] = float(np.mean(errors))
        finite = {n: s for n, s in scores.items() if math.isfinite(s)}
        if finite:
            return min(finite, key=lambda n: (finite[n], candidates.index(n))), scores
    for name in candidates:
        try:
            PREDICTORS[name].fit(runs, level=level, n_boot=0)
            return name, scores
        except ValueError:
            continue
    raise ValueError(f"no predictor among {list(candidates)} can be fitted on these runs "
                     f"(models {sorted({r.model for r in runs})})")


def _predict_cases(name: str, train: Sequence[RunRecord], targets: Sequence[MeasuredCritical], mode: str, axis: str,
                   level: float, n_boot: int, seed: int) -> list[Prediction]:
    out = []
    try:
        fitted, picked = fit_predictor(name, train, level, n_boot, seed)
    except ValueError as exc:
        fitted, picked, error = None, None, str(exc)
    for t in targets:
        base = dict(predictor=name, mode=mode, axis=axis, held_out=t.model, params=t.params, tokens=t.tokens,
                    fitted_on=tuple(sorted({r.model for r in train})), measured=t.estimate.value,
                    measured_interval=t.estimate.interval)
        if fitted is None:
            out.append(Prediction(**base, error=error))
            continue
        try:
            value, interval = fitted.predict(t.params, t.tokens)
        except ValueError as exc:
            out.append(Prediction(**base, picked=picked, error=str(exc)))
            continue
        factor = max(fitted.extrapolation_factor(t.params), fitted.tokens_factor(t.tokens))
        out.append(Prediction(**base, predicted=value, interval=interval, extrapolation_factor=factor, picked=picked))
    return out


def folds(runs: Sequence[RunRecord], measured: Sequence[MeasuredCritical]):
    """(mode, axis, training runs, held-out measurements) for every fold of the protocol."""
    found = [m for m in measured if m.measured]
    for model in sorted({m.model for m in found}, key=lambda name: min(m.params for m in found if m.model == name)):
        yield "leave-one-out", "size", [r for r in runs if r.model != model], [m for m in found if m.model == model]
    if found:
        sizes = sorted({m.params for m in found})
        # Each size with >= 2 measured sizes at or below half of it: fit on those alone (>= 2x extrapolation).
        far = [M for M in sizes if len({m.params for m in found if m.params <= M / EXTRAPOLATION}) >= 2]
        for M in far:
            yield "extrapolate", "size", [r for r in runs if r.params <= M / EXTRAPOLATION], [m for m in found
                                                                                              if m.params == M]
        if not far:  # the largest size from every smaller one, however close
            train = [r for r in runs if r.params < sizes[-1]]
            if train:
                yield "extrapolate", "size", train, [m for m in found if m.params == sizes[-1]]
        budget = max(m.tokens for m in found)
        train = [r for r in runs if r.tokens < budget]
        if train and budget > min(r.tokens for r in runs):
            yield "extrapolate", "budget", train, [m for m in found if m.tokens == budget]


def evaluate(runs: Sequence[RunRecord], *, level: float = 0.1, predictors: Sequence[str] | None = None,
             n_boot: int = 200, seed: int = 0) -> tuple[list[MeasuredCritical], list[Prediction]]:
    """The measured r_c of every (model, budget) and every predictor's prediction in every fold."""
    names = list(predictors or [*PREDICTORS, "auto"])
    measured = measure_critical_ratios(runs, level, n_boot=1000, seed=seed)
    predictions = []
    for mode, axis, train, targets in folds(runs, measured):
        for name in names:
            predictions.extend(_predict_cases(name, train, targets, mode, axis, level, n_boot, seed))
    return measured, predictions


def bound_checks(runs: Sequence[RunRecord], measured: Sequence[MeasuredCritical], *, level: float = 0.1,
                 predictors: Sequence[str] | None = None) -> list[dict]:
    """Sizes whose sweep only bounds r_c (e.g. one ratio, above the level): each predictor, fitted
    without that size, against the bound."""
    out = []
    for m in (m for m in measured if m.bound in ("below", "above")):
        train = [r for r in runs if r.model != m.model]
        for name in predictors or PREDICTORS:
            row = {"predictor": name, "held_out": m.model, "params": m.params, "tokens": m.tokens, "bound": m.bound,
                   "bound_value": m.bound_value}
            try:
                value, interval = PREDICTORS[name].fit(train, level=level, n_boot=0).predict(m.params, m.tokens)
                row.update(predicted=value, consistent=bool(value < m.bound_value if m.bound == "below"
                                                            else value > m.bound_value))
            except ValueError as exc:
                row.update(predicted=None, consistent=None, error=str(exc))
            out.append(row)
    return out


# arXiv 2505.18091, Table 1 and Fig. 2b; non-embedding parameters of the GPT-NeoX configurations.
PAPER_POINTS = (
    {"name": "Pythia-70M, SynBio-320k", "params": 18_915_328, "people": 320_000, "tokens": 32e9,
     "measured": 0.31, "range": (0.30, 0.35)},
    {"name": "Pythia-410M, SynBio-1.28M", "params": 302_311_424, "people": 1_280_000, "tokens": 32e9,
     "measured": None, "range": (0.30, 0.40)},
)
PAPER_TOKENS_PER_BIOGRAPHY = 70.0  # GPT-NeoX tokens of one SynBio biography (our estimate)


def _external_log_odds(fitted: Fitted, params: float, people: int, tokens: float, runs_p: float) -> float:
    """The predictor's log odds for the paper's setting: the theory family with the paper's
    FineWeb-Edu law and knowledge set; the empirical ones shifted by log(p_ours / p_paper), the
    theory's odds ~ 1/p being the only way their constants know about the knowledge set."""
    p_paper = 1.0 / (people * PAPER_TOKENS_PER_BIOGRAPHY)
    c = dict(fitted.constants)
    if fitted.predictor in ("theory", "theory-bpp", "theory-budget"):
        law = PAPER_FINEWEB_EDU_LAW
        c.update(A=law.amplitude * law.size_unit ** law.exponent, alpha=law.exponent, p=p_paper,
                 H=people * synbio_bits_per_person())
        return FORMULAS[fitted.predictor](c, params, tokens)
    return fitted.log_odds(params, tokens) + math.log(runs_p / p_paper)


def paper_checks(fitted: Fitted, runs: Sequence[RunRecord]) -> list[dict]:
    """``fitted`` applied to the paper's two points: absolutely, and relative to the 70M measurement
    (its predicted change in the odds from 70M to 410M, people included, applied to 0.31)."""
    runs_p, _ = knowledge_frequency(runs)
    small, large = PAPER_POINTS
    out = []
    for point in PAPER_POINTS:
        row = {"point": point["name"], "predictor": fitted.predictor, "params": point["params"],
               "measured": point["measured"], "measured_range": list(point["range"]),
               "extrapolation_factor": fitted.extrapolation_factor(point["params"])}
        try:
            y = _external_log_odds(fitted, point["params"], point["people"], point["tokens"], runs_p)
            row["predicted"] = 1.0 / (1.0 + math.exp(-y))
            row["within_range"] = point["range"][0] <= row["predicted"] <= point["range"][1]
        except (ValueError, OverflowError) as exc:
            row.update(predicted=None, within_range=None, error=str(exc))
        out.append(row)
    try:
        shift = (_external_log_odds(fitted, large["params"], large["people"], large["tokens"], runs_p)
                 - _external_log_odds(fitted, small["params"], small["people"], small["tokens"], runs_p))
        y = math.log(small["measured"] / (1 - small["measured"])) + shift
        relative = 1.0 / (1.0 + math.exp(-y))
        out[1].update(predicted_from_70m=relative, odds_change_70m_to_410m=math.exp(shift),
                      within_range_from_70m=large["range"][0] <= relative <= large["range"][1])
    except (ValueError, OverflowError) as exc:
        out[1].update(predicted_from_70m=None, error_from_70m=str(exc))
    return out
