"""Strategies that raise each fact's frequency at a low mixing ratio (arXiv 2505.18091, Sec. 6).

* Random subsampling: keep a fraction rho of the N items. The mixing ratio is unchanged, so each kept
  item is seen 1/rho times as often (p -> p / rho) while the set holds rho N b bits.
* Compact knowledge mixing (CKM): add compact tuple forms of each item amounting to a fraction tau of
  the knowledge set's tokens, with r fixed. Our modelling assumption: a fact is learned from the sum of
  its occurrences in either form, so its frequency per knowledge token becomes
  p' = (1/(1+tau)) / (N L) + (tau/(1+tau)) / (N L_c), with L_c the compact form's length in tokens.

The predictions use the power-law web curve and the exact allocation (``capacity.phase``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from capacity._validate import check_nonnegative, check_open_unit, check_positive, check_unit_interval
from capacity.curves import PowerLawCurve
from capacity.phase import facts_capacity_grid
from capacity.units import KnowledgeSet


def subsampled(items: float, tokens_per_item: float, bits_per_item: float, rho: float) -> KnowledgeSet:
    check_unit_interval("subsampling ratio rho", rho)
    return KnowledgeSet.from_token_statistics(rho * items, tokens_per_item, bits_per_item)


def compact_mixed(
    items: float, tokens_per_item: float, bits_per_item: float, tau: float, compact_tokens_per_item: float
) -> KnowledgeSet:
    check_nonnegative("CKM fraction tau", tau)
    check_positive("compact_tokens_per_item", compact_tokens_per_item)
    check_positive("items", items)
    check_positive("tokens_per_item", tokens_per_item)
    p = (1.0 / (1.0 + tau)) / (items * tokens_per_item) + (tau / (1.0 + tau)) / (items * compact_tokens_per_item)
    return KnowledgeSet.uniform(items, bits_per_item, p)


def subsampling_facts_learned(
    law: PowerLawCurve, items: float, tokens_per_item: float, bits_per_item: float, mixing_ratio, capacity_bits, rho
) -> np.ndarray:
    """Predicted fraction of the *original* N items learned when a fraction rho is kept (vectorised in rho)."""
    check_open_unit("mixing_ratio r", mixing_ratio)
    rho = np.atleast_1d(np.asarray(rho, dtype=float))
    check_unit_interval("subsampling ratio rho", rho)
    out = np.array([
        facts_capacity_grid(law, subsampled(items, tokens_per_item, bits_per_item, x), mixing_ratio, capacity_bits)
        for x in rho
    ]) / (items * bits_per_item)
    return out


def ckm_facts_learned(
    law: PowerLawCurve, items: float, tokens_per_item: float, bits_per_item: float, mixing_ratio, capacity_bits,
    tau, compact_tokens_per_item: float,
) -> np.ndarray:
    """Predicted fraction of the N items learned with compact knowledge mixing at fraction tau."""
    check_open_unit("mixing_ratio r", mixing_ratio)
    tau = np.atleast_1d(np.asarray(tau, dtype=float))
    return np.array([
        facts_capacity_grid(
            law, compact_mixed(items, tokens_per_item, bits_per_item, t, compact_tokens_per_item), mixing_ratio,
            capacity_bits,
        )
        for t in tau
    ]) / (items * bits_per_item)


@dataclass(frozen=True)
class BestSubsampling:
    rho: float  # the subsampling ratio that maximises facts learned
    fraction_learned: float  # of the original set, at that rho
    fraction_learned_without: float  # at rho = 1


def best_subsampling_ratio(
    law: PowerLawCurve, items: float, tokens_per_item: float, bits_per_item: float, mixing_ratio: float,
    capacity_bits: float,
) -> BestSubsampling:
    """The rho in (0, 1] maximising the number of facts learned.

    Facts stored are clip(M - M_thres(p/rho), 0, rho H): increasing in rho while the kept set fits
    entirely, decreasing after. The optimum is where rho H = M - M_thres(p / rho) (or rho = 1), found
    on a log grid and refined by bounded scalar minimisation.
    """
    def learned(rho: float) -> float:
        return float(subsampling_facts_learned(law, items, tokens_per_item, bits_per_item, mixing_ratio,
                                               capacity_bits, rho)[0])

    grid = np.geomspace(1e-4, 1.0, 400)
    values = subsampling_facts_learned(law, items, tokens_per_item, bits_per_item, mixing_ratio, capacity_bits, grid)
    i = int(np.argmax(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    if hi > lo:
        res = minimize_scalar(lambda x: -learned(x), bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
        rho, best = (float(res.x), -float(res.fun)) if -res.fun >= values[i] else (float(grid[i]), float(values[i]))
    else:
        rho, best = float(grid[i]), float(values[i])
    return BestSubsampling(rho, best, learned(1.0))
