"""Predictors of the critical mixing ratio r_c of a model size (and budget) nobody trained.

One interface: ``PREDICTORS[name].fit(runs, level=...)`` returns a ``Fitted`` whose
``predict(params, tokens)`` gives r_c at the accuracy ``level`` and a 95% interval. Every predictor
is a formula for the log odds y = log(r_c / (1 - r_c)) in the non-embedding parameters M and the
training tokens T; its constants are fitted on final runs (``capacity.calibration``). The odds are
the theory's variable: Theorem 4.3 of arXiv 2505.18091 puts the threshold where
p r/(1 - r) = -F2'(M), so r/(1 - r) is what scales as a power of M, not r itself.

Intervals: each fit is repeated on bootstrap replicates of what it was fitted on (the r_c
measurements' bootstrap draws, the web-loss law's residual bootstrap, or resampled runs); the
spread of the replicates' predictions is widened, in quadrature on the log odds, by the fit's
residual standard deviation where the fit has degrees of freedom left. A fit that cannot determine
its constants raises ValueError naming what is missing.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from capacity.calibration import (MeasuredCritical, RunRecord, WebLaw, bootstrap_web_laws, fit_web_law,
                                  measure_critical_ratios)
from capacity.critical import firth_logistic
from capacity.units import synbio_bits_per_person

LN2 = math.log(2.0)
PARAMS_UNIT = 1e5  # M is scaled by this in the empirical formulas, so that their intercepts are O(1)
TOKENS_UNIT = 1e7


def _theory_log_odds(c: dict, M: float, T: float) -> float:
    """y = log[(A alpha / ln 2) beta^alpha (beta M - level H)^-(alpha+1) / p]."""
    m = c["beta"] * M - c["level"] * c["H"]
    if m <= 0:
        raise ValueError(f"a model of {M:,.0f} parameters at {c['beta']:.3g} bits each holds {c['beta'] * M:,.0f} bits, "
                         f"below the {c['level']:.0%} of the knowledge's {c['H']:,.0f} bits the level asks for")
    return (math.log(c["A"] * c["alpha"] / LN2) + c["alpha"] * math.log(c["beta"]) - (c["alpha"] + 1) * math.log(m)
            - math.log(c["p"]))


def _budget_log_odds(c: dict, M: float, T: float) -> float:
    """y = log[c (T/T0)^-gamma + K x odds_theory(M; beta = 2, onset)]."""
    theory = (c["A"] * c["alpha"] / LN2) * 2.0 ** c["alpha"] * (2.0 * M) ** -(c["alpha"] + 1) / c["p"]
    return math.log(c["c"] * (T / TOKENS_UNIT) ** -c["gamma"] + c["K"] * theory)


def _power_log_odds(c: dict, M: float, T: float) -> float:
    """y = a0 - a1 log(M / 1e5) - a2 log(T / 1e7)."""
    return c["a0"] - c["a1"] * math.log(M / PARAMS_UNIT) - c["a2"] * math.log(T / TOKENS_UNIT)


def _floor_log_odds(c: dict, M: float, T: float) -> float:
    """y = log[c + K (M/1e5)^-a] - gamma log(T/1e7)."""
    return math.log(c["c"] + c["K"] * (M / PARAMS_UNIT) ** -c["a"]) - c["gamma"] * math.log(T / TOKENS_UNIT)


def _logistic_log_odds(c: dict, M: float, T: float) -> float:
    """log r_c = (logit(level) - b0 - b2 log(M/1e5) - b3 log(T/1e7)) / b1, returned as log odds."""
    logit = math.log(c["level"] / (1 - c["level"]))
    log_r = (logit - c["b0"] - c["b2"] * math.log(M / PARAMS_UNIT) - c["b3"] * math.log(T / TOKENS_UNIT)) / c["b1"]
    if log_r >= 0:
        raise ValueError(f"the logistic model puts accuracy below {c['level']:.0%} at every ratio < 1 for "
                         f"{M:,.0f} parameters and {T:,.0f} tokens")
    return log_r - math.log1p(-math.exp(log_r))


FORMULAS: dict[str, Callable[[dict, float, float], float]] = {
    "theory": _theory_log_odds, "theory-bpp": _theory_log_odds, "theory-budget": _budget_log_odds,
    "odds-power-law": _power_log_odds, "logistic": _logistic_log_odds, "floor-power-law": _floor_log_odds,
}


def _sigmoid(y: float) -> float:
    return 1.0 / (1.0 + math.exp(-y))


@dataclass(frozen=True)
class Fitted:
    """A predictor's fitted constants, their bootstrap replicates and what they were fitted on."""

    predictor: str
    constants: dict
    draws: tuple = field(default=(), repr=False)  # bootstrap replicates of ``constants``
    residual_sd: float = 0.0  # log-odds misfit of the fit (0 when its constants are exactly determined)
    level: float = 0.1
    fitted_on: tuple[str, ...] = ()  # models
    run_ids: tuple[str, ...] = field(default=(), repr=False)
    sizes: tuple[float, float] = (0.0, 0.0)  # smallest and largest non-embedding parameters fitted on
    budgets: tuple[float, ...] = ()
    default_tokens: float = 0.0

    def log_odds(self, params: float, tokens: float | None = None, constants: dict | None = None) -> float:
        T = self.default_tokens if tokens is None else float(tokens)
        return FORMULAS[self.predictor](self.constants if constants is None else constants, float(params), T)

    def predict(self, params: float, tokens: float | None = None) -> tuple[float, tuple[float, float]]:
        """r_c at ``params`` non-embedding parameters and ``tokens`` (default: the calibration budget
        with the most runs), with a 95% interval."""
        if not (math.isfinite(params) and params > 0):
            raise ValueError(f"params must be a positive number of parameters, got {params!r}")
        if tokens is not None and not (math.isfinite(tokens) and tokens > 0):
            raise ValueError(f"tokens must be a positive number of training tokens, got {tokens!r}")
        y = self.log_odds(params, tokens)
        ys = []
        for draw in self.draws:
            try:
                ys.append(self.log_odds(params, tokens, draw))
            except (ValueError, OverflowError, ZeroDivisionError):
                continue
        lo_d, hi_d = (np.quantile(ys, [0.025, 0.975]) if len(ys) >= 20 else (y, y))
        z = 1.959964 * self.residual_sd
        lo = y - math.hypot(max(y - lo_d, 0.0), z)
        hi = y + math.hypot(max(hi_d - y, 0.0), z)
        return _sigmoid(y), (_sigmoid(lo), _sigmoid(hi))

    def extrapolation_factor(self, params: float) -> float:
        """How far ``params`` lies outside the sizes fitted on (1 inside)."""
        low, high = self.sizes
        return float(max(params / high, low / params, 1.0))

    def tokens_factor(self, tokens: float | None = None) -> float:
        """How far ``tokens`` (default: the calibration budget) lies outside the budgets fitted on (1 inside)."""
        T = self.default_tokens if tokens is None else float(tokens)
        budgets = self.budgets or (T,)
        return float(max(T / max(budgets), min(budgets) / T, 1.0))

    def as_dict(self) -> dict:
        return {"predictor": self.predictor, "constants": self.constants, "draws": list(self.draws),
                "residual_sd": self.residual_sd, "level": self.level, "fitted_on": list(self.fitted_on),
                "run_ids": list(self.run_ids), "sizes": list(self.sizes), "budgets": list(self.budgets),
                "default_tokens": self.default_tokens}

    @classmethod
    def from_dict(cls, data: dict) -> "Fitted":
        name = data.get("predictor")
        if name not in FORMULAS:
            raise ValueError(f"unknown predictor {name!r}; known: {sorted(FORMULAS)}")
        return cls(name, dict(data["constants"]), tuple(dict(d) for d in data.get("draws", ())),
                   float(data.get("residual_sd", 0.0)), float(data.get("level", 0.1)), tuple(data.get("fitted_on", ())),
                   tuple(data.get("run_ids", ())), tuple(data.get("sizes", (0.0, 0.0))), tuple(data.get("budgets", ())),
                   float(data.get("default_tokens", 0.0)))


def _meta(name: str, runs: Sequence[RunRecord], level: float, found: Sequence[MeasuredCritical] = ()) -> dict:
    """What a fit used. ``sizes`` is the range that informs the size dependence: the sizes with a
    measured r_c for a fit to measured r_c (``found``), else every run's size."""
    sized = [m.params for m in found] or [r.params for r in runs]
    return dict(level=level, fitted_on=tuple(sorted({r.model for r in runs}, key=lambda m: min(
        r.params for r in runs if r.model == m))), run_ids=tuple(r.run_id for r in runs),
        sizes=(min(sized), max(sized)),
        budgets=tuple(sorted({r.tokens for r in runs})),
        default_tokens=Counter(r.tokens for r in runs).most_common(1)[0][0])


def knowledge_frequency(runs: Sequence[RunRecord]) -> tuple[float, float]:
    """(p, H): each fact's exposure frequency per knowledge token 1/(N L) and the knowledge's bits N b,
    for the most common population N among ``runs`` (arXiv 2505.18091, Section 4)."""
    people = Counter(r.people for r in runs).most_common(1)[0][0]
    tpe = [r.tokens_per_exposure for r in runs if r.people == people and r.tokens_per_exposure > 0]
    if not tpe:
        raise ValueError("the runs record no tokens per exposure, so the exposure frequency p is unknown")
    return 1.0 / (people * float(np.mean(tpe))), people * synbio_bits_per_person()


def _measured(runs: Sequence[RunRecord], level: float, n_boot: int, seed: int, need_sizes: int) -> list[MeasuredCritical]:
    found = [m for m in measure_critical_ratios(runs, level, max(n_boot, 20), seed) if m.measured]
    if len({m.params for m in found}) < need_sizes:
        raise ValueError(f"this predictor needs a measured r_c at >= {need_sizes} model sizes, got "
                         f"{len({m.params for m in found})} ({', '.join(sorted({m.model for m in found})) or 'none'})")
    return found


def _draw_matrix(found: Sequence[MeasuredCritical], n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, points) bootstrap replicates of the measured log odds, independent across points."""
    rng = np.random.default_rng(seed + 1)
    cols = []
    for m in found:
        draws = np.asarray(m.estimate.draws, dtype=float)
        draws = draws[(draws > 0) & (draws < 1)]
        if draws.size == 0:
            draws = np.array([m.estimate.value])
        cols.append(rng.choice(draws, n_boot))
    return np.log(np.stack(cols, axis=1) / (1 - np.stack(cols, axis=1)))


def _log_odds(found: Sequence[MeasuredCritical]) -> np.ndarray:
    r = np.array([m.estimate.value for m in found])
    return np.log(r / (1 - r))


def _points_with_budget(runs: Sequence[RunRecord], level: float, n_boot: int, seed: int, what: str, need_sizes: int,
                        constants: int):
    """(found, M, T, y, with_gamma, free) for a fit to the measured r_c with ``constants`` constants and
    one more, a decay with the budget, when the r_c span two or more budgets."""
    found = _measured(runs, level, n_boot, seed, need_sizes)
    M = np.array([m.params for m in found])
    T = np.array([m.tokens for m in found])
    with_gamma = len(set(T)) > 1
    free = constants + 1 if with_gamma else constants
    if len(found) < free:
        raise ValueError(f"the {what} predictor has {free} constants but only {len(found)} measured r_c")
    return found, M, T, _log_odds(found), with_gamma, free


def _residual_sd(residuals: np.ndarray, free: int) -> float:
    dof = residuals.size - free
    return float(math.sqrt(np.sum(residuals ** 2) / dof)) if dof > 0 else 0.0


def _theory_constants(law: WebLaw, runs: Sequence[RunRecord], level: float, beta: float) -> dict:
    p, H = knowledge_frequency(runs)
    return {"C": law.C, "A": law.A, "alpha": law.alpha, "B": law.B, "beta": beta, "p": p, "H": H, "level": level}


def fit_theory(runs: Sequence[RunRecord], *, level: float = 0.1, n_boot: int = 200, seed: int = 0) -> Fitted:
    """The theory as it stands (arXiv 2505.18091, Theorem 4.3 with a power-law web loss).

    r_c / (1 - r_c) = g(beta M - level H) / p,   g(m) = (A alpha / ln 2) beta^alpha m^-(alpha+1),

    with the web loss L = C + A M^-alpha (nats per token over non-embedding parameters, fitted on the runs'
    final web losses with a term in the ratio, ``capacity.calibration.fit_web_law``) rewritten in
    bits per token over bits of capacity, beta = 2 bits per parameter, p = 1/(N L) the exposure
    frequency of a fact per knowledge token and H = 46.6 N bits. Capacity is taken at
    beta M - level H rather than beta M: at the level (e.g. 10%) a fraction ``level`` of the
    knowledge's bits must be stored beyond the onset M0-, so the prediction is compared with the
    measured crossing like with like. Assumes capacity-limited models (no dependence on the budget T)
    and the web law's form; nothing here is fitted to accuracies. Interval: residual bootstrap of the
    web law only.
    """
    law = fit_web_law(runs)
    constants = _theory_constants(law, runs, level, 2.0)
    draws = [dict(constants, C=b.C, A=b.A, alpha=b.alpha, B=b.B) for b in bootstrap_web_laws(runs, law, n_boot, seed)] \
        if n_boot else []
    return Fitted("theory", constants, tuple(draws), 0.0, **_meta("theory", runs, level))


def _best_beta(constants: dict, found_M: np.ndarray, y: np.ndarray) -> float:
    from scipy.optimize import minimize_scalar

    def misfit(log_beta: float) -> float:
        c = dict(constants, beta=math.exp(log_beta))
        total = 0.0
        for M, target in zip(found_M, y):
            try:
                total += (_theory_log_odds(c, M, 0.0) - target) ** 2
            except ValueError:
                total += 1e6
        return total

    return float(math.exp(minimize_scalar(misfit, bounds=(math.log(1e-4), math.log(1e4)), method="bounded",
                                          options={"xatol": 1e-9}).x))


def fit_theory_bpp(runs: Sequence[RunRecord], *, level: float = 0.1, n_boot: int = 200, seed: int = 0) -> Fitted:
    """The theory with calibrated bits per parameter.

    r_c / (1 - r_c) = g(beta M - level H) / p,   g(m) = (A alpha / ln 2) beta^alpha m^-(alpha+1),

    the formula of ``fit_theory`` with beta (bits per parameter, one constant) chosen by least squares
    in the log odds against the measured r_c of the calibration sizes. Assumes the theory's size
    dependence (-(alpha + 1) in the odds, alpha from the web law) and no dependence on the budget.
    Interval: the web law's bootstrap and the measured r_c's bootstrap draws, refitted together, widened
    by the fit's residual scatter.
    """
    law = fit_web_law(runs)
    found = _measured(runs, level, n_boot, seed, 1)
    M = np.array([m.params for m in found])
    y = _log_odds(found)
    constants = _theory_constants(law, runs, level, 2.0)
    constants["beta"] = _best_beta(constants, M, y)
    residuals = np.array([_theory_log_odds(constants, m, 0.0) for m in M]) - y
    draws = []
    if n_boot:
        laws = bootstrap_web_laws(runs, law, n_boot, seed)
        ys = _draw_matrix(found, len(laws), seed)
        for b, y_b in zip(laws, ys):
            c = dict(constants, C=b.C, A=b.A, alpha=b.alpha, B=b.B)
            draws.append(dict(c, beta=_best_beta(c, M, y_b)))
    return Fitted("theory-bpp", constants, tuple(draws), _residual_sd(residuals, 1), **_meta("theory-bpp", runs, level, found))


def _fit_budget_constants(base: dict, M: np.ndarray, T: np.ndarray, y: np.ndarray, with_gamma: bool) -> dict:
    from scipy.optimize import least_squares

    def unpack(theta):
        return dict(base, c=math.exp(theta[0]), K=math.exp(theta[1]), gamma=float(theta[2]) if with_gamma else 0.0)

    def residuals(theta):
        c = unpack(theta)
        return np.array([_budget_log_odds(c, m, t) for m, t in zip(M, T)]) - y

    best = None
    for start in ([-1.0, -2.0, 0.3], [-3.0, 0.0, 0.0], [0.0, -5.0, 1.0]):
        sol = least_squares(residuals, start if with_gamma else start[:2], bounds=(
            [-30, -30, -3][: 3 if with_gamma else 2], [10, 10, 3][: 3 if with_gamma else 2]))
        if best is None or sol.cost < best.cost:
            best = sol
    return unpack(best.x)


def fit_theory_budget(runs: Sequence[RunRecord], *, level: float = 0.1, n_boot: int = 200, seed: int = 0) -> Fitted:
    """The theory with a budget term: a budget-dependent floor plus the theory's capacity term.

    r_c / (1 - r_c) = c (T / 1e7)^-gamma + K g_2(2 M) / p,

    g_2 the web law's marginal value at beta = 2 bits per parameter (``fit_theory``, onset), K a
    multiplier of the theory's capacity term, c and gamma the floor's size and its decay with the
    training tokens T. Hypothesis: below capacity, knowledge is limited by exposures (the floor, which
    falls as training lengthens) and, in larger models, by competition for capacity (the theory's
    M^-(alpha+1)). gamma is fitted only when the measured r_c span two or more budgets (else 0).
    Interval: the web law's and the measured r_c's bootstrap, refitted, widened by residual scatter.
    """
    law = fit_web_law(runs)
    found, M, T, y, with_gamma, free = _points_with_budget(runs, level, n_boot, seed, "budget", 2, 2)
    base = _theory_constants(law, runs, level, 2.0)
    constants = _fit_budget_constants(base, M, T, y, with_gamma)
    residuals = np.array([_budget_log_odds(constants, m, t) for m, t in zip(M, T)]) - y
    draws = []
    if n_boot:
        laws = bootstrap_web_laws(runs, law, n_boot, seed)
        for b, y_b in zip(laws, _draw_matrix(found, len(laws), seed)):
            draws.append(_fit_budget_constants(dict(base, C=b.C, A=b.A, alpha=b.alpha, B=b.B), M, T, y_b, with_gamma))
    return Fitted("theory-budget", constants, tuple(draws), _residual_sd(residuals, free),
                  **_meta("theory-budget", runs, level, found))


def fit_odds_power_law(runs: Sequence[RunRecord], *, level: float = 0.1, n_boot: int = 200, seed: int = 0) -> Fitted:
    """An empirical power law in the odds.

    log[r_c / (1 - r_c)] = a0 - a1 log(M / 1e5) - a2 log(T / 1e7),

    least squares on the measured r_c (one point per model size and budget). The form of the theory's
    r_c/(1 - r_c) ~ M^-(alpha+1) with the exponent a1 measured rather than derived from the web loss,
    and a budget exponent a2 (fitted only when the measured r_c span two or more budgets, else 0).
    Assumes a straight line in log-log over the extrapolated range and a fixed knowledge set.
    Interval: the measured r_c's bootstrap draws, refitted, widened by residual scatter.
    """
    found = _measured(runs, level, n_boot, seed, 2)
    x1 = np.log(np.array([m.params for m in found]) / PARAMS_UNIT)
    x2 = np.log(np.array([m.tokens for m in found]) / TOKENS_UNIT)
    with_budget = len(set(x2)) > 1
    design = np.stack([np.ones_like(x1), -x1] + ([-x2] if with_budget else []), axis=1)
    y = _log_odds(found)

    def solve(target: np.ndarray) -> dict:
        coef = np.linalg.lstsq(design, target, rcond=None)[0]
        return {"a0": float(coef[0]), "a1": float(coef[1]), "a2": float(coef[2]) if with_budget else 0.0}

    constants = solve(y)
    draws = [solve(y_b) for y_b in _draw_matrix(found, n_boot, seed)] if n_boot else []
    residuals = design @ np.array([constants["a0"], constants["a1"]] + ([constants["a2"]] if with_budget else [])) - y
    return Fitted("odds-power-law", constants, tuple(draws), _residual_sd(residuals, design.shape[1]),
                  **_meta("odds-power-law", runs, level, found))


def _fit_floor_constants(M: np.ndarray, T: np.ndarray, y: np.ndarray, with_gamma: bool) -> dict:
    from scipy.optimize import least_squares

    x_m, x_t = np.log(M / PARAMS_UNIT), np.log(T / TOKENS_UNIT)

    def unpack(theta) -> dict:
        return {"c": math.exp(theta[0]), "K": math.exp(theta[1]), "a": float(theta[2]),
                "gamma": float(theta[3]) if with_gamma else 0.0}

    def residuals(theta):
        gamma = theta[3] if with_gamma else 0.0
        return np.logaddexp(theta[0], theta[1] - theta[2] * x_m) - gamma * x_t - y

    n = 4 if with_gamma else 3
    best = None
    for start in ([-1.5, -1.0, 1.0, 0.5], [-3.0, 0.0, 0.5, 0.0], [-0.5, -2.0, 2.0, 1.0]):
        sol = least_squares(residuals, start[:n], bounds=([-30, -30, 0.0, -3][:n], [10, 10, 6.0, 3][:n]))
        if best is None or sol.cost < best.cost:
            best = sol
    return unpack(best.x)


def fit_floor_power_law(runs: Sequence[RunRecord], *, level: float = 0.1, n_boot: int = 200, seed: int = 0) -> Fitted:
    """An empirical floor under a power law in the odds, both scaled by the budget.

    r_c / (1 - r_c) = [c + K (M / 1e5)^-a] (T / 1e7)^-gamma,

    least squares in the log odds on the measured r_c. Below the floor's reach the odds fall as a power
    of the size, as in ``odds-power-law``; in large models they level off at c T^-gamma, where
    exposures, not capacity, limit what is learned; a longer budget lowers both by the same factor.
    gamma is fitted only when the measured r_c span two or more budgets (else 0). Written after the
    prediction study's r_c at 2.76M tokens were seen to stop falling beyond 500k non-embedding
    parameters and to fall by the same factor with 4x the tokens at two sizes, so it is not among the
    rule's candidates (``capacity.protocol.AUTO_FALLBACK``) and its scores on those runs are a
    description, not a test; predictions written down before later runs finished are
    (``capacity.preregister``). Interval: the measured r_c's bootstrap draws, refitted, widened by
    residual scatter.
    """
    found, M, T, y, with_gamma, free = _points_with_budget(runs, level, n_boot, seed, "floor", 3, 3)
    constants = _fit_floor_constants(M, T, y, with_gamma)
    residuals = np.array([_floor_log_odds(constants, m, t) for m, t in zip(M, T)]) - y
    draws = [_fit_floor_constants(M, T, y_b, with_gamma) for y_b in _draw_matrix(found, n_boot, seed)] if n_boot else []
    return Fitted("floor-power-law", constants, tuple(draws), _residual_sd(residuals, free),
                  **_meta("floor-power-law", runs, level, found))


def _logistic_design(runs: Sequence[RunRecord], with_budget: bool) -> np.ndarray:
    cols = [np.ones(len(runs)), np.log([r.ratio for r in runs]), np.log([r.params / PARAMS_UNIT for r in runs])]
    if with_budget:
        cols.append(np.log([r.tokens / TOKENS_UNIT for r in runs]))
    return np.stack(cols, axis=1)


def fit_logistic(runs: Sequence[RunRecord], *, level: float = 0.1, n_boot: int = 200, seed: int = 0) -> Fitted:
    """A logistic model of accuracy in (log r, log M, log T).

    logit P(correct) = b0 + b1 log r + b2 log(M / 1e5) + b3 log(T / 1e7),

    a Firth-penalised binomial fit to every calibration run's exact-match counts, so that runs whose
    sweep does not bracket the level (a single ratio of a large model, a long run at low ratios)
    still count. r_c at the level follows by solving for log r. Assumes a slope in log r shared by
    all sizes and budgets and additive effects of log M and log T; b3 is fitted only when the runs
    span two or more budgets (else 0). Interval: bootstrap of the runs within each (size, budget),
    with their items resampled over people.
    """
    runs = [r for r in runs if 0.0 < r.ratio < 1.0]
    if len({r.params for r in runs}) < 2:
        raise ValueError(f"the logistic model needs runs at >= 2 model sizes, got {len({r.params for r in runs})}")
    with_budget = len({r.tokens for r in runs}) > 1
    design = _logistic_design(runs, with_budget)
    k = np.array([r.correct for r in runs])
    n = np.array([r.total for r in runs])
    coef, ok = firth_logistic(design, k, n)
    if not ok or coef[1] <= 0:
        raise ValueError(f"the logistic model needs accuracy rising with r; fitted slope in log r {coef[1]:.4g}")

    def pack(c) -> dict:
        return {"b0": float(c[0]), "b1": float(c[1]), "b2": float(c[2]), "b3": float(c[3]) if with_budget else 0.0,
                "level": level}

    draws = []
    if n_boot:
        rng = np.random.default_rng(seed)
        strata: dict = {}
        for i, r in enumerate(runs):
            strata.setdefault((r.params, r.tokens), []).append(i)
        idx = np.concatenate([rng.choice(np.array(m), size=(n_boot, len(m))) for m in strata.values()], axis=1)
        people = np.maximum(np.rint(n[idx] / np.array([r.items_per_person for r in runs])[idx]), 1)
        p = (k[idx] + 0.5) / (n[idx] + 1.0)
        kb = rng.binomial(people.astype(np.int64), p) * (n[idx] / people)
        coefs, oks = firth_logistic(design[idx], kb, n[idx])
        draws = [pack(c) for c, good in zip(coefs, oks) if good and c[1] > 0]
    return Fitted("logistic", pack(coef), tuple(draws), 0.0, **_meta("logistic", runs, level))


@dataclass(frozen=True)
class Predictor:
    name: str
    fit_function: Callable[..., Fitted]

    def fit(self, runs: Sequence[RunRecord], *, level: float = 0.1, n_boot: int = 200, seed: int = 0) -> Fitted:
        if not runs:
            raise ValueError(f"predictor {self.name!r} needs runs to fit on, got none")
        if not 0.0 < level < 1.0:
            raise ValueError(f"accuracy level must be in (0, 1), got {level!r}")
        return self.fit_function(runs, level=level, n_boot=n_boot, seed=seed)

    @property
    def equation(self) -> str:
        return (self.fit_function.__doc__ or "").strip().split("\n\n")[1].strip()


PREDICTORS: dict[str, Predictor] = {p.name: p for p in (
    Predictor("theory", fit_theory), Predictor("theory-bpp", fit_theory_bpp),
    Predictor("theory-budget", fit_theory_budget), Predictor("odds-power-law", fit_odds_power_law),
    Predictor("logistic", fit_logistic), Predictor("floor-power-law", fit_floor_power_law))}
