import warnings

import numpy as np
import pytest

from capacity.allocation import optimal_allocation, optimal_allocation_cvxpy
from capacity.curves import FactGroup, FactsCurve, MultiFrequencyFactsCurve, PowerLawCurve, TabulatedCurve
from capacity.thresholds import mixing_thresholds


def random_curve(rng):
    kind = rng.integers(4)
    if kind == 0:
        return PowerLawCurve(rng.uniform(0, 3), rng.uniform(0.5, 10), rng.uniform(0.1, 0.9))
    if kind == 1:
        return FactsCurve(rng.uniform(0.001, 0.2), rng.uniform(1, 50), rng.uniform(0, 1))
    if kind == 2:
        groups = [FactGroup(rng.integers(1, 20), rng.uniform(1, 5), rng.uniform(0.001, 0.2)) for _ in range(3)]
        return MultiFrequencyFactsCurve(groups, rng.uniform(0, 1))
    # A tabulated convex curve: sampled from a power law plus a linear piece, on random capacities.
    m = np.sort(rng.uniform(0.5, 60, size=6))
    return TabulatedCurve(m, 1 + rng.uniform(1, 5) * m ** -rng.uniform(0.2, 0.8) + 0.001 * (60 - m))


def test_exact_and_cvxpy_solvers_agree_on_random_instances():
    rng = np.random.default_rng(0)
    worst_m, worst_loss = 0.0, 0.0
    for _ in range(120):
        n = int(rng.integers(2, 6))
        curves = [random_curve(rng) for _ in range(n)]
        weights = rng.dirichlet(np.ones(n))
        M = float(rng.uniform(1, 150))
        exact = optimal_allocation(curves, weights, M)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            general = optimal_allocation_cvxpy(curves, weights, M)
        # Capacity beyond a curve's saturation point is wasted either way, so only the useful part is unique.
        saturation = np.array([c.saturation_capacity for c in curves])
        useful_exact = np.minimum(exact.capacity_bits, saturation)
        useful_general = np.minimum(general.capacity_bits, saturation)
        worst_m = max(worst_m, np.abs(useful_exact - useful_general).max() / M)
        worst_loss = max(worst_loss, abs(exact.total_loss - general.total_loss) / abs(exact.total_loss))
        # The exact solution is optimal: cvxpy cannot beat it.
        assert exact.total_loss <= general.total_loss + 1e-12 * abs(general.total_loss)
    assert worst_loss < 1e-6
    # An interior-point allocation is accurate only to about the square root of its objective gap
    # (the objective is flat at the optimum); measured worst case here 1.6e-6 of M.
    assert worst_m < 1e-5


def test_solver_reproduces_theorem_4_2_linear_knowledge_curve():
    # Facts alone next to a domain that is already saturated: stored knowledge grows linearly with M.
    facts = FactsCurve(exposure_frequency=0.01, entropy_bits=100.0)
    saturated = TabulatedCurve([0.0, 1.0], [2.0, 1.0])  # flat after 1 bit
    for M in [11.0, 31.0, 61.0, 101.0]:
        allocation = optimal_allocation([facts, saturated], [0.5, 0.5], M)
        assert allocation.capacity_bits[0] == pytest.approx(M - 1.0)
        assert allocation.loss[0] == pytest.approx(0.01 * (100.0 - (M - 1.0)))


def test_theorem_4_3_bounds_hold_on_random_instances():
    rng = np.random.default_rng(1)
    for _ in range(200):
        web = random_curve(rng) if rng.random() < 0.3 else PowerLawCurve(1.0, rng.uniform(1, 10), rng.uniform(0.1, 0.9))
        if not np.isinf(web.saturation_capacity) and rng.random() < 0.5:
            continue
        p, H, r = rng.uniform(0.001, 0.1), rng.uniform(1, 40), rng.uniform(0.05, 0.95)
        facts = FactsCurve(p, H)
        bounds = mixing_thresholds(web, p, H, r)
        M = float(rng.uniform(0.5, 3 * (bounds.learned_fully_above + 1)))
        m1 = optimal_allocation([facts, web], [r, 1 - r], M).capacity_bits[0]
        if M <= bounds.M0_minus:
            assert m1 == pytest.approx(0.0, abs=1e-9 * M)
        if M >= bounds.learned_fully_above:
            assert m1 == pytest.approx(H, rel=1e-9)


def test_power_law_partial_regime_gives_facts_the_excess_capacity():
    web = PowerLawCurve(2.0, 5.0, 0.3)
    p, H, r = 0.02, 30.0, 0.4
    bounds = mixing_thresholds(web, p, H, r)
    M = bounds.M0_minus + H / 3
    allocation = optimal_allocation([FactsCurve(p, H), web], [r, 1 - r], M)
    assert allocation.capacity_bits[0] == pytest.approx(H / 3, rel=1e-9)
    assert allocation.fraction_learned[0] == pytest.approx(1 / 3, rel=1e-9)
    assert allocation.fraction_learned[1] is None
    assert allocation.multiplier == pytest.approx(r * p, rel=1e-12)  # the facts' marginal value sets lambda


def test_multiplier_is_the_marginal_value_of_capacity():
    curves = [PowerLawCurve(1.0, 3.0, 0.4), PowerLawCurve(0.5, 6.0, 0.2), FactsCurve(0.01, 20.0)]
    w = [0.5, 0.3, 0.2]
    M, h = 40.0, 1e-4
    a, b = optimal_allocation(curves, w, M), optimal_allocation(curves, w, M + h)
    assert (a.total_loss - b.total_loss) / h == pytest.approx(a.multiplier, rel=1e-4)


def test_all_domains_saturated_leaves_capacity_unused():
    allocation = optimal_allocation([FactsCurve(0.1, 5.0), FactsCurve(0.2, 7.0)], [0.5, 0.5], 20.0)
    assert np.allclose(allocation.capacity_bits, [5.0, 7.0])
    assert allocation.unused_capacity_bits == pytest.approx(8.0)
    assert allocation.multiplier == 0.0


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="capacity_bits M must be > 0, got -1"):
        optimal_allocation([FactsCurve(0.1, 5.0), PowerLawCurve(1, 1, 0.5)], [0.5, 0.5], -1)
    with pytest.raises(ValueError, match="one weight per curve"):
        optimal_allocation([FactsCurve(0.1, 5.0)], [0.5, 0.5], 1)
    with pytest.raises(ValueError, match="domain weight must be > 0, got 0.0"):
        optimal_allocation([FactsCurve(0.1, 5.0), PowerLawCurve(1, 1, 0.5)], [0.0, 1.0], 1)
