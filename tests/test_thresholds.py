import numpy as np
import pytest

from capacity.allocation import optimal_allocation
from capacity.curves import FactsCurve, PowerLawCurve, TabulatedCurve
from capacity.phase import phase_diagram, phase_diagram_cvxpy
from capacity.symbolic import derive
from capacity.thresholds import (
    critical_capacity,
    critical_mixing_ratio,
    facts_capacity,
    mixing_thresholds,
    threshold_frequency,
    threshold_frequency_slope,
)
from capacity.units import KnowledgeSet

LAW = PowerLawCurve(2.0, 40.0, 0.283)


def test_critical_capacity_is_where_the_facts_start_to_be_learned():
    p, H, r = 1e-4, 500.0, 0.3
    m_thres = critical_capacity(LAW, p, r)
    below = optimal_allocation([FactsCurve(p, H), LAW], [r, 1 - r], m_thres * (1 - 1e-6))
    above = optimal_allocation([FactsCurve(p, H), LAW], [r, 1 - r], m_thres + 10.0)
    assert below.capacity_bits[0] == pytest.approx(0.0, abs=1e-6)
    assert above.capacity_bits[0] == pytest.approx(10.0, rel=1e-9)


def test_critical_mixing_ratio_inverts_critical_capacity():
    p = 1e-4
    for M in [100.0, 1e3, 1e5]:
        r = critical_mixing_ratio(LAW, p, M)
        assert critical_capacity(LAW, p, r) == pytest.approx(M, rel=1e-10)


def test_power_law_bounds_coincide_and_equal_the_closed_form():
    bounds = mixing_thresholds(LAW, 1e-4, 500.0, 0.3)
    assert bounds.M0_minus == bounds.M0_plus == pytest.approx(critical_capacity(LAW, 1e-4, 0.3), rel=1e-12)
    assert bounds.learned_fully_above == pytest.approx(bounds.M0_plus + 500.0)


def test_piecewise_web_curve_gives_distinct_bounds():
    web = TabulatedCurve([0.0, 10.0, 30.0], [5.0, 3.0, 2.0])  # slopes -0.2 then -0.05
    bounds = mixing_thresholds(web, exposure_frequency=0.05 * 0.5 / 0.5, entropy_bits=7.0, mixing_ratio=0.5)
    assert (bounds.M0_minus, bounds.M0_plus) == (10.0, 30.0)
    assert bounds.learned_fully_above == 37.0


def test_threshold_frequency_slope_is_minus_alpha_plus_one():
    assert threshold_frequency_slope(LAW) == pytest.approx(-1.283)
    M = np.geomspace(1e3, 1e7, 9)
    f = threshold_frequency(LAW, M, 0.01)
    slope = np.polyfit(np.log(M), np.log(f), 1)[0]
    assert slope == pytest.approx(-1.283, abs=1e-12)


def test_facts_capacity_matches_the_solver():
    p, H, r = 1e-4, 500.0, 0.35
    for M in np.geomspace(10, 1e5, 13):
        solver = optimal_allocation([FactsCurve(p, H), LAW], [r, 1 - r], M).capacity_bits[0]
        assert facts_capacity(LAW, p, H, r, M) == pytest.approx(solver, rel=1e-9, abs=1e-9 * M)


def test_sympy_derivation_equals_the_numeric_closed_forms():
    d = derive()
    rng = np.random.default_rng(3)
    for _ in range(20):
        A, alpha, p, r, M = rng.uniform(1, 50), rng.uniform(0.1, 0.9), 10 ** rng.uniform(-6, -2), rng.uniform(0.05, 0.95), 10 ** rng.uniform(1, 6)
        law = PowerLawCurve(1.0, A, alpha)
        values = {"A": A, "alpha": alpha, "p": p, "r": r, "M": M, "C": 1.0}
        for name, numeric in [
            ("critical_capacity", critical_capacity(law, p, r)),
            ("critical_mixing_ratio", critical_mixing_ratio(law, p, M)),
            ("threshold_frequency", threshold_frequency(law, M, r)),
            ("threshold_frequency_slope", threshold_frequency_slope(law)),
        ]:
            fn, names = d.lambdify(name)
            assert fn(*[values[n] for n in names]) == pytest.approx(float(numeric), rel=1e-10)


def test_phase_diagram_matches_one_solve_per_point():
    knowledge = KnowledgeSet.power_law(groups=5, items_per_group=20, exponent=1.5, tokens_per_item=80, bits_per_item=46.5)
    r = np.linspace(0.05, 0.95, 7)
    M = np.geomspace(300, 3e5, 7)
    fast = phase_diagram(LAW, knowledge, r, M)
    exact = np.array([
        [optimal_allocation([knowledge.curve(), LAW], [ri, 1 - ri], Mj).fraction_learned[0] for Mj in M] for ri in r
    ])
    assert np.allclose(fast, exact, atol=1e-9)
    assert fast.min() == 0.0 and fast.max() == pytest.approx(1.0)  # the grid spans both phases


@pytest.mark.filterwarnings("ignore")
def test_phase_diagram_agrees_with_cvxpy_on_a_subsample():
    knowledge = KnowledgeSet.from_token_statistics(items=1000, tokens_per_item=80, bits_per_item=46.5)
    r = np.array([0.1, 0.4, 0.8])
    M = np.array([3e4, 1e5, 3e5])
    assert np.allclose(phase_diagram(LAW, knowledge, r, M), phase_diagram_cvxpy(LAW, knowledge, r, M), atol=1e-5)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: critical_capacity(LAW, 1e-4, 1.0), "mixing_ratio r must be in \\(0, 1\\), got 1.0"),
        (lambda: critical_capacity(LAW, -1e-4, 0.5), "exposure_frequency p must be > 0, got -0.0001"),
        (lambda: critical_mixing_ratio(LAW, 1e-4, 0.0), "capacity_bits M must be > 0, got 0.0"),
        (lambda: mixing_thresholds(LAW, 1e-4, 0.0, 0.5), "entropy_bits H must be > 0, got 0.0"),
    ],
)
def test_bad_threshold_inputs_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
