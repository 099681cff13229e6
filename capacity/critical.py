"""Where accuracy crosses a level: the critical mixing ratio, threshold frequency and critical size,
measured with a 95% interval.

The paper reads its thresholds off a grid by eye (arXiv 2505.18091, Fig. 2 and Table 1 for r_c;
Fig. 7a and its "first group below 80%" rule for the threshold frequency). A grid point is biased
by the grid and carries no uncertainty, so here every threshold is the crossing of a binomial
logistic fit

    logit P(correct) = a + b x,     x = log r (or log r/(1-r), log f, log M),

fitted to per-run counts of exact-match successes ``correct`` out of ``total`` items, inverted at the
accuracy ``level``: x* = (logit(level) - a) / b. The fit uses Firth's penalised likelihood
(the Jeffreys prior), which stays finite when the data separate (all runs below a ratio at 0%, all
above at 100%), as small sweeps often do.

The interval is a percentile bootstrap of x*: each replicate resamples the items of every run
(binomially, over people when ``items_per_person`` > 1, since one person's attributes are learned
together; from the accuracy shrunk by half an item, so that 0% and 100% runs vary too) and, when
``seeds`` are given, the seeds as whole clusters of runs (a seed with runs at one value only is pooled
into the seed with the most runs).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from capacity._validate import check_finite, check_open_unit, check_positive

_TRANSFORMS = {
    "log": (np.log, np.exp),
    "odds": (lambda r: np.log(r / (1.0 - r)), lambda x: 1.0 / (1.0 + np.exp(-x))),
}


@dataclass(frozen=True)
class CriticalEstimate:
    """A threshold (r_c, a frequency or a size) where fitted accuracy equals ``level``."""

    value: float  # r_c (or frequency / size) at the accuracy level
    interval: tuple[float, float]  # 95% bootstrap interval
    level: float  # accuracy level, e.g. 0.1
    points: int  # number of (run) points used
    slope: float = 0.0  # b: d logit(accuracy) / dx of the fit, x the variable below
    variable: str = "log"  # "log": x = log of the quantity; "odds": x = log(r / (1 - r))
    boot_failed: int = 0  # bootstrap replicates without an increasing fit (left out of the interval)
    draws: tuple[float, ...] = field(default=(), repr=False, compare=False)  # the bootstrap replicates' values

    def as_dict(self) -> dict:
        return {"value": self.value, "interval": list(self.interval), "level": self.level, "points": self.points,
                "slope": self.slope, "variable": self.variable, "boot_failed": self.boot_failed}


def firth_logistic(design, correct, total, *, iterations: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """Firth-penalised binomial logistic regression logit p = design @ beta, batched over leading axes.

    design: (..., n, d) with its first column the intercept; correct, total: (..., n); points with
    total 0 carry no weight. Returns (beta (..., d), converged (...,)). Firth's adjustment adds h_i/2
    successes and h_i/2 failures to each point (h_i its leverage), which keeps the estimate finite
    under separation and removes the O(1/n) bias of the maximum-likelihood coefficients.
    """
    design = np.asarray(design, dtype=float)
    k = np.asarray(correct, dtype=float)
    n = np.asarray(total, dtype=float)
    d = design.shape[-1]
    # Standardise the non-intercept columns per batch so that the d x d systems stay well conditioned.
    denom = np.maximum(n.sum(-1), 1e-300)[..., None]
    centre = np.einsum("...n,...nj->...j", n, design) / denom
    spread = np.sqrt(np.einsum("...n,...nj->...j", n, (design - centre[..., None, :]) ** 2) / denom)
    centre[..., 0], spread[..., 0] = 0.0, 1.0
    spread = np.where(spread > 0, spread, 1.0)
    z = (design - centre[..., None, :]) / spread[..., None, :]
    beta = np.zeros(design.shape[:-2] + (d,))
    ok = np.zeros(design.shape[:-2], dtype=bool)
    for _ in range(iterations):
        eta = np.einsum("...nj,...j->...n", z, beta)
        p = 1.0 / (1.0 + np.exp(-np.clip(eta, -30, 30)))
        w = n * p * (1.0 - p)
        info = np.einsum("...n,...ni,...nj->...ij", w, z, z) + 1e-10 * np.eye(d)
        inv = np.linalg.inv(info)
        h = w * np.einsum("...ni,...ij,...nj->...n", z, inv, z)
        score = np.einsum("...ni,...n->...i", z, k - n * p + h * (0.5 - p))
        step = np.einsum("...ij,...j->...i", inv, score)
        # Damped Newton: a step of more than 5 logits is cut back (the penalised likelihood is
        # concave, so a shorter step in the Newton direction still ascends).
        big = np.max(np.abs(step), axis=-1, keepdims=True)
        step = step * np.minimum(1.0, 5.0 / np.maximum(big, 1e-300))
        beta = beta + step
        ok = np.max(np.abs(step), axis=-1) < 1e-8
        if np.all(ok):
            break
    coef = beta / spread
    coef[..., 0] = beta[..., 0] - np.einsum("...j,...j->...", coef[..., 1:], centre[..., 1:])
    return coef, ok & np.all(np.isfinite(coef), axis=-1)


def logistic_fit(x, correct, total, *, iterations: int = 80) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``firth_logistic`` for logit p = a + b x; x, correct, total of shape (..., n). Returns (a, b, converged)."""
    x, k, n = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(correct, dtype=float),
                                  np.asarray(total, dtype=float))
    coef, ok = firth_logistic(np.stack([np.ones_like(x), x], axis=-1), k, n, iterations=iterations)
    return coef[..., 0], coef[..., 1], ok


def _check_counts(name: str, values, correct, total, seeds):
    values = np.asarray(values, dtype=float).ravel()
    correct = np.asarray(correct, dtype=float).ravel()
    total = np.asarray(total, dtype=float).ravel()
    if not (values.shape == correct.shape == total.shape):
        raise ValueError(f"{name}, correct and total must have one entry per run, got lengths "
                         f"{values.size}, {correct.size} and {total.size}")
    if values.size < 2:
        raise ValueError(f"a crossing needs at least 2 runs, got {values.size}")
    check_finite(name, values)
    check_positive("total (items evaluated)", total)
    if np.any(np.abs(total - np.rint(total)) > 1e-6):
        raise ValueError(f"total must count items (integers), got {float(total[np.abs(total - np.rint(total)) > 1e-6][0])!r}")
    check_finite("correct", correct)
    bad = (correct < 0) | (correct > total + 1e-9)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ValueError(f"correct must be in [0, total], got {correct[i]!r} of {total[i]!r}")
    if seeds is not None:
        seeds = np.asarray(seeds, dtype=object).ravel()
        if seeds.size != values.size:
            raise ValueError(f"seeds must label every run, got {seeds.size} labels for {values.size} runs")
    return values, correct, np.rint(total), seeds


def _check_bracket(name: str, values, correct, total, level: float) -> None:
    """The pooled accuracy at each distinct value must fall on both sides of ``level``."""
    distinct = np.unique(values)
    if distinct.size < 2:
        raise ValueError(f"a crossing needs at least 2 distinct {name}, got only {distinct.tolist()}")
    pooled = np.array([correct[values == v].sum() / total[values == v].sum() for v in distinct])
    if not (pooled.min() <= level <= pooled.max()) or pooled.min() == pooled.max():
        seen = ", ".join(f"{v:.4g}: {a:.3f}" for v, a in zip(distinct, pooled))
        raise ValueError(f"accuracy never crosses the level {level:g}: the data do not bracket it "
                         f"(accuracy by {name}: {seen})")


def _pool_narrow_seeds(values, seeds):
    """Seed labels for the cluster bootstrap, with every seed that spans a single value (e.g. a second
    seed run only at one ratio, to show the seed-to-seed spread) pooled into the seed with the most
    runs: a cluster at one value alone could make a replicate without a crossing. When no seed spans
    two values, the bootstrap is over items only (None)."""
    labels = seeds.astype(str)
    spans = {label: np.unique(values[labels == label]).size for label in np.unique(labels)}
    wide = [label for label, n in spans.items() if n >= 2]
    if not wide:
        return None
    anchor = max(wide, key=lambda label: (int((labels == label).sum()), label))
    narrow = [label for label, n in spans.items() if n < 2]
    return np.where(np.isin(labels, narrow), anchor, labels).astype(object)


def _resample(values, correct, total, seeds, items_per_person: float, n_boot: int, rng: np.random.Generator):
    """Bootstrap replicates (x, k, n) of shape (n_boot, points): seeds as clusters, then items."""
    if seeds is None:
        idx = np.broadcast_to(np.arange(values.size), (n_boot, values.size))
    else:
        labels, inverse = np.unique(seeds.astype(str), return_inverse=True)
        members = [np.flatnonzero(inverse == s) for s in range(labels.size)]
        width = max(m.size for m in members)
        table = np.full((labels.size, width), -1)
        for s, m in enumerate(members):
            table[s, : m.size] = m
        drawn = rng.integers(0, labels.size, size=(n_boot, labels.size))
        idx = table[drawn].reshape(n_boot, -1)
    valid = idx >= 0
    safe = np.where(valid, idx, 0)
    # Resampling from (k + 1/2) / (n + 1) rather than k / n: a run at 0% or 100% still varies between
    # replicates, so separated data do not give a zero-width interval.
    x, p = values[safe], (correct[safe] + 0.5) / (total[safe] + 1.0)
    people = np.maximum(np.rint(total[safe] / items_per_person), 1)
    k = rng.binomial(people.astype(np.int64), np.clip(p, 0.0, 1.0)) * (total[safe] / people)
    n = np.where(valid, total[safe], 0.0)
    return x, np.where(valid, k, 0.0), n


def local_window(values, correct, total, level: float, window: int) -> np.ndarray:
    """Mask of the runs at the ``window`` distinct values on each side of the first value whose pooled
    accuracy reaches ``level``: a logistic curve is a model of the transition, and points far up the
    plateau or deep in the floor would otherwise pull the crossing with the curve's misfit there."""
    distinct = np.unique(values)
    pooled = np.array([correct[values == v].sum() / total[values == v].sum() for v in distinct])
    first = int(np.argmax(pooled >= level))
    keep = distinct[max(first - window, 0): first + window]
    return np.isin(values, keep)


def critical_point(values, correct, total, *, level: float, name: str = "value", variable: str = "log",
                   seeds=None, items_per_person: float = 1.0, n_boot: int = 1000, seed: int = 0,
                   window: int | None = None) -> CriticalEstimate:
    """The crossing of a logistic fit of accuracy against ``variable``(values) at ``level``.

    ``variable`` is "log" (x = log value, for ratios, frequencies, sizes) or "odds" (x = log value /
    (1 - value), for a ratio in (0, 1)). Accuracy must rise with x (ValueError otherwise); see the
    module docstring for the fit and the bootstrap. ``window``: fit only the runs at that many distinct
    values on each side of the crossing (``local_window``); None fits all.
    """
    check_open_unit("level", level)
    if variable not in _TRANSFORMS:
        raise ValueError(f"variable must be one of {sorted(_TRANSFORMS)}, got {variable!r}")
    if int(n_boot) != n_boot or n_boot < 20:
        raise ValueError(f"n_boot must be an integer >= 20, got {n_boot!r}")
    check_positive("items_per_person", items_per_person)
    values, correct, total, seeds = _check_counts(name, values, correct, total, seeds)
    check_positive(name, values)
    if variable == "odds":
        check_open_unit(name, values)
    forward, back = _TRANSFORMS[variable]
    _check_bracket(name, values, correct, total, level)
    if window is not None:
        if int(window) != window or window < 1:
            raise ValueError(f"window must be a positive integer (distinct values on each side), got {window!r}")
        keep = local_window(values, correct, total, level, int(window))
        values, correct, total = values[keep], correct[keep], total[keep]
        seeds = None if seeds is None else seeds[keep]
    if seeds is not None:
        seeds = _pool_narrow_seeds(values, seeds)
    x = forward(values)
    a, b, ok = logistic_fit(x, correct, total)
    if not ok or b <= 0:
        raise ValueError(f"accuracy must rise with {name}: the fitted slope is {float(b):.4g} per unit of {variable} "
                         f"{name}" + ("" if ok else " (the fit did not converge)"))
    target = np.log(level / (1.0 - level))
    x_star = float((target - a) / b)
    rng = np.random.default_rng(seed)
    bx, bk, bn = _resample(values, correct, total, seeds, items_per_person, int(n_boot), rng)
    ba, bb, bok = logistic_fit(forward(bx), bk, bn)
    good = bok & (bb > 0)
    stars = (target - ba[good]) / bb[good]
    # A replicate without an increasing fit has no crossing; when more than 2.5% lack one, the
    # interval is unbounded on the side they would fall.
    failed = int((~good).sum())
    lo, hi = (np.quantile(stars, [0.025, 0.975]) if stars.size else (-np.inf, np.inf))
    if failed > 0.025 * n_boot:
        lo, hi = -np.inf, np.inf
    with np.errstate(over="ignore"):
        interval = (float(back(lo)), float(back(hi)))
    with np.errstate(over="ignore"):
        draws = tuple(float(v) for v in back(stars))
    return CriticalEstimate(float(back(x_star)), interval, float(level), int(values.size), float(b), variable, failed,
                            draws)


def critical_ratio(ratios, correct, total, *, level: float = 0.1, seeds=None, n_boot: int = 1000, seed: int = 0,
                   variable: str = "log", items_per_person: float = 1.0, window: int | None = None) -> CriticalEstimate:
    """r_c: the mixing ratio at which exact-match accuracy reaches ``level`` (arXiv 2505.18091, Fig. 2,
    Table 1: about 0.31 at 10% for Pythia-70M on SynBio-320k).

    ratios, correct, total: one entry per run (its r, items right, items evaluated) at one model size
    and budget. Fitted against log r (``variable="log"``) or the log odds log r/(1-r) (``"odds"``,
    the variable of the theory's r/(1-r) = g(M)/p). ValueError, naming the values, when the runs do
    not bracket ``level`` or accuracy does not rise with r.
    """
    check_open_unit("ratios", np.asarray(ratios, dtype=float))
    return critical_point(ratios, correct, total, level=level, name="mixing ratio", variable=variable, seeds=seeds,
                          items_per_person=items_per_person, n_boot=n_boot, seed=seed, window=window)


def critical_frequency(frequencies, correct, total, *, level: float = 0.8, seeds=None, n_boot: int = 1000,
                       seed: int = 0, items_per_person: float = 1.0, window: int | None = None) -> CriticalEstimate:
    """f_thres: the exposure frequency at which accuracy reaches ``level`` (80% in arXiv 2505.18091,
    Fig. 7a), a crossing of the fit against log f over frequency groups rather than the first group
    below the level, so that it is not quantised to the groups' frequencies."""
    return critical_point(frequencies, correct, total, level=level, name="frequency", variable="log", seeds=seeds,
                          items_per_person=items_per_person, n_boot=n_boot, seed=seed, window=window)


def critical_size(params, correct, total, *, level: float = 0.1, seeds=None, n_boot: int = 1000, seed: int = 0,
                  items_per_person: float = 1.0, window: int | None = None) -> CriticalEstimate:
    """M_thres at a fixed ratio: the model size (parameters) at which accuracy reaches ``level``
    (arXiv 2505.18091, Fig. 1), from a fit of accuracy against log M over runs of several sizes."""
    return critical_point(params, correct, total, level=level, name="model size", variable="log", seeds=seeds,
                          items_per_person=items_per_person, n_boot=n_boot, seed=seed, window=window)
