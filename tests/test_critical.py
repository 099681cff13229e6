"""The logistic crossing (capacity.critical): recovers known thresholds, covers them at about the
stated rate, and refuses data that do not bracket the level."""
import numpy as np
import pytest

from capacity.critical import (CriticalEstimate, critical_frequency, critical_ratio, critical_size, firth_logistic,
                               logistic_fit)


def _logit(p):
    return np.log(p / (1 - p))


def _simulate(rng, ratios, r_c, slope, items, level=0.1):
    p = 1 / (1 + np.exp(-(_logit(level) + slope * (np.log(ratios) - np.log(r_c)))))
    return rng.binomial(items, p)


def test_logistic_fit_recovers_coefficients_from_expected_counts():
    x = np.linspace(-2, 2, 9)
    n = np.full(9, 1e6)
    p = 1 / (1 + np.exp(-(0.7 + 1.9 * x)))
    a, b, ok = logistic_fit(x, n * p, n)
    assert ok and a == pytest.approx(0.7, abs=1e-3) and b == pytest.approx(1.9, abs=1e-3)


def test_firth_fit_is_finite_under_separation():
    coef, ok = firth_logistic(np.array([[1, 0.0], [1, 1.0], [1, 2.0], [1, 3.0]]), [0, 0, 50, 50], [50, 50, 50, 50])
    assert ok and np.all(np.isfinite(coef)) and coef[1] > 0


def test_critical_ratio_recovers_a_known_threshold():
    ratios = np.array([0.15, 0.2, 0.25, 0.3, 0.4, 0.5])
    items = np.full(6, 10**6)
    p = 1 / (1 + np.exp(-(_logit(0.1) + 6.0 * (np.log(ratios) - np.log(0.27)))))
    est = critical_ratio(ratios, items * p, items, level=0.1, n_boot=200)
    assert isinstance(est, CriticalEstimate)
    assert est.value == pytest.approx(0.27, rel=1e-3)
    assert est.interval[0] <= est.value <= est.interval[1]
    assert est.points == 6 and est.level == 0.1 and est.slope == pytest.approx(6.0, rel=1e-2)


def test_odds_variable_recovers_a_threshold_in_the_odds():
    ratios = np.array([0.15, 0.2, 0.25, 0.3, 0.4, 0.5])
    odds = np.log(ratios / (1 - ratios))
    items = np.full(6, 10**6)
    p = 1 / (1 + np.exp(-(_logit(0.1) + 4.0 * (odds - np.log(0.25 / 0.75)))))
    est = critical_ratio(ratios, items * p, items, variable="odds", n_boot=100)
    assert est.value == pytest.approx(0.25, rel=1e-3) and est.variable == "odds"


def test_interval_covers_the_truth_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    ratios = np.array([0.15, 0.2, 0.25, 0.3, 0.4, 0.5])
    covered = 0
    for i in range(100):
        k = _simulate(rng, ratios, 0.3, 6.0, 640)
        est = critical_ratio(ratios, k, np.full(6, 640), n_boot=200, seed=i)
        covered += est.interval[0] <= 0.3 <= est.interval[1]
    assert 88 <= covered <= 100


def test_seed_bootstrap_widens_the_interval_when_seeds_disagree():
    rng = np.random.default_rng(0)
    ratios = np.tile([0.2, 0.3, 0.4, 0.5], 3)
    seeds = np.repeat([0, 1, 2], 4)
    r_c = np.repeat([0.25, 0.3, 0.36], 4)  # seeds that really differ
    p = 1 / (1 + np.exp(-(_logit(0.1) + 6.0 * (np.log(ratios) - np.log(r_c)))))
    k = rng.binomial(640, p)
    items_only = critical_ratio(ratios, k, np.full(12, 640), n_boot=400)
    with_seeds = critical_ratio(ratios, k, np.full(12, 640), seeds=seeds, n_boot=400)
    width = lambda e: np.log(e.interval[1] / e.interval[0])
    assert with_seeds.value == items_only.value
    assert width(with_seeds) > 1.5 * width(items_only)


def test_people_level_bootstrap_is_wider_than_item_level():
    ratios = np.array([0.2, 0.3, 0.4, 0.6])
    k = np.array([3, 28, 131, 570])
    items = critical_ratio(ratios, k, np.full(4, 640), n_boot=400)
    people = critical_ratio(ratios, k, np.full(4, 640), items_per_person=5, n_boot=400)
    assert np.log(people.interval[1] / people.interval[0]) > 1.5 * np.log(items.interval[1] / items.interval[0])


def test_unbracketed_data_raise_naming_the_values():
    with pytest.raises(ValueError, match="do not bracket.*0.2: 0.0"):
        critical_ratio([0.1, 0.2], [0, 1], [640, 640], level=0.1)
    with pytest.raises(ValueError, match="rise"):
        critical_ratio([0.1, 0.2, 0.3], [600, 10, 0], [640, 640, 640], level=0.1)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        critical_ratio([0.1, 1.2], [0, 600], [640, 640])
    with pytest.raises(ValueError, match="correct must be in"):
        critical_ratio([0.1, 0.2], [0, 700], [640, 640])


def test_threshold_frequency_is_an_interpolated_crossing_not_a_group():
    freqs = np.geomspace(1e-6, 1e-4, 12)
    items = np.full(12, 10**6)
    truth = 7.3e-6  # between two groups' frequencies
    p = 1 / (1 + np.exp(-(_logit(0.8) + 3.0 * (np.log(freqs) - np.log(truth)))))
    est = critical_frequency(freqs, items * p, items, n_boot=100)
    assert est.value == pytest.approx(truth, rel=1e-3) and not np.any(np.isclose(freqs, est.value))


def test_critical_size_at_fixed_ratio():
    sizes = np.array([5e4, 1e5, 2e5, 5e5])
    items = np.full(4, 10**6)
    p = 1 / (1 + np.exp(-(_logit(0.1) + 2.0 * (np.log(sizes) - np.log(1.5e5)))))
    assert critical_size(sizes, items * p, items, n_boot=100).value == pytest.approx(1.5e5, rel=1e-3)


def test_a_local_window_keeps_the_runs_around_the_crossing():
    ratios = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.6])
    k = np.array([0, 5, 40, 300, 600, 640])
    est = critical_ratio(ratios, k, np.full(6, 640), window=1, n_boot=50)
    assert est.points == 2 and 0.2 < est.value < 0.3  # 6.25% at 0.2, 47% at 0.3
    with pytest.raises(ValueError, match="window must be a positive integer"):
        critical_ratio(ratios, k, np.full(6, 640), window=0)


def test_a_seed_at_one_value_is_pooled_with_the_main_seed_not_refused():
    # The quick preset repeats one ratio with a second seed: that seed alone has no crossing, so it is
    # bootstrapped together with seed 0, and the estimate equals the fit over all four runs.
    ratios, k, n = [0.1, 0.2, 0.3, 0.3], [0, 100, 600, 500], [640] * 4
    pooled = critical_ratio(ratios, k, n, seeds=[0, 0, 0, 1], n_boot=200)
    plain = critical_ratio(ratios, k, n, n_boot=200)
    assert pooled.value == pytest.approx(plain.value)
    assert pooled.interval[0] < pooled.value < pooled.interval[1]
    # Every seed at one value: no cluster can be resampled, so the bootstrap is over items only.
    alone = critical_ratio(ratios, k, n, seeds=[0, 1, 2, 3], n_boot=200)
    assert alone.interval == critical_ratio(ratios, k, n, n_boot=200).interval
