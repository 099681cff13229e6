"""Phase diagrams: fraction of a knowledge set learned over a grid of (mixing ratio, capacity).

With a power-law web curve the optimal learner fills fact groups in order of falling frequency; group
g (frequency p_g, H_g bits, the groups before it holding H_<g bits) receives

    clip(M - M_thres(p_g, r) - H_<g, 0, H_g),   M_thres(p, r) = (A alpha (1 - r) / (p r))^(1/(alpha+1)),

because the web's demand at group g's marginal value is M_thres(p_g, r) and every more frequent group
is already full when g starts (its own threshold is lower). This is vectorised over (r, M, g), so a
200 x 200 diagram is a handful of numpy operations.
"""
from __future__ import annotations

import numpy as np

from capacity._validate import check_open_unit, check_positive
from capacity.curves import PowerLawCurve
from capacity.thresholds import critical_capacity
from capacity.units import KnowledgeSet


def facts_capacity_grid(
    law: PowerLawCurve, knowledge: KnowledgeSet, mixing_ratios, capacities_bits
) -> np.ndarray:
    """Bits stored of the knowledge set, shape broadcast(mixing_ratios, capacities_bits)."""
    r = np.asarray(mixing_ratios, dtype=float)
    M = np.asarray(capacities_bits, dtype=float)
    check_open_unit("mixing_ratio r", r)
    check_positive("capacity_bits M", M)
    order = np.argsort(-knowledge.frequencies(), kind="stable")
    freq = knowledge.frequencies()[order]
    entropy = knowledge.group_entropies()[order]
    before = np.concatenate([[0.0], np.cumsum(entropy)[:-1]])
    r_b, M_b = np.broadcast_arrays(r, M)
    m_thres = critical_capacity(law, freq, r_b[..., None])  # (..., G)
    stored = np.clip(M_b[..., None] - m_thres - before, 0.0, entropy)
    return stored.sum(axis=-1)


def phase_diagram(law: PowerLawCurve, knowledge: KnowledgeSet, mixing_ratios, capacities_bits) -> np.ndarray:
    """Fraction of the knowledge set learned on the grid, shape (len(mixing_ratios), len(capacities_bits))."""
    r = np.asarray(mixing_ratios, dtype=float).reshape(-1, 1)
    M = np.asarray(capacities_bits, dtype=float).reshape(1, -1)
    return facts_capacity_grid(law, knowledge, r, M) / knowledge.entropy_bits


def phase_diagram_cvxpy(law: PowerLawCurve, knowledge: KnowledgeSet, mixing_ratios, capacities_bits) -> np.ndarray:
    """The same grid with one cvxpy solve per point (slow; the cross-check and the benchmark's baseline)."""
    from capacity.allocation import optimal_allocation_cvxpy

    facts = knowledge.curve()
    out = np.empty((len(mixing_ratios), len(capacities_bits)))
    for i, r in enumerate(mixing_ratios):
        for j, M in enumerate(capacities_bits):
            allocation = optimal_allocation_cvxpy([facts, law], [r, 1.0 - r], M)
            out[i, j] = allocation.fraction_learned[0]
    return out
