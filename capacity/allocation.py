"""The optimal bounded-capacity learner (arXiv 2505.18091, Sec. 4, Theorem 4.3, generalised to n domains).

    minimise   sum_i w_i F_i(m_i)   subject to   sum_i m_i <= M,  m_i >= 0,

with every F_i convex and non-increasing. The KKT conditions say there is a multiplier lambda >= 0
(the marginal value of one more bit of capacity, in loss per bit) with

    w_i * (-F_i'(m_i)) = lambda  wherever 0 < m_i and F_i still falls,

i.e. m_i lies in the demand interval of F_i at marginal value lambda / w_i (see ``capacity.curves``).
Capacity goes where its marginal value is highest: a fractional knapsack. Two solvers:

* ``optimal_allocation``: exact water-filling. The total demand sum_i demand_i(lambda / w_i) is
  non-increasing in lambda; lambda is either a kink of some piecewise-linear curve (found by
  enumeration) or the root of a continuous equation between two kinks (found by Brent's method on
  log lambda, to machine precision).
* ``optimal_allocation_cvxpy``: the same problem handed to cvxpy (any convex curve), as the general
  solver and a cross-check. Raises unless the solver reports an optimal solution.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import brentq

from capacity._validate import check_positive
from capacity.curves import LossCurve


@dataclass(frozen=True)
class Allocation:
    """The optimal split of M bits of capacity across domains."""

    capacity_bits: np.ndarray  # m_i, bits given to each domain
    loss: np.ndarray  # F_i(m_i), per-token loss of each domain
    weights: np.ndarray  # w_i (mixing proportions)
    multiplier: float  # lambda: loss saved per extra bit of total capacity (weighted)
    unused_capacity_bits: float  # M - sum m_i, positive only if every domain is saturated
    fraction_learned: tuple[float | None, ...]  # share of each knowledge domain's entropy stored; None for others

    @property
    def total_loss(self) -> float:
        """sum_i w_i F_i(m_i): the learner's expected loss on the mixture."""
        return float(self.weights @ self.loss)


def _validate(curves: Sequence[LossCurve], weights: Sequence[float], capacity_bits: float) -> np.ndarray:
    if len(curves) < 1:
        raise ValueError("need at least one domain curve, got 0")
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(curves),):
        raise ValueError(f"need one weight per curve: {len(curves)} curves but weights of shape {w.shape}")
    check_positive("domain weight", w)
    check_positive("capacity_bits M", capacity_bits)
    return w


def _finish(curves, w, m, multiplier, capacity_bits) -> Allocation:
    m = np.asarray(m, dtype=float)
    loss = np.array([float(c.value(mi)) for c, mi in zip(curves, m)])
    fractions = tuple(
        float(c.fraction_learned(mi)) if hasattr(c, "fraction_learned") else None for c, mi in zip(curves, m)
    )
    unused = max(0.0, float(capacity_bits - m.sum()))
    return Allocation(m, loss, w, float(multiplier), unused, fractions)


def optimal_allocation(
    curves: Sequence[LossCurve], weights: Sequence[float], capacity_bits: float
) -> Allocation:
    """Exact water-filling solution of the n-domain capacity allocation problem."""
    w = _validate(curves, weights, capacity_bits)
    M = float(capacity_bits)

    curve_kinks = [c.kinks() for c in curves]

    def bounds(lam: float) -> tuple[np.ndarray, np.ndarray]:
        pairs = []
        for c, wi, kinks_i in zip(curves, w, curve_kinks):
            s = lam / wi
            # (w k) / w can miss k by an ulp; snap to the kink so that its demand interval is not lost.
            near = np.abs(kinks_i - s) <= 1e-12 * kinks_i
            pairs.append(c.demand(float(kinks_i[near][0]) if near.any() else s))
        pairs = np.array(pairs, dtype=float)
        return pairs[:, 0], pairs[:, 1]

    # Every domain saturated: capacity is free (lambda = 0) and some is left over.
    saturation = np.array([c.saturation_capacity for c in curves])
    if np.all(np.isfinite(saturation)) and saturation.sum() <= M:
        return _finish(curves, w, saturation, 0.0, M)

    kinks = np.unique(np.concatenate([wi * k for k, wi in zip(curve_kinks, w)]))[::-1]  # descending
    lam_below, lam_above = 0.0, np.inf  # lambda* lies in (lam_below, lam_above)
    for lam in kinks:
        lo, hi = bounds(lam)
        if lo.sum() <= M <= hi.sum():
            # lambda* is this kink: smooth curves take their demand, the flat-marginal segments share the rest.
            slack = hi - lo
            return _finish(curves, w, lo + (M - lo.sum()) * slack / slack.sum(), lam, M)
        if hi.sum() < M:
            lam_above = min(lam_above, lam)
        else:
            lam_below = max(lam_below, lam)

    # lambda* lies strictly between kinks, where every demand is single-valued and continuous.
    def excess(log_lam: float) -> float:
        return bounds(float(np.exp(log_lam)))[0].sum() - M

    hi_log = np.log(lam_above) if np.isfinite(lam_above) else None
    lo_log = np.log(lam_below) if lam_below > 0 else None
    if hi_log is None:
        hi_log = (lo_log if lo_log is not None else 0.0) + 1.0
        while excess(hi_log) > 0:
            hi_log += 2.0
            if hi_log > 1e4:
                raise ValueError("could not bracket the multiplier: demand never falls below the capacity")
    if lo_log is None:
        lo_log = hi_log - 1.0
        while excess(lo_log) < 0:
            lo_log -= 2.0
            if lo_log < -1e4:
                raise ValueError("could not bracket the multiplier: demand never reaches the capacity")
    log_lam = brentq(excess, lo_log, hi_log, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    lam = float(np.exp(log_lam))
    m, _ = bounds(lam)
    m = m * (M / m.sum())  # remove the last ulp-level mismatch so that sum m == M
    return _finish(curves, w, m, lam, M)


def optimal_allocation_cvxpy(
    curves: Sequence[LossCurve], weights: Sequence[float], capacity_bits: float, solver: str | None = None
) -> Allocation:
    """The same problem solved by cvxpy (Clarabel by default), in scaled variables x_i = m_i / M."""
    import cvxpy as cp

    w = _validate(curves, weights, capacity_bits)
    M = float(capacity_bits)
    x = cp.Variable(len(curves), nonneg=True)
    # Subtract each curve's loss at full capacity and divide by the spread of the weighted losses: the
    # optimum is unchanged, but the solver's relative tolerances then act on the part that matters.
    reference = np.array([float(c.value(M)) for c in curves])
    spread = np.array([float(c.value(M / (4 * len(curves)))) for c in curves]) - reference
    scale = float(np.max(w * spread))
    if not np.isfinite(scale) or scale <= 0:
        scale = 1.0
    objective = cp.sum(
        [wi * (c.cvxpy_expression(x[i], M) - ref) for i, (c, wi, ref) in enumerate(zip(curves, w, reference))]
    ) / scale
    budget = cp.sum(x) <= 1.0
    problem = cp.Problem(cp.Minimize(objective), [budget])
    if solver is None:
        # Allocations converge only as the square root of the objective's gap (the objective is flat at
        # the optimum), so agreement in m needs gaps near machine precision. Ask for that first and relax
        # the tolerance only when Clarabel cannot certify it; accept nothing but an optimal status.
        for tol in (1e-14, 1e-13, 1e-12, 1e-11, 1e-10, 1e-9, 1e-8):
            problem.solve(
                solver=cp.CLARABEL, tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol, tol_ktratio=tol * 100,
                static_regularization_constant=1e-12, max_iter=1000,
            )
            if problem.status == cp.OPTIMAL:
                break
        solver = cp.CLARABEL
    else:
        problem.solve(solver=solver)
    if problem.status != cp.OPTIMAL:
        raise ValueError(f"cvxpy solver {solver} did not reach an optimal solution: status {problem.status!r}")
    m = np.clip(np.asarray(x.value, dtype=float), 0.0, None) * M
    return _finish(curves, w, m, float(budget.dual_value) * scale / M, M)
