import numpy as np
import pytest

from capacity.curves import FactGroup, FactsCurve, MultiFrequencyFactsCurve, PowerLawCurve, TabulatedCurve


def numeric_derivatives(curve, m, h=1e-6):
    return (curve.value(m) - curve.value(m - h)) / h, (curve.value(m + h) - curve.value(m)) / h


def test_power_law_value_and_derivative_match_finite_differences():
    curve = PowerLawCurve(1.5, 4.0, 0.3)
    m = np.array([0.5, 3.0, 100.0])
    assert np.allclose(curve.value(m), 1.5 + 4.0 * m**-0.3)
    left, right = numeric_derivatives(curve, m)
    assert np.allclose(curve.derivative_right(m), right, rtol=1e-4)
    assert np.allclose(curve.derivative_left(m), left, rtol=1e-4)


def test_power_law_demand_inverts_the_marginal_value():
    curve = PowerLawCurve(0.0, 4.0, 0.3)
    lo, hi = curve.demand(0.01)
    assert lo == hi
    assert -curve.derivative_right(lo) == pytest.approx(0.01, rel=1e-12)


def test_facts_curve_is_theorem_4_2_line():
    curve = FactsCurve(exposure_frequency=0.02, entropy_bits=50.0, irreducible=1.0)
    assert np.allclose(curve.value([0, 25, 50, 80]), [2.0, 1.5, 1.0, 1.0])
    assert curve.derivative_right(50.0) == 0.0
    assert curve.derivative_left(50.0) == -0.02
    assert curve.derivative_right(0.0) == -0.02
    assert curve.demand(0.02) == (0.0, 50.0)
    assert curve.demand(0.03) == (0.0, 0.0)
    assert curve.demand(0.01) == (50.0, 50.0)


def test_multifrequency_curve_stores_frequent_facts_first():
    rare = FactGroup(count=10, entropy_bits=5, exposure_frequency=0.1)
    common = FactGroup(count=20, entropy_bits=5, exposure_frequency=0.3)
    curve = MultiFrequencyFactsCurve([rare, common])
    # 100 bits of common facts at slope -0.3, then 50 bits of rare ones at -0.1.
    assert np.allclose(curve.value([0, 100, 150, 200]), [35.0, 5.0, 0.0, 0.0])
    assert curve.demand(0.3) == (0.0, 100.0)
    assert curve.demand(0.2) == (100.0, 100.0)
    assert np.allclose(curve.group_fraction_learned(120.0), [0.4, 1.0])
    assert np.allclose(sorted(curve.kinks()), [0.1, 0.3])


def test_multifrequency_curve_merges_groups_of_equal_frequency():
    curve = MultiFrequencyFactsCurve([FactGroup(1, 2, 0.5), FactGroup(3, 2, 0.5)])
    assert curve.demand(0.5) == (0.0, 8.0)
    assert len(curve.kinks()) == 1


def test_tabulated_curve_interpolates_and_extends():
    curve = TabulatedCurve([1, 2, 4, 8], [5, 4, 3.5, 3.4])
    assert np.allclose(curve.value([0, 1, 3, 8, 100]), [6.0, 5.0, 3.75, 3.4, 3.4])
    assert curve.demand(0.25) == (2.0, 4.0)


def test_tabulated_curve_rejects_a_nonconvex_table():
    with pytest.raises(ValueError, match="convex"):
        TabulatedCurve([1, 2, 3], [5, 4, 2])
    with pytest.raises(ValueError, match="non-increasing"):
        TabulatedCurve([1, 2, 3], [5, 4, 4.5])


def test_tabulated_curve_convexify_takes_the_lower_hull():
    curve = TabulatedCurve([1, 2, 3, 4], [5, 4.9, 2, 2.5], convexify=True)
    # Hull through (1, 5), (3, 2); flat after the minimum.
    assert np.allclose(curve.value([1, 2, 3, 4]), [5, 3.5, 2, 2])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: PowerLawCurve(1, 2, 1.2), "alpha must be in \\(0, 1\\), got 1.2"),
        (lambda: PowerLawCurve(1, -2, 0.3), "amplitude A must be > 0, got -2"),
        (lambda: FactsCurve(0.0, 10), "exposure_frequency p must be > 0, got 0.0"),
        (lambda: FactsCurve(0.1, -1), "entropy_bits H must be > 0, got -1"),
        (lambda: TabulatedCurve([1, 1], [2, 3]), "distinct"),
        (lambda: FactGroup(0, 1, 1), "count must be > 0"),
    ],
)
def test_bad_curve_parameters_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()
