"""Fits that turn measurements into the theory's inputs and checks (arXiv 2505.18091, Secs. 3-5).

(a) ``fit_scaling_law``: the web-loss law L(M) = C + A M^-alpha, fitted the robust way of the Epoch AI
    Chinchilla replication (Besiroglu et al. 2024): C = exp(c), A = exp(a), minimise
    sum_i Huber_delta(log L_pred(M_i) - log L_i) with L-BFGS-B from a grid of starts, keep the best,
    and bootstrap the points for percentile intervals.
(b) ``threshold_frequency_grouped`` (paper Fig. 7) and ``threshold_popularity`` (the paper's
    Algorithm 1, our reading): where, by falling frequency, accuracy stops meeting a target.
(c) ``fit_steps_to_target``: steps T to a target accuracy against 1/r (paper appendix E.5),
    exponential T = A exp(B/r) and power law T = C r^-D, with measured/predicted at held-out ratios.
(d) ``fit_power_law_slope``: log y = intercept + slope log x (threshold frequency against model
    size; the theory predicts slope -(alpha + 1), Section 4).

Units are the caller's throughout: M, losses, frequencies and steps are fitted in whatever unit the
points use, and predictions come back in the same units. Logarithms are natural.
Only numpy and scipy: this module must stay importable without torch.
"""
from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

try:  # optional: see _single_thread_blas
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - depends on the environment
    threadpool_limits = None

# L-BFGS-B needs closed bounds; alpha in [ALPHA_MIN, ALPHA_MAX] stands for the (0, 2] of the brief.
# An exponent above 2 would mean loss falling faster than 1/M^2, far outside any measured LM law.
ALPHA_MIN = 1e-8
ALPHA_MAX = 2.0
DEFAULT_HUBER_DELTA = 1e-3  # Besiroglu et al. 2024, following Hoffmann et al. 2022


# --------------------------------------------------------------------------- validation


def _array(name: str, values, *, min_len: int = 1) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size < min_len:
        raise ValueError(f"{name} must have at least {min_len} values, got {arr.size}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name} must be finite, got {float(arr[bad][0])!r}")
    return arr


def _positive(name: str, arr: np.ndarray) -> None:
    bad = arr <= 0
    if bad.any():
        raise ValueError(f"{name} must be > 0, got {float(arr[bad][0])!r}")


def _in_range(name: str, arr: np.ndarray, low: float, high: float, *, low_open: bool, high_open: bool) -> None:
    below = arr <= low if low_open else arr < low
    above = arr >= high if high_open else arr > high
    bad = below | above
    if bad.any():
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {float(arr[bad][0])!r}")


def _scalar_in(name: str, value, low: float, high: float, *, low_open: bool, high_open: bool) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")
    _in_range(name, np.array([x]), low, high, low_open=low_open, high_open=high_open)
    return x


def _same_length(names: tuple[str, str], a: np.ndarray, b: np.ndarray) -> None:
    if a.size != b.size:
        raise ValueError(f"{names[0]} and {names[1]} must have the same length, got {a.size} and {b.size}")


def _count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0 or a numpy Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def _percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return float(low), float(high)


def _positive_query(name: str, values) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        raise ValueError(f"{name} must be finite and > 0, got {float(arr[bad].flat[0])!r}")
    return arr


# --------------------------------------------------------------------------- (a) scaling law


@dataclass(frozen=True)
class ScalingLawFit:
    """L(M) = C + A M^-alpha, M and L in the units of the fitted points.

    Intervals are bootstrap percentile intervals at ``confidence`` (None when ``n_bootstrap_used``
    is 0). ``objective`` is sum_i Huber_delta(log L_pred - log L_obs) at the fit.
    """

    C: float
    A: float
    alpha: float
    C_interval: tuple[float, float] | None
    A_interval: tuple[float, float] | None
    alpha_interval: tuple[float, float] | None
    confidence: float
    n_points: int
    n_bootstrap_used: int
    huber_delta: float
    objective: float

    def predict(self, M):
        """C + A M^-alpha, elementwise."""
        m = _positive_query("M", M)
        return self.C + self.A * m ** (-self.alpha)

    def slope(self, M):
        """dL/dM = -A alpha M^-(alpha+1): minus the web's marginal value of capacity (Theorem 4.3)."""
        m = _positive_query("M", M)
        return -self.A * self.alpha * m ** (-self.alpha - 1.0)


def _huber_objective(theta: np.ndarray, log_m: np.ndarray, log_l: np.ndarray, delta: float):
    """sum Huber_delta(r)/delta and its gradient, r = logsumexp(c, a - alpha log M) - log L.

    Dividing by delta leaves the minimiser unchanged and keeps the objective O(1) per point so
    that L-BFGS-B's default tolerances are meaningful even for delta = 1e-3.
    """
    c, a, alpha = theta
    z_web = a - alpha * log_m
    log_pred = np.logaddexp(c, z_web)
    r = log_pred - log_l
    abs_r = np.abs(r)
    value = np.where(abs_r <= delta, 0.5 * r * r, delta * (abs_r - 0.5 * delta)).sum() / delta
    dr = np.clip(r, -delta, delta) / delta
    w_c = np.exp(c - log_pred)
    w_a = np.exp(z_web - log_pred)
    grad = np.array([(dr * w_c).sum(), (dr * w_a).sum(), -(dr * w_a * log_m).sum()])
    return value, grad


def _start_grid(
    log_m: np.ndarray,
    log_l: np.ndarray,
    c_fractions=(0.2, 0.7, 0.95),
    alphas=(0.1, 0.3, 0.6, 1.2),
    a_shifts=(-1.0, 0.0, 1.0),
) -> np.ndarray:
    """Starting points (c, a, alpha) scaled to the data, so any unit of M works.

    C is a fraction of the smallest loss; for each (C, alpha) the centre value a0 puts the curve
    through the mean log-loss at the mean log-size, and the shifts bracket it.
    """
    l_min = np.exp(log_l.min())
    log_m_mid, l_mid = log_m.mean(), np.exp(log_l.mean())
    starts = []
    for c_fraction in c_fractions:
        c = np.log(c_fraction * l_min)
        gap = max(l_mid - c_fraction * l_min, 1e-3 * l_mid)
        for alpha in alphas:
            a0 = np.log(gap) + alpha * log_m_mid
            starts.extend((c, a0 + shift, alpha) for shift in a_shifts)
    return np.array(starts)


def _single_thread_blas():
    """Pin BLAS to one thread while L-BFGS-B runs, when threadpoolctl is installed.

    scipy's L-BFGS-B calls OpenBLAS on 3x3 problems; with OpenBLAS's worker threads on a busy
    machine, one fit measured 10-60x slower (1 s against 7-70 s on 2 shared cores).
    """
    return threadpool_limits(limits=1, user_api="blas") if threadpool_limits else nullcontext()


def _minimise(starts: np.ndarray, log_m: np.ndarray, log_l: np.ndarray, delta: float):
    """The lowest-objective L-BFGS-B run among the starts that converged; None if none did."""
    bounds = [(None, None), (None, None), (ALPHA_MIN, ALPHA_MAX)]
    best = None
    for x0 in starts:
        res = optimize.minimize(
            _huber_objective, x0, args=(log_m, log_l, delta), jac=True, method="L-BFGS-B", bounds=bounds
        )
        if res.success and np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    return best


def fit_scaling_law(
    sizes,
    losses,
    *,
    huber_delta: float = DEFAULT_HUBER_DELTA,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed=0,
) -> ScalingLawFit:
    """Fit L(M) = C + A M^-alpha to (size, loss) points; M's unit is whatever ``sizes`` use.

    Parametrisation C = exp(c), A = exp(a) keeps both positive; the objective
        sum_i Huber_delta( logsumexp(c, a - alpha log M_i) - log L_i )
    is minimised by L-BFGS-B from a grid of 36 starts over (c, a, alpha) (see ``_start_grid``) with
    alpha bounded to [ALPHA_MIN, ALPHA_MAX] = [1e-8, 2]; the lowest objective wins. With a small delta
    (default 1e-3) Huber acts like an absolute loss on the log residuals, so one wild point barely
    moves the fit (Besiroglu et al. 2024). Bootstrap: ``n_bootstrap`` resamples of the points with
    replacement, each refitted from the full-data optimum and a few grid starts; resamples with
    fewer than 3 distinct sizes cannot identify 3 parameters and are skipped, as are resamples
    where no start converged, so the returned ``n_bootstrap_used`` may be below ``n_bootstrap``.
    Only runs that L-BFGS-B reports as converged are kept; RuntimeError if none on the full data.
    """
    m = _array("sizes", sizes, min_len=3)
    loss = _array("losses", losses, min_len=3)
    _same_length(("sizes", "losses"), m, loss)
    _positive("sizes", m)
    _positive("losses", loss)
    if np.unique(m).size < 3:
        raise ValueError(f"sizes must contain at least 3 distinct values, got {np.unique(m).size}")
    delta = _scalar_in("huber_delta", huber_delta, 0.0, np.inf, low_open=True, high_open=True)
    n_boot = _count("n_bootstrap", n_bootstrap)
    conf = _scalar_in("confidence", confidence, 0.0, 1.0, low_open=True, high_open=True)
    rng = _rng(seed)

    log_m, log_l = np.log(m), np.log(loss)
    samples = []
    with _single_thread_blas():
        best = _minimise(_start_grid(log_m, log_l), log_m, log_l, delta)
        if best is None:
            raise RuntimeError("scaling-law fit: L-BFGS-B converged from none of the starting points")
        for _ in range(n_boot):
            idx = rng.integers(0, m.size, size=m.size)
            if np.unique(m[idx]).size < 3:
                continue
            # The full-data optimum plus two starts (low and high C): the full grid per resample
            # would cost 12x more, and a resample's optimum lies near the full-data one.
            starts = np.vstack([best.x, _start_grid(log_m[idx], log_l[idx], (0.2, 0.95), (0.3,), (0.0,))])
            refit = _minimise(starts, log_m[idx], log_l[idx], delta)
            if refit is not None:
                samples.append(refit.x)
    c, a, alpha = best.x
    intervals: list[tuple[float, float] | None] = [None, None, None]
    if samples:
        params = np.array(samples)
        params[:, :2] = np.exp(params[:, :2])
        intervals = [_percentile_interval(params[:, j], conf) for j in range(3)]

    return ScalingLawFit(
        C=float(np.exp(c)),
        A=float(np.exp(a)),
        alpha=float(alpha),
        C_interval=intervals[0],
        A_interval=intervals[1],
        alpha_interval=intervals[2],
        confidence=conf,
        n_points=int(m.size),
        n_bootstrap_used=len(samples),
        huber_delta=delta,
        objective=float(best.fun * delta),
    )


# --------------------------------------------------------------------------- (b) thresholds


@dataclass(frozen=True)
class GroupedThreshold:
    """Threshold frequency from grouped accuracy (paper Fig. 7).

    ``threshold_frequency`` is None when every group meets the target: the threshold then lies
    below the lowest frequency measured and is only bounded, not located (a censored point that
    must not enter a power-law fit as if measured). ``index`` is the group's position in the
    caller's arrays, ``rank`` its position after sorting by frequency descending.
    """

    threshold_frequency: float | None
    index: int | None
    rank: int | None
    target: float

    @property
    def all_learned(self) -> bool:
        return self.threshold_frequency is None


def threshold_frequency_grouped(frequencies, accuracies, target: float = 0.8) -> GroupedThreshold:
    """Frequency of the first group, by frequency descending, whose accuracy is below ``target``.

    Ties in frequency keep the caller's order (stable sort). If no group is below target the result
    has ``threshold_frequency=None`` (see GroupedThreshold). If every group is below target the
    rule itself returns the highest frequency: the threshold is at or above everything measured.
    Accuracies are fractions in [0, 1].
    """
    freq = _array("frequencies", frequencies)
    acc = _array("accuracies", accuracies)
    _same_length(("frequencies", "accuracies"), freq, acc)
    _positive("frequencies", freq)
    _in_range("accuracies", acc, 0.0, 1.0, low_open=False, high_open=False)
    tgt = _scalar_in("target", target, 0.0, 1.0, low_open=True, high_open=False)

    order = np.argsort(-freq, kind="stable")
    below = np.flatnonzero(acc[order] < tgt)
    if below.size == 0:
        return GroupedThreshold(None, None, None, tgt)
    rank = int(below[0])
    index = int(order[rank])
    return GroupedThreshold(float(freq[index]), index, rank, tgt)


@dataclass(frozen=True)
class PopularityThreshold:
    """Result of Algorithm 1 (threshold popularity).

    ``threshold_popularity``: the estimate. ``target_met``: False when the cumulative accuracy never
    met the target before the walk stopped, in which case the estimate falls back to the smallest
    popularity as the algorithm prescribes, and should be read as "no threshold found".
    ``n_failures``: dips counted before the walk ended; ``stopped_early``: the walk hit the tolerance.
    """

    threshold_popularity: float
    target_met: bool
    n_failures: int
    stopped_early: bool
    target: float
    max_failures: int


def threshold_popularity(popularity, correct, target: float = 0.6, max_failures: int = 5) -> PopularityThreshold:
    """The paper's Algorithm 1 (arXiv 2505.18091, Section 5 and its appendix; our reading), for PopQA-style data.

    1. Sort the questions by popularity, descending. Questions of equal popularity form one step,
       so the result does not depend on the order of ties.
    2. Walk the steps from the most popular; at each step compute the cumulative accuracy
       acc(x) = mean(correct of all questions with popularity >= x).
    3. If acc(x) >= target, x becomes the current threshold. Otherwise count one failure (failures
       accumulate and are never reset); when the count exceeds ``max_failures`` the walk stops.
    4. Return the last x where acc(x) met the target; if it never did, the smallest popularity.
    The tolerance absorbs the noise of the cumulative accuracy over the first few questions.
    ``correct`` holds 0/1 (or booleans).
    """
    pop = _array("popularity", popularity)
    ok = _array("correct", correct)
    _same_length(("popularity", "correct"), pop, ok)
    _positive("popularity", pop)
    bad = (ok != 0) & (ok != 1)
    if bad.any():
        raise ValueError(f"correct must be 0 or 1, got {float(ok[bad][0])!r}")
    tgt = _scalar_in("target", target, 0.0, 1.0, low_open=True, high_open=False)
    n_fail_max = _count("max_failures", max_failures)

    order = np.argsort(-pop, kind="stable")
    pop_sorted, ok_sorted = pop[order], ok[order]
    # Last position of each run of equal popularity: where a step's cumulative accuracy is read.
    step_end = np.flatnonzero(np.append(pop_sorted[1:] != pop_sorted[:-1], True))
    cumulative = np.cumsum(ok_sorted)[step_end] / (step_end + 1)

    # The walk of step 3, vectorised (bootstraps call this thousands of times on PopQA-sized data):
    # it covers the steps before the one where the failure count first exceeds the tolerance.
    meets = cumulative >= tgt
    failures_so_far = np.cumsum(~meets)
    over = np.flatnonzero(failures_so_far > n_fail_max)
    stopped = bool(over.size)
    end = int(over[0]) if stopped else meets.size
    failures = int(failures_so_far[over[0]] if stopped else failures_so_far[-1])
    met_steps = np.flatnonzero(meets[:end])
    threshold = float(pop_sorted[step_end][met_steps[-1]]) if met_steps.size else None
    met = threshold is not None
    return PopularityThreshold(
        threshold_popularity=threshold if met else float(pop_sorted[-1]),
        target_met=met,
        n_failures=failures,
        stopped_early=stopped,
        target=tgt,
        max_failures=n_fail_max,
    )


# --------------------------------------------------------------------------- (c) steps to target


@dataclass(frozen=True)
class HeldOutRatio:
    """A ratio left out of the fit: measured steps against the fit's extrapolation."""

    mixing_ratio: float
    measured_steps: float
    predicted_steps: float

    @property
    def measured_over_predicted(self) -> float:
        return self.measured_steps / self.predicted_steps


@dataclass(frozen=True)
class ExponentialStepsFit:
    """T = A exp(B / r), from least squares of log T on 1/r; ``r_squared`` is on log T."""

    log_A: float
    B: float
    r_squared: float
    held_out: tuple[HeldOutRatio, ...]

    @property
    def A(self) -> float:
        return float(np.exp(self.log_A))

    def predict(self, mixing_ratio):
        r = _positive_query("mixing_ratio", mixing_ratio)
        return np.exp(self.log_A + self.B / r)


@dataclass(frozen=True)
class PowerLawStepsFit:
    """T = C r^-D, from least squares of log T on log r; ``r_squared`` is on log T."""

    C: float
    D: float
    r_squared: float
    held_out: tuple[HeldOutRatio, ...]

    @property
    def log_C(self) -> float:
        return float(np.log(self.C))

    def predict(self, mixing_ratio):
        r = _positive_query("mixing_ratio", mixing_ratio)
        return self.C * r ** (-self.D)


@dataclass(frozen=True)
class StepsToTargetFits:
    exponential: ExponentialStepsFit
    power_law: PowerLawStepsFit


def _line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Ordinary least squares y = intercept + slope x; R^2 = 1 - SS_res / SS_tot (1 if SS_tot = 0)."""
    slope, intercept = np.polyfit(x, y, 1)
    ss_res = float(np.sum((y - (intercept + slope * x)) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 if ss_tot == 0.0 else 1.0 - ss_res / ss_tot
    return float(intercept), float(slope), r2


def _mixing_ratios(name: str, values, min_len: int) -> np.ndarray:
    r = _array(name, values, min_len=min_len)
    _in_range(name, r, 0.0, 1.0, low_open=True, high_open=False)
    return r


def fit_steps_to_target(mixing_ratios, steps, held_out: Mapping[float, float] | None = None) -> StepsToTargetFits:
    """Fit steps (or tokens) to a target accuracy against the mixing ratio (paper appendix E.5).

    Exponential: log T = log A + B (1/r).   Power law: log T = log C - D log r.
    Both by ordinary least squares in log T; R^2 is computed on log T. ``held_out`` maps ratios
    that were not fitted to their measured T; each fit reports measured / predicted there (the
    paper: at r = 0.25 measured T exceeds the power law by > 2.9x and the exponential by > 2x).
    T's unit (steps, billions of tokens) is the caller's and carries to A and C.
    """
    r = _mixing_ratios("mixing_ratios", mixing_ratios, 3)
    t = _array("steps", steps, min_len=3)
    _same_length(("mixing_ratios", "steps"), r, t)
    _positive("steps", t)
    if np.unique(r).size < 2:
        raise ValueError(f"mixing_ratios must contain at least 2 distinct values, got {np.unique(r).size}")
    if held_out is None:
        held_out = {}
    if not isinstance(held_out, Mapping):
        raise ValueError(f"held_out must be a mapping of mixing ratio to measured steps, got {held_out!r}")
    held_r = _mixing_ratios("held_out mixing ratios", list(held_out.keys()), 0)
    held_t = _array("held_out steps", list(held_out.values()), min_len=0)
    _positive("held_out steps", held_t)

    log_t = np.log(t)
    log_a, b, r2_exp = _line_fit(1.0 / r, log_t)
    log_c, minus_d, r2_pow = _line_fit(np.log(r), log_t)

    def checks(predicted: np.ndarray) -> tuple[HeldOutRatio, ...]:
        return tuple(HeldOutRatio(float(x), float(y), float(p)) for x, y, p in zip(held_r, held_t, predicted))

    exponential = ExponentialStepsFit(log_a, b, r2_exp, checks(np.exp(log_a + b / held_r)))
    power_law = PowerLawStepsFit(float(np.exp(log_c)), -minus_d, r2_pow, checks(np.exp(log_c) * held_r**minus_d))
    return StepsToTargetFits(exponential, power_law)


# --------------------------------------------------------------------------- (d) power-law slope


@dataclass(frozen=True)
class PowerLawSlopeFit:
    """log y = intercept + slope log x (natural logs), i.e. y = exp(intercept) x^slope.

    ``slope_interval``: t-based, slope +- t_{(1+confidence)/2, n-2} * stderr (scipy linregress).
    ``slope_interval_bootstrap``: percentile interval over resampled points, None if not requested.
    """

    slope: float
    intercept: float
    slope_stderr: float
    slope_interval: tuple[float, float]
    slope_interval_bootstrap: tuple[float, float] | None
    r_squared: float
    confidence: float
    n_points: int
    n_bootstrap_used: int

    @property
    def prefactor(self) -> float:
        return float(np.exp(self.intercept))

    def predict(self, x):
        xs = _positive_query("x", x)
        return np.exp(self.intercept) * xs**self.slope


def fit_power_law_slope(x, y, confidence: float = 0.95, n_bootstrap: int = 0, seed=0) -> PowerLawSlopeFit:
    """Log-log least squares of y on x, e.g. threshold frequency against model size (Fig. 7).

    The theory (Section 4) predicts slope -(alpha + 1) for f_thres against M; the paper measures
    -1.152 against a predicted -1.283. Needs at least 3 points (the t interval has n - 2 degrees of
    freedom) with at least 2 distinct x. Bootstrap resamples with fewer than 2 distinct x are skipped.
    """
    xs = _array("x", x, min_len=3)
    ys = _array("y", y, min_len=3)
    _same_length(("x", "y"), xs, ys)
    _positive("x", xs)
    _positive("y", ys)
    if np.unique(xs).size < 2:
        raise ValueError(f"x must contain at least 2 distinct values, got {np.unique(xs).size}")
    conf = _scalar_in("confidence", confidence, 0.0, 1.0, low_open=True, high_open=True)
    n_boot = _count("n_bootstrap", n_bootstrap)
    rng = _rng(seed)

    log_x, log_y = np.log(xs), np.log(ys)
    fit = stats.linregress(log_x, log_y)
    half = stats.t.ppf(0.5 + conf / 2.0, xs.size - 2) * fit.stderr
    # Bootstrap slopes in closed form, cov(x, y) / var(x), all resamples at once.
    idx = rng.integers(0, xs.size, size=(n_boot, xs.size))
    bx, by = log_x[idx], log_y[idx]
    dx = bx - bx.mean(axis=1, keepdims=True)
    sxx = np.sum(dx * dx, axis=1)
    usable = np.ptp(bx, axis=1) > 0  # a resample with one distinct x has no slope
    boot = np.sum(dx * by, axis=1)[usable] / sxx[usable]
    return PowerLawSlopeFit(
        slope=float(fit.slope),
        intercept=float(fit.intercept),
        slope_stderr=float(fit.stderr),
        slope_interval=(float(fit.slope - half), float(fit.slope + half)),
        slope_interval_bootstrap=_percentile_interval(boot, conf) if boot.size else None,
        r_squared=float(fit.rvalue**2),
        confidence=conf,
        n_points=int(xs.size),
        n_bootstrap_used=int(boot.size),
    )
