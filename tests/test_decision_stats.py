"""The decision framework's primitives (issue 25) on hand-made inputs whose answers are known:
prediction intervals for a single run's accuracy and epoch count, shares within a bound,
non-inferiority and equivalence on paired differences, the test set's noise floor and Holm
within claims."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from qmoe_cli.metrics import (
    ACCURACY_RANGE,
    accuracy_prediction_interval,
    adjust_families,
    epochs_prediction_interval,
    equivalence,
    holm,
    margin_sensitivity,
    noise_floor,
    non_inferiority,
    prediction_interval,
    share_within,
)

T_975_2 = 4.302653  # t(0.975, 2 dof)
T_95_4 = 2.131847  # t(0.95, 4 dof)
Z_975 = 1.959964  # the normal's 0.975 quantile


# --- accuracy_prediction_interval


def test_five_perfect_runs_can_still_miss_a_row():
    low, high = accuracy_prediction_interval([1.0] * 5, 167)
    assert high == 1.0
    assert low == 166 / 167  # a single run can miss one of its 167 rows
    assert prediction_interval([1.0] * 5, bounds=ACCURACY_RANGE) == (1.0, 1.0)  # the old answer
    # no spread beyond the binomial: exactly the Jeffreys posterior predictive
    jeffreys = stats.betabinom(167, 835 + 0.5, 0 + 0.5)
    assert (low, high) == (jeffreys.ppf(0.025) / 167, jeffreys.ppf(0.975) / 167)


def test_accuracy_interval_is_symmetric_at_zero_and_one_hundred_percent():
    low, high = accuracy_prediction_interval([0.0] * 5, 167)
    assert (low, high) == (0.0, 1 / 167)
    top_low, top_high = accuracy_prediction_interval([1.0] * 5, 167)
    assert (low, high) == pytest.approx((1 - top_high, 1 - top_low))
    accs = [0.90, 0.95, 0.93, 0.97, 0.88]  # and anywhere: a <-> 1 - a mirrors the interval
    low, high = accuracy_prediction_interval(accs, 100)
    mirrored = accuracy_prediction_interval([1 - a for a in accs], 100)
    assert mirrored == pytest.approx((1 - high, 1 - low))


def test_accuracy_interval_is_close_to_the_t_interval_for_ordinary_spread():
    # 20 seeds at 0.9 +- 0.03 on 200 rows: sd 0.031, well above the binomial's 0.021
    accs = [0.87] * 10 + [0.93] * 10
    low, high = accuracy_prediction_interval(accs, 200)
    t_low, t_high = prediction_interval(accs, bounds=ACCURACY_RANGE)
    assert low == pytest.approx(t_low, abs=0.006)  # 0.830 vs 0.834
    assert high == pytest.approx(t_high, abs=0.012)  # 0.955 vs 0.966: a beta is shorter toward 1
    # the seeds' spread is counted: the binomial alone would give a width of about 0.083
    assert high - low > 0.12


def test_accuracy_interval_with_binomial_spread_only_matches_jeffreys():
    # a spread below the binomial's (rho floored at 0) gives the pooled Jeffreys predictive
    accs = [0.90, 0.905, 0.895, 0.90]  # sd 0.004 << sqrt(0.09 / 200) = 0.021
    jeffreys = stats.betabinom(200, 720 + 0.5, 80 + 0.5)
    expected = (jeffreys.ppf(0.025) / 200, jeffreys.ppf(0.975) / 200)
    assert accuracy_prediction_interval(accs, 200) == expected


def test_accuracy_interval_per_seed_test_sizes_use_the_median():
    accs = [0.9, 0.9, 0.9]
    assert accuracy_prediction_interval(accs, 200) == accuracy_prediction_interval(accs, [200] * 3)
    for sizes, median in (([100, 200, 300], 200), ([100, 150, 200, 250], 175)):
        low, high = accuracy_prediction_interval([0.9] * len(sizes), sizes)
        assert low * median == pytest.approx(round(low * median), abs=1e-9)
        assert high * median == pytest.approx(round(high * median), abs=1e-9)
    with pytest.raises(ValueError):
        accuracy_prediction_interval(accs, [200, 200])  # one size per seed


def test_accuracy_interval_rounds_onto_the_grid_and_falls_back_without_n():
    accs = [0.87, 0.93, 0.90, 0.91]
    off_grid = [a + 1e-3 for a in accs]  # within half a row of 200 (0.0025)
    assert accuracy_prediction_interval(off_grid, 200) == accuracy_prediction_interval(accs, 200)
    assert accuracy_prediction_interval(accs, None) == prediction_interval(
        accs, bounds=ACCURACY_RANGE
    )
    assert all(math.isnan(v) for v in accuracy_prediction_interval([0.9], 200))
    with pytest.raises(ValueError):
        accuracy_prediction_interval([0.9, 1.2], 200)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 50), min_size=2, max_size=8),
    st.integers(2, 50),
    st.sampled_from([0.8, 0.95, 0.99]),
)
def test_accuracy_interval_stays_on_the_grid_within_zero_and_one(counts, n, confidence):
    counts = [min(k, n) for k in counts]
    low, high = accuracy_prediction_interval([k / n for k in counts], n, confidence)
    assert 0.0 <= low <= high <= 1.0
    assert low * n == pytest.approx(round(low * n), abs=1e-9)
    assert high * n == pytest.approx(round(high * n), abs=1e-9)


# --- epochs_prediction_interval and share_within


def test_epoch_interval_on_the_log_scale_is_positive_for_skewed_counts():
    epochs = [10, 11, 12, 13, 14, 15] * 2 + [10, 12, 14] + [60, 70, 80, 90, 100]
    assert prediction_interval(epochs)[0] < 0  # the raw interval's lower end
    low, high = epochs_prediction_interval(epochs)
    assert 0 < low < min(epochs) and high > max(epochs)
    geometric_mean = math.exp(np.mean(np.log(epochs)))
    assert low * high == pytest.approx(geometric_mean**2)  # symmetric on the log scale


def test_epoch_interval_on_a_hand_example():
    # log counts 1, 2, 3: mean 2, s = 1, n = 3
    low, high = epochs_prediction_interval([math.e, math.e**2, math.e**3])
    half = T_975_2 * math.sqrt(4 / 3)
    assert low == pytest.approx(math.exp(2 - half), rel=1e-6)
    assert high == pytest.approx(math.exp(2 + half), rel=1e-6)
    scaled = epochs_prediction_interval([10 * math.e, 10 * math.e**2, 10 * math.e**3])
    assert scaled == pytest.approx((10 * low, 10 * high))  # no unit of its own
    assert all(math.isnan(v) for v in epochs_prediction_interval([12]))
    with pytest.raises(ValueError):
        epochs_prediction_interval([12, 0])


def test_share_within_none_of_twenty_slow_seeds():
    epochs = [25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 30, 30, 30, 29, 31, 28, 32, 27, 33]
    share, low, high = share_within(epochs, 20.5)
    assert (share, low) == (0.0, 0.0)
    assert high == pytest.approx(Z_975**2 / (20 + Z_975**2), rel=1e-6)  # Wilson at k = 0
    assert high < 0.2


def test_share_within_counts_the_bound_and_matches_wilson():
    share, low, high = share_within([10, 20, 20.5, 21], 20.5)
    assert share == 0.75  # <= bound
    k, n, z2 = 3, 4, Z_975**2
    centre = (k + z2 / 2) / (n + z2)
    half = Z_975 / (n + z2) * math.sqrt(k * (n - k) / n + z2 / 4)
    assert (low, high) == pytest.approx((centre - half, centre + half), rel=1e-6)
    assert all(math.isnan(v) for v in share_within([], 20.5))


# --- non_inferiority, equivalence, margin_sensitivity

B = [0.90] * 5
D = [-0.02, -0.01, 0.0, 0.01, 0.02]  # mean 0, s = 0.0158, se = 0.01 / sqrt(2)
A = [b + d for b, d in zip(B, D, strict=True)]
SE = 0.01 / math.sqrt(2)


def test_non_inferiority_on_a_hand_example():
    r = non_inferiority(A, B, 0.02)
    assert r["mean_diff"] == pytest.approx(0.0, abs=1e-12)
    assert r["lower_bound"] == pytest.approx(-T_95_4 * SE, rel=1e-5)
    assert r["flip_margin"] == pytest.approx(T_95_4 * SE, rel=1e-5)  # 0.0151
    one_sided = stats.ttest_1samp(D, -0.02, alternative="greater").pvalue
    assert r["p"] == pytest.approx(one_sided, rel=1e-6)
    assert r["ok"] and r["p"] < 0.05
    assert not non_inferiority(A, B, 0.01)["ok"]


def test_equivalence_on_a_hand_example():
    r = equivalence(A, B, 0.02)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((-T_95_4 * SE, T_95_4 * SE), rel=1e-5)
    assert r["flip_margin"] == pytest.approx(T_95_4 * SE, rel=1e-5)
    lower = stats.ttest_1samp(D, -0.02, alternative="greater").pvalue
    upper = stats.ttest_1samp(D, 0.02, alternative="less").pvalue
    assert (r["p_lower"], r["p_upper"]) == pytest.approx((lower, upper), rel=1e-6)
    assert r["p"] == max(r["p_lower"], r["p_upper"]) and r["ok"]
    assert not equivalence(A, B, 0.01)["ok"]
    # a shifted difference: non-inferior at 1 point, but not equivalent at 1.5 points
    shifted = [a + 0.01 for a in A]
    assert non_inferiority(shifted, B, 0.01)["ok"] and not equivalence(shifted, B, 0.015)["ok"]


@pytest.mark.parametrize("test", [non_inferiority, equivalence])
def test_the_verdict_flips_at_flip_margin(test):
    rng = np.random.default_rng(25)
    for _ in range(5):
        b = rng.uniform(0.8, 0.95, 8)
        a = b + rng.normal(rng.uniform(-0.03, 0.0), 0.015, 8)  # a loss: flip_margin > 0
        flip = test(a, b, 0.01)["flip_margin"]
        assert flip > 0
        assert not test(a, b, flip * (1 - 1e-6))["ok"]
        assert test(a, b, flip * (1 + 1e-6))["ok"]


def test_ok_agrees_with_the_confidence_interval():
    rng = np.random.default_rng(7)
    margins = np.linspace(0.0, 0.05, 26)
    for _ in range(5):
        b = rng.uniform(0.8, 0.95, 6)
        a = b + rng.normal(rng.uniform(-0.02, 0.02), 0.01, 6)
        for m in margins:
            ni, eq = non_inferiority(a, b, m), equivalence(a, b, m)
            assert ni["ok"] == (ni["lower_bound"] > -m) == (ni["p"] < 0.05)
            assert eq["ok"] == (-m < eq["ci_low"] and eq["ci_high"] < m) == (eq["p"] < 0.05)
            assert eq["ci_low"] == pytest.approx(ni["lower_bound"])  # both at t(1 - alpha)


def test_differences_without_variance_are_decided_on_the_constant():
    same = [0.8, 0.85, 0.9, 0.95, 1.0]
    for test in (non_inferiority, equivalence):
        assert test(same, same, 0.01)["ok"] and test(same, same, 0.01)["p"] == 0.0
        assert not test(same, same, 0.0)["ok"] and test(same, same, 0.0)["p"] == 1.0
        assert test(same, same, 0.01)["flip_margin"] == 0.0
    worse = [v - 0.02 for v in same]  # every seed 2 points worse, up to float rounding
    ni = non_inferiority(worse, same, 0.03)
    assert ni["ok"] and ni["p"] == 0.0 and ni["lower_bound"] == pytest.approx(-0.02)
    assert ni["flip_margin"] == pytest.approx(0.02)
    assert not non_inferiority(worse, same, 0.01)["ok"]
    eq = equivalence(worse, same, 0.03)
    assert eq["ok"] and (eq["ci_low"], eq["ci_high"]) == pytest.approx((-0.02, -0.02))
    assert not equivalence(worse, same, 0.01)["ok"] and equivalence(worse, same, 0.01)["p"] == 1
    better = [v + 0.02 for v in same]  # better is non-inferior at any margin, not equivalent
    assert non_inferiority(better, same, 0.0)["ok"] and not equivalence(better, same, 0.01)["ok"]


def test_one_seed_decides_nothing():
    for test in (non_inferiority, equivalence):
        r = test([0.9], [0.8], 0.05)
        assert not r["ok"] and math.isnan(r["p"]) and math.isnan(r["flip_margin"])


def test_margin_sensitivity_table():
    margins = [0.01, 0.015, 0.016, 0.02]  # the flip is at 0.0151
    expected = [(0.01, False), (0.015, False), (0.016, True), (0.02, True)]
    assert margin_sensitivity(non_inferiority, A, B, margins) == expected
    assert margin_sensitivity(equivalence, A, B, margins) == expected  # mean 0: symmetric


# --- noise_floor and adjust_families


def test_noise_floor_is_the_binomial_standard_error():
    assert noise_floor(0.9, 100) == pytest.approx(0.03)
    assert noise_floor(0.5, 100) == pytest.approx(0.05)
    assert noise_floor(1.0, 167) == 0.0
    assert noise_floor(0.8, 167) == pytest.approx(stats.binom(167, 0.8).std() / 167)


def test_adjust_families_adjusts_each_claim_on_its_own():
    tests = [
        ("A", 0.01),
        ("B", 0.04),
        ("A", 0.03),
        ("B", 0.01),
        ("A", float("nan")),
        ("C", 0.2),
    ]
    adjusted = adjust_families(tests)
    expected = [0.02, 0.04, 0.03, 0.02, float("nan"), 0.2]
    assert adjusted == pytest.approx(expected, nan_ok=True)
    # over everything at once (5 tests) the answers would differ
    assert holm([p for _, p in tests])[0] == pytest.approx(0.05)
    assert adjust_families([]) == []
