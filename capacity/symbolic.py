"""The power-law thresholds derived symbolically with sympy, from the KKT conditions themselves.

Nothing here is typed in as a closed form: each threshold is obtained by differentiating
F2(M) = C + A M^-alpha and solving the marginal-value balance of Theorem 4.3,

    r p = (1 - r) (-F2'(M)),

for the unknown of interest. ``capacity.thresholds`` holds the numeric closed forms; the tests check
that both agree, so a slip in either shows up.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import sympy as sp


@dataclass(frozen=True)
class SymbolicThresholds:
    critical_capacity: sp.Expr  # M solving the balance, in terms of (C, A, alpha, p, r)
    critical_mixing_ratio: sp.Expr  # r solving the balance, in terms of (A, alpha, p, M)
    threshold_frequency: sp.Expr  # r p at the balance, in terms of (A, alpha, r, M)
    threshold_frequency_slope: sp.Expr  # d log f_thres / d log M
    facts_capacity_partial: sp.Expr  # m1* between the bounds: M - M_thres

    def lambdify(self, name: str) -> Callable:
        """A numpy function of the expression's symbols, in the order (C, A, alpha, p, r, M) restricted
        to those it uses."""
        expr = getattr(self, name)
        order = [s for s in SYMBOLS if s in expr.free_symbols]
        return sp.lambdify(order, expr, "numpy"), tuple(str(s) for s in order)


C, A, alpha, p, r, M, f = sp.symbols("C A alpha p r M f", positive=True)
SYMBOLS = (C, A, alpha, p, r, M)


@lru_cache(maxsize=1)
def derive() -> SymbolicThresholds:
    web_loss = C + A * M ** (-alpha)
    web_marginal = sp.simplify(-sp.diff(web_loss, M))  # -F2'(M) = A alpha M^-(alpha+1)
    balance = sp.Eq(r * p, (1 - r) * web_marginal)

    (critical_capacity,) = sp.solve(balance, M)
    (critical_ratio,) = sp.solve(balance, r)
    # The per-token mixture frequency r p of a fact at the balance, with r held fixed: solve for f = r p.
    (thres_freq,) = sp.solve(sp.Eq(f, (1 - r) * web_marginal), f)
    logM = sp.symbols("logM", real=True)
    slope = sp.simplify(
        sp.diff(sp.expand_log(sp.log(thres_freq.subs(M, sp.exp(logM))), force=True), logM)
    )
    return SymbolicThresholds(
        critical_capacity=sp.simplify(critical_capacity),
        critical_mixing_ratio=sp.simplify(critical_ratio),
        threshold_frequency=sp.simplify(thres_freq),
        threshold_frequency_slope=slope,
        facts_capacity_partial=sp.simplify(M - critical_capacity),
    )
