"""Thresholds of Theorem 4.3 and their power-law closed forms (arXiv 2505.18091, Sec. 4).

Setting: a mixture r * facts + (1 - r) * web. The facts curve is F1(m) = C1 + p max(H - m, 0) (each
fact seen with frequency p per token of the knowledge data, H bits in all) and the web curve F2 is
convex. A bit given to the facts saves r p; a bit given to the web saves (1 - r)(-F2'(m2)). With
t = p r / (1 - r):

* M <= M0-(t) = sup{M : -F2'(M) > t}: the facts are not learned at all;
* M >= M0+(t) + H, M0+(t) = inf{M : -F2'(M) < t}: they are learned completely.

For a power law F2(M) = C + A M^-alpha, M0- = M0+ = (A alpha / t)^(1/(alpha+1)) and, between the
two bounds, the facts receive exactly M - M0(t) bits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from capacity._validate import check_open_unit, check_positive
from capacity.curves import LossCurve, PowerLawCurve


def marginal_value_ratio(exposure_frequency, mixing_ratio):
    """t = p r / (1 - r): the web slope the facts must beat (Theorem 4.3)."""
    r = np.asarray(mixing_ratio, dtype=float)
    return np.asarray(exposure_frequency, dtype=float) * r / (1.0 - r)


@dataclass(frozen=True)
class MixingThresholds:
    """Theorem 4.3's capacities for one (web curve, knowledge set, mixing ratio)."""

    marginal_value: float  # t = p r / (1 - r), in loss per bit
    M0_minus: float  # at or below this capacity nothing is learned
    M0_plus: float
    entropy_bits: float  # H_tot

    @property
    def learned_fully_above(self) -> float:
        """M0+(t) + H: at or above this capacity every fact is learned."""
        return self.M0_plus + self.entropy_bits


def web_threshold_capacities(web: LossCurve, marginal_value: float) -> tuple[float, float]:
    """(M0-(t), M0+(t)) for any convex web curve: where -F2' crosses t."""
    check_positive("marginal value t", marginal_value)
    return web.demand(float(marginal_value))


def mixing_thresholds(
    web: LossCurve, exposure_frequency: float, entropy_bits: float, mixing_ratio: float
) -> MixingThresholds:
    """Theorem 4.3's bounds for facts of frequency p and entropy H mixed at ratio r."""
    check_positive("exposure_frequency p", exposure_frequency)
    check_positive("entropy_bits H", entropy_bits)
    check_open_unit("mixing_ratio r", mixing_ratio)
    t = float(marginal_value_ratio(exposure_frequency, mixing_ratio))
    lo, hi = web_threshold_capacities(web, t)
    return MixingThresholds(t, float(lo), float(hi), float(entropy_bits))


# --- Power-law closed forms -----------------------------------------------------------------------
# -F2'(M) = A alpha M^-(alpha+1). All functions broadcast over numpy arrays.


def critical_capacity(law: PowerLawCurve, exposure_frequency, mixing_ratio):
    """M_thres = (A alpha (1 - r) / (p r))^(1/(alpha+1)): facts start to be learned above it."""
    check_positive("exposure_frequency p", exposure_frequency)
    check_open_unit("mixing_ratio r", mixing_ratio)
    t = marginal_value_ratio(exposure_frequency, mixing_ratio)
    return (law.amplitude * law.exponent / t) ** (1.0 / (law.exponent + 1.0))


def web_marginal_value(web: LossCurve, capacity_bits):
    """g(M) = -F2'_-(M): A alpha M^-(alpha+1) for the power law; the left slope for other curves."""
    check_positive("capacity_bits M", capacity_bits)
    return -np.asarray(web.derivative_left(np.asarray(capacity_bits, dtype=float)), dtype=float)


def critical_mixing_ratio(web: LossCurve, exposure_frequency, capacity_bits):
    """r_thres solving p r / (1 - r) = g(M): r_thres = g / (p + g) ~ 1 / (p M^(alpha+1)).

    Above r_thres an M-bit learner stores some of the facts; below it, none (Theorem 4.3). Any convex
    web curve works: g is its left slope at M (the web's marginal value of the last bit).
    """
    check_positive("exposure_frequency p", exposure_frequency)
    g = web_marginal_value(web, capacity_bits)
    return g / (np.asarray(exposure_frequency, dtype=float) + g)


def threshold_frequency(law: PowerLawCurve, capacity_bits, mixing_ratio):
    """f_thres = r p at the threshold = (1 - r) g(M) ~ M^-(alpha+1): the per-token frequency (in the
    mixture) a fact needs to be learned by an M-bit learner when the knowledge is mixed at ratio r."""
    check_open_unit("mixing_ratio r", mixing_ratio)
    return (1.0 - np.asarray(mixing_ratio, dtype=float)) * web_marginal_value(law, capacity_bits)


def threshold_frequency_slope(law: PowerLawCurve) -> float:
    """d log f_thres / d log M = -(alpha + 1) (arXiv 2505.18091, Fig. 7: -1.283 for alpha 0.283)."""
    return -(law.exponent + 1.0)


def facts_capacity(law: PowerLawCurve, exposure_frequency, entropy_bits, mixing_ratio, capacity_bits):
    """m1*: bits the optimal learner gives the facts, clip(M - M_thres, 0, H) (vectorised)."""
    check_positive("entropy_bits H", entropy_bits)
    check_positive("capacity_bits M", capacity_bits)
    m_thres = critical_capacity(law, exposure_frequency, mixing_ratio)
    return np.clip(np.asarray(capacity_bits, dtype=float) - m_thres, 0.0, entropy_bits)
