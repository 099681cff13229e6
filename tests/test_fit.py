"""Fits of capacity.fit against synthetic data from known laws and hand-computed estimators."""
import numpy as np
import pytest

from capacity.fit import (
    ALPHA_MAX,
    fit_power_law_slope,
    fit_scaling_law,
    fit_steps_to_target,
    threshold_frequency_grouped,
    threshold_popularity,
)

# The paper's FineWeb-Edu validation-loss law, M in millions of parameters (arXiv 2505.18091, Fig. 7).
C_TRUE, A_TRUE, ALPHA_TRUE = 1.769, 4.952, 0.283
SIZES_MILLIONS = np.geomspace(14, 1000, 12)


def paper_law(m):
    return C_TRUE + A_TRUE * m ** (-ALPHA_TRUE)


# --------------------------------------------------------------------------- scaling law


def test_scaling_law_recovers_exact_law():
    fit = fit_scaling_law(SIZES_MILLIONS, paper_law(SIZES_MILLIONS), n_bootstrap=0)
    assert fit.C == pytest.approx(C_TRUE, rel=1e-3)
    assert fit.A == pytest.approx(A_TRUE, rel=1e-3)
    assert fit.alpha == pytest.approx(ALPHA_TRUE, rel=1e-3)
    assert fit.C_interval is None and fit.n_bootstrap_used == 0
    assert fit.n_points == 12 and fit.huber_delta == 1e-3


def test_scaling_law_noisy_points_within_tolerance_and_in_bootstrap_interval():
    rng = np.random.default_rng(0)
    losses = paper_law(SIZES_MILLIONS) * (1 + 0.02 * rng.standard_normal(SIZES_MILLIONS.size))
    fit = fit_scaling_law(SIZES_MILLIONS, losses, n_bootstrap=40, seed=1)
    # 2% noise on 12 points pins the curve far better than its three parameters.
    assert np.max(np.abs(fit.predict(SIZES_MILLIONS) / paper_law(SIZES_MILLIONS) - 1)) < 0.02
    assert abs(fit.alpha - ALPHA_TRUE) < 0.06
    assert fit.A == pytest.approx(A_TRUE, rel=0.1)
    assert fit.C == pytest.approx(C_TRUE, rel=0.15)
    assert fit.n_bootstrap_used == 40 and fit.confidence == 0.95
    for true, (low, high) in [(C_TRUE, fit.C_interval), (A_TRUE, fit.A_interval), (ALPHA_TRUE, fit.alpha_interval)]:
        assert low <= true <= high


def test_scaling_law_bootstrap_is_reproducible_from_seed():
    rng = np.random.default_rng(3)
    losses = paper_law(SIZES_MILLIONS) * (1 + 0.02 * rng.standard_normal(SIZES_MILLIONS.size))
    first = fit_scaling_law(SIZES_MILLIONS, losses, n_bootstrap=8, seed=7)
    second = fit_scaling_law(SIZES_MILLIONS, losses, n_bootstrap=8, seed=7)
    assert first == second


def test_scaling_law_huber_ignores_one_wild_outlier_where_least_squares_does_not():
    losses = paper_law(SIZES_MILLIONS)
    losses[5] *= 1.5
    clean = np.arange(12) != 5
    robust = fit_scaling_law(SIZES_MILLIONS, losses, n_bootstrap=0)
    # delta far above every residual turns Huber into plain least squares on log-loss.
    plain = fit_scaling_law(SIZES_MILLIONS, losses, huber_delta=10.0, n_bootstrap=0)
    robust_err = np.max(np.abs(robust.predict(SIZES_MILLIONS[clean]) / losses[clean] - 1))
    plain_err = np.max(np.abs(plain.predict(SIZES_MILLIONS[clean]) / losses[clean] - 1))
    assert robust_err < 1e-3
    assert plain_err > 1e-2
    assert robust.alpha == pytest.approx(ALPHA_TRUE, rel=1e-2)


def test_scaling_law_units_of_size_only_rescale_A():
    losses = paper_law(SIZES_MILLIONS)
    in_millions = fit_scaling_law(SIZES_MILLIONS, losses, n_bootstrap=0)
    in_params = fit_scaling_law(SIZES_MILLIONS * 1e6, losses, n_bootstrap=0)
    assert in_params.alpha == pytest.approx(in_millions.alpha, rel=1e-3)
    assert in_params.C == pytest.approx(in_millions.C, rel=1e-3)
    assert in_params.A == pytest.approx(in_millions.A * 1e6**in_millions.alpha, rel=1e-2)


def test_scaling_law_predict_and_slope_are_vectorised_closed_forms():
    fit = fit_scaling_law(SIZES_MILLIONS, paper_law(SIZES_MILLIONS), n_bootstrap=0)
    m = np.array([[70.0, 160.0], [410.0, 1e4]])
    assert fit.predict(m).shape == (2, 2)
    np.testing.assert_allclose(fit.slope(m), -fit.A * fit.alpha * m ** (-fit.alpha - 1))
    h = 1e-4 * m
    np.testing.assert_allclose(fit.slope(m), (fit.predict(m + h) - fit.predict(m - h)) / (2 * h), rtol=1e-6)


def test_scaling_law_skips_bootstrap_resamples_with_fewer_than_three_sizes():
    sizes = np.array([10.0, 100.0, 1000.0])
    fit = fit_scaling_law(sizes, paper_law(sizes), n_bootstrap=30, seed=0)
    # A resample of 3 points has 3 distinct sizes with probability 6/27.
    assert 0 < fit.n_bootstrap_used < 30


def test_scaling_law_alpha_stays_within_bounds():
    sizes = np.geomspace(1, 100, 6)
    fit = fit_scaling_law(sizes, 1.0 + 5.0 * sizes**-3.0, n_bootstrap=0)
    assert 0 < fit.alpha <= ALPHA_MAX


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sizes=[1, 2], losses=[3, 2]), "sizes must have at least 3 values, got 2"),
        (dict(sizes=[1, 2, -3], losses=[3, 2, 1]), r"sizes must be > 0, got -3.0"),
        (dict(sizes=[1, 2, 3], losses=[3, 0, 1]), r"losses must be > 0, got 0.0"),
        (dict(sizes=[1, 2, np.nan], losses=[3, 2, 1]), "sizes must be finite, got nan"),
        (dict(sizes=[1, 2, 3], losses=[3, 2, 1, 1]), "same length, got 3 and 4"),
        (dict(sizes=[1, 1, 3], losses=[3, 2, 1]), "at least 3 distinct values, got 2"),
        (dict(sizes=[1, 2, 3], losses=[3, 2, 1], huber_delta=0), r"huber_delta must be in \(0, inf\), got 0.0"),
        (dict(sizes=[1, 2, 3], losses=[3, 2, 1], confidence=1.0), r"confidence must be in \(0, 1\), got 1.0"),
        (dict(sizes=[1, 2, 3], losses=[3, 2, 1], n_bootstrap=-1), "n_bootstrap must be an integer >= 0, got -1"),
        (dict(sizes=[1, 2, 3], losses=[3, 2, 1], seed=1.5), "seed must be an integer >= 0"),
        (dict(sizes=[[1, 2, 3]], losses=[3, 2, 1]), "sizes must be one-dimensional"),
        (dict(sizes=["a", 2, 3], losses=[3, 2, 1]), "sizes must be a sequence of numbers"),
    ],
)
def test_scaling_law_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_scaling_law(**kwargs)


def test_scaling_law_predict_rejects_nonpositive_size():
    fit = fit_scaling_law(SIZES_MILLIONS, paper_law(SIZES_MILLIONS), n_bootstrap=0)
    with pytest.raises(ValueError, match=r"M must be finite and > 0, got 0.0"):
        fit.predict([1.0, 0.0])
    with pytest.raises(ValueError, match=r"M must be finite and > 0, got -1.0"):
        fit.slope(-1.0)


# --------------------------------------------------------------------------- grouped threshold


def test_grouped_threshold_is_first_group_below_target_by_falling_frequency():
    result = threshold_frequency_grouped([1.0, 8.0, 4.0, 2.0], [0.1, 0.95, 0.85, 0.5], target=0.8)
    assert (result.threshold_frequency, result.index, result.rank) == (2.0, 3, 2)
    assert not result.all_learned


def test_grouped_threshold_accuracy_equal_to_target_meets_it():
    result = threshold_frequency_grouped([3.0, 2.0, 1.0], [0.8, 0.8, 0.79], target=0.8)
    assert result.threshold_frequency == 1.0


def test_grouped_threshold_all_groups_learned_is_censored():
    result = threshold_frequency_grouped([3.0, 2.0, 1.0], [0.9, 0.85, 0.99])
    assert result.threshold_frequency is None and result.index is None and result.all_learned


def test_grouped_threshold_all_groups_below_returns_highest_frequency():
    result = threshold_frequency_grouped([3.0, 7.0, 1.0], [0.1, 0.2, 0.0])
    assert (result.threshold_frequency, result.index, result.rank) == (7.0, 1, 0)


def test_grouped_threshold_first_dip_wins_even_if_a_rarer_group_recovers():
    result = threshold_frequency_grouped([5.0, 4.0, 3.0, 2.0], [0.9, 0.7, 0.9, 0.1])
    assert result.threshold_frequency == 4.0


@pytest.mark.parametrize(
    "args, message",
    [
        (([1.0, 0.0], [0.5, 0.5]), r"frequencies must be > 0, got 0.0"),
        (([1.0, 2.0], [0.5, 80.0]), r"accuracies must be in \[0, 1\], got 80.0"),
        (([1.0, 2.0], [0.5]), "same length, got 2 and 1"),
        (([], []), "frequencies must have at least 1 values, got 0"),
        (([1.0], [0.5], 0.0), r"target must be in \(0, 1\], got 0.0"),
    ],
)
def test_grouped_threshold_rejects_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        threshold_frequency_grouped(*args)


# --------------------------------------------------------------------------- Algorithm 1

# Cumulative accuracy down the list: 0, 1/2, 2/3, 3/4, 3/5, 3/6, 4/7, 5/8 against target 0.6:
# fail, fail, met (8), met (7), met (6), fail, fail, met (3).
POPULARITY = [10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0]
CORRECT = [0, 1, 1, 1, 0, 0, 1, 1]


def test_algorithm1_walks_whole_list_when_failures_are_tolerated():
    result = threshold_popularity(POPULARITY, CORRECT, target=0.6, max_failures=5)
    assert result.threshold_popularity == 3.0
    assert result.target_met and not result.stopped_early and result.n_failures == 4


def test_algorithm1_stops_after_exceeding_failure_tolerance():
    result = threshold_popularity(POPULARITY, CORRECT, target=0.6, max_failures=3)
    assert result.threshold_popularity == 6.0
    assert result.stopped_early and result.n_failures == 4


def test_algorithm1_never_met_returns_smallest_popularity():
    result = threshold_popularity(POPULARITY, CORRECT, target=0.6, max_failures=1)
    assert result.threshold_popularity == 3.0
    assert not result.target_met and result.stopped_early


def test_algorithm1_ignores_input_order_and_treats_ties_as_one_step():
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(POPULARITY))
    shuffled = threshold_popularity(np.array(POPULARITY)[perm], np.array(CORRECT)[perm], target=0.6)
    assert shuffled.threshold_popularity == 3.0
    # Tied popularity 5: accuracy of the pair is 1/2 whichever comes first.
    for correct in ([0, 1, 1], [1, 0, 1]):
        result = threshold_popularity([5.0, 5.0, 4.0], correct, target=0.5, max_failures=0)
        assert result.threshold_popularity == 4.0 and result.n_failures == 0


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (([1.0, 2.0], [1, 2]), {}, "correct must be 0 or 1, got 2.0"),
        (([1.0, -2.0], [1, 0]), {}, r"popularity must be > 0, got -2.0"),
        (([1.0, 2.0], [1, 0]), dict(target=1.5), r"target must be in \(0, 1\], got 1.5"),
        (([1.0, 2.0], [1, 0]), dict(max_failures=-1), "max_failures must be an integer >= 0, got -1"),
        (([1.0, np.inf], [1, 0]), {}, "popularity must be finite, got inf"),
    ],
)
def test_algorithm1_rejects_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        threshold_popularity(*args, **kwargs)


# --------------------------------------------------------------------------- steps to target

# The paper's appendix E.5 exponential fit, T in billions of tokens, fitted on r >= 0.3.
LOG_A_PAPER, B_PAPER = -0.25512, 1.5137
RATIOS = np.array([0.3, 0.35, 0.4, 0.45, 0.5, 0.55])


def test_steps_fit_recovers_paper_exponential_and_held_out_ratio():
    steps = np.exp(LOG_A_PAPER + B_PAPER / RATIOS)
    measured_025 = 2.5 * np.exp(LOG_A_PAPER + B_PAPER / 0.25)
    fits = fit_steps_to_target(RATIOS, steps, held_out={0.25: measured_025})
    exp_fit, pow_fit = fits.exponential, fits.power_law
    assert exp_fit.log_A == pytest.approx(LOG_A_PAPER, abs=1e-9)
    assert exp_fit.B == pytest.approx(B_PAPER, rel=1e-9)
    assert exp_fit.r_squared == pytest.approx(1.0)
    assert exp_fit.A == pytest.approx(np.exp(LOG_A_PAPER))
    [held] = exp_fit.held_out
    assert held.mixing_ratio == 0.25 and held.measured_over_predicted == pytest.approx(2.5)
    # The power law bends less than exp(B/r), so it under-predicts at the lower ratio.
    [held_pow] = pow_fit.held_out
    assert held_pow.predicted_steps == pytest.approx(pow_fit.C * 0.25 ** (-pow_fit.D))
    assert held_pow.measured_over_predicted > 2.5
    assert 0.9 < pow_fit.r_squared < 1.0


def test_steps_fit_power_law_data_extrapolation_ratios():
    c_true, d_true = 0.098158, 3.83878  # the paper's power-law fit
    steps = c_true * RATIOS ** (-d_true)
    measured = {0.2: c_true * 0.2 ** (-d_true), 0.25: 3.0 * c_true * 0.25 ** (-d_true)}
    fits = fit_steps_to_target(RATIOS, steps, held_out=measured)
    pow_fit = fits.power_law
    assert pow_fit.C == pytest.approx(c_true, rel=1e-9) and pow_fit.D == pytest.approx(d_true, rel=1e-9)
    assert pow_fit.log_C == pytest.approx(np.log(c_true))
    ratios = {h.mixing_ratio: h.measured_over_predicted for h in pow_fit.held_out}
    assert ratios[0.2] == pytest.approx(1.0) and ratios[0.25] == pytest.approx(3.0)
    # log T is concave in 1/r for a power law, so the line in 1/r over-predicts outside the range.
    exp_at_02 = [h for h in fits.exponential.held_out if h.mixing_ratio == 0.2][0]
    assert exp_at_02.measured_over_predicted < 1.0
    np.testing.assert_allclose(fits.exponential.predict(0.2), exp_at_02.predicted_steps)


def test_steps_fit_r_squared_is_on_log_steps():
    rng = np.random.default_rng(0)
    log_steps = LOG_A_PAPER + B_PAPER / RATIOS + 0.05 * rng.standard_normal(RATIOS.size)
    fit = fit_steps_to_target(RATIOS, np.exp(log_steps)).exponential
    residual = log_steps - (fit.log_A + fit.B / RATIOS)
    expected = 1 - np.sum(residual**2) / np.sum((log_steps - log_steps.mean()) ** 2)
    assert fit.r_squared == pytest.approx(expected)
    assert fit.held_out == ()


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (([0.3, 0.4, 1.3], [3.0, 2.0, 1.0]), {}, r"mixing_ratios must be in \(0, 1\], got 1.3"),
        (([0.3, 0.4, 0.0], [3.0, 2.0, 1.0]), {}, r"mixing_ratios must be in \(0, 1\], got 0.0"),
        (([0.3, 0.4, 0.5], [3.0, -2.0, 1.0]), {}, r"steps must be > 0, got -2.0"),
        (([0.3, 0.4], [3.0, 2.0]), {}, "mixing_ratios must have at least 3 values, got 2"),
        (([0.3, 0.3, 0.3], [3.0, 2.0, 1.0]), {}, "at least 2 distinct values, got 1"),
        (([0.3, 0.4, 0.5], [3.0, 2.0, 1.0]), dict(held_out={1.5: 2.0}), r"held_out mixing ratios must be in \(0, 1\]"),
        (([0.3, 0.4, 0.5], [3.0, 2.0, 1.0]), dict(held_out={0.2: 0.0}), r"held_out steps must be > 0, got 0.0"),
        (([0.3, 0.4, 0.5], [3.0, 2.0, 1.0]), dict(held_out=[0.2]), "held_out must be a mapping"),
    ],
)
def test_steps_fit_rejects_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_steps_to_target(*args, **kwargs)


# --------------------------------------------------------------------------- power-law slope

MODEL_SIZES = np.array([14e6, 31e6, 70e6, 160e6, 410e6, 1e9])
SLOPE_THEORY = -(ALPHA_TRUE + 1)  # -1.283, Section 4


def test_slope_fit_exact_power_law():
    fit = fit_power_law_slope(MODEL_SIZES, 3.0 * MODEL_SIZES**SLOPE_THEORY)
    assert fit.slope == pytest.approx(SLOPE_THEORY, rel=1e-10)
    assert fit.prefactor == pytest.approx(3.0, rel=1e-8)
    assert fit.r_squared == pytest.approx(1.0)
    np.testing.assert_allclose(fit.predict([1e8, 2e8]), 3.0 * np.array([1e8, 2e8]) ** SLOPE_THEORY, rtol=1e-8)
    assert fit.slope_interval_bootstrap is None and fit.n_bootstrap_used == 0


def test_slope_fit_noisy_points_interval_covers_theory():
    rng = np.random.default_rng(0)
    y = 3.0 * MODEL_SIZES**SLOPE_THEORY * np.exp(0.1 * rng.standard_normal(MODEL_SIZES.size))
    fit = fit_power_law_slope(MODEL_SIZES, y, confidence=0.95, n_bootstrap=300, seed=0)
    assert abs(fit.slope - SLOPE_THEORY) < 0.1
    low, high = fit.slope_interval
    assert low < SLOPE_THEORY < high
    # The t interval is slope +- t_{0.975, n-2} * stderr.
    assert high - low == pytest.approx(2 * 2.7764451051977987 * fit.slope_stderr, rel=1e-9)
    boot_low, boot_high = fit.slope_interval_bootstrap
    assert boot_low < SLOPE_THEORY < boot_high
    assert 0 < fit.n_bootstrap_used <= 300 and fit.n_points == 6


def test_slope_fit_bootstrap_skips_resamples_with_one_distinct_x():
    x = np.array([1.0, 10.0, 100.0])
    fit = fit_power_law_slope(x, x**-1.5, n_bootstrap=200, seed=0)
    # All three draws hit the same point with probability 3/27; every other resample is exact.
    assert 150 < fit.n_bootstrap_used < 200
    assert fit.slope_interval_bootstrap == pytest.approx((-1.5, -1.5))


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (([1.0, 2.0], [1.0, 0.5]), {}, "x must have at least 3 values, got 2"),
        (([1.0, 2.0, 0.0], [1.0, 0.5, 0.2]), {}, r"x must be > 0, got 0.0"),
        (([1.0, 2.0, 3.0], [1.0, -0.5, 0.2]), {}, r"y must be > 0, got -0.5"),
        (([2.0, 2.0, 2.0], [1.0, 0.5, 0.2]), {}, "x must contain at least 2 distinct values, got 1"),
        (([1.0, 2.0, 3.0], [1.0, 0.5, 0.2]), dict(confidence=0.0), r"confidence must be in \(0, 1\), got 0.0"),
        (([1.0, 2.0, 3.0], [1.0, 0.5, 0.2]), dict(n_bootstrap=2.5), "n_bootstrap must be an integer >= 0"),
        (([1.0, 2.0, 3.0], [1.0, 0.5, 0.2]), dict(seed=-1), "seed must be an integer >= 0"),
    ],
)
def test_slope_fit_rejects_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_power_law_slope(*args, **kwargs)
