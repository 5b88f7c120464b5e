"""Intervals and paired tests on hand-made inputs."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmoe_cli.metrics import (
    ACCURACY_RANGE,
    COUNT_RANGE,
    NO_TEST,
    T_TEST,
    WILCOXON_NO_VARIANCE,
    compare_to_reference,
    holm,
    mean_ci,
    paired_comparison,
    prediction_interval,
)

T_975_2 = 4.302653  # t(0.975, 2 dof)
T_975_4 = 2.776445  # t(0.975, 4 dof)


def test_constant_differences_give_the_exact_wilcoxon_p_not_zero():
    b = [0.80, 0.85, 0.70, 0.90, 0.75]
    a = [v + 0.05 for v in b]  # every seed 5 points better (up to float rounding)
    c = paired_comparison(a, b, "B", "A")
    assert c["test"] == WILCOXON_NO_VARIANCE
    assert c["p"] == pytest.approx(2 / 2**5)  # both all-positive and all-negative signs
    assert math.isnan(c["t_test_p"])
    assert c["wilcoxon_p"] == pytest.approx(0.0625)
    assert "Wilcoxon signed-rank (differences have no variance) p = 0.0625" in c["verdict"]
    assert c["verdict"].startswith("no significant difference")  # 5 seeds cannot reach 0.05
    # exactly equal differences too, and with more seeds the test can decide
    seven = paired_comparison([0.9] * 7, [0.8] * 7, "B", "A")
    assert seven["p"] == pytest.approx(2 / 2**7) and seven["test"] == WILCOXON_NO_VARIANCE
    assert seven["verdict"].startswith("B beats A by 10.0 points")
    worse = paired_comparison([0.8] * 7, [0.9] * 7, "B", "A")
    assert worse["verdict"].startswith("A beats B by 10.0 points")


def test_differences_with_variance_use_the_paired_t_test():
    a = [0.90, 0.92, 0.94, 0.96, 0.98]
    b = [0.80, 0.83, 0.83, 0.87, 0.87]
    c = paired_comparison(a, b, "B", "A")
    # differences 0.10 0.09 0.11 0.09 0.11: t = 0.10 / (0.01 / sqrt 5) = 22.36, 4 dof
    assert c["test"] == T_TEST and c["p"] == c["t_test_p"]
    assert c["p"] == pytest.approx(2.4e-5, rel=0.05)
    assert "paired t-test p = 2.4e-05" in c["verdict"]


def test_no_difference_at_all_is_not_tested():
    c = paired_comparison([0.9, 0.8, 0.7], [0.9, 0.8, 0.7], "B", "A")
    assert math.isnan(c["p"]) and math.isnan(c["t_test_p"]) and math.isnan(c["wilcoxon_p"])
    assert c["test"] == NO_TEST
    assert c["verdict"].startswith("no significant difference")


def test_holm_on_known_lists():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.01, 0.02, 0.03, 0.04]) == pytest.approx([0.04, 0.06, 0.06, 0.06])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([0.04]) == pytest.approx([0.04])
    assert holm([]) == []


def test_holm_passes_nan_through_and_does_not_count_it():
    adjusted = holm([0.01, float("nan"), 0.04])
    assert math.isnan(adjusted[1])
    assert adjusted[0] == pytest.approx(0.02) and adjusted[2] == pytest.approx(0.04)


def test_compare_to_reference_adjusts_the_family_and_judges_on_the_adjusted_p():
    ref = [0.90, 0.91, 0.92, 0.93, 0.94, 0.95]
    accuracies = {
        "A": [0.80, 0.82, 0.82, 0.84, 0.85, 0.85],  # clearly worse
        "B": ref,
        "C": [0.905, 0.90, 0.93, 0.915, 0.95, 0.935],  # about the same
        "D": [0.88, 0.91, 0.90, 0.93, 0.925, 0.94],  # worse by 1.1 points, t-test p = 0.034
        "E": ref,  # identical: no test
    }
    rows = compare_to_reference("B", accuracies)
    assert [(r["a"], r["b"]) for r in rows] == [("B", "A"), ("B", "C"), ("B", "D"), ("B", "E")]
    plain = [paired_comparison(ref, accuracies[r["b"]], "B", r["b"])["p"] for r in rows]
    expected = holm(plain)
    for row, p, q in zip(rows, plain, expected, strict=True):
        assert row["p"] == pytest.approx(p, nan_ok=True)
        assert row["p_holm"] == pytest.approx(q, nan_ok=True)
        assert row["n_comparisons"] == 3  # E has no p and is not counted
    by = {r["b"]: r for r in rows}
    assert by["A"]["verdict"].startswith("B beats A")
    assert "Holm-adjusted p = " in by["A"]["verdict"] and "over 3 comparisons" in by["A"]["verdict"]
    # D: significant alone, not after the adjustment
    assert by["D"]["p"] < 0.05 <= by["D"]["p_holm"]
    assert by["D"]["verdict"].startswith("no significant difference between B and D")
    assert paired_comparison(ref, accuracies["D"], "B", "D")["verdict"].startswith("B beats D")
    assert math.isnan(by["E"]["p_holm"])


def test_comparison_columns():
    row = compare_to_reference("B", {"B": [0.9, 0.8, 0.7], "A": [0.8, 0.8, 0.6]})[0]
    assert list(row) == [
        "a",
        "b",
        "n_seeds",
        "mean_diff",
        "ci_low",
        "ci_high",
        "p",
        "test",
        "t_test_p",
        "wilcoxon_p",
        "p_holm",
        "n_comparisons",
        "verdict",
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=2, max_size=20),
    st.sampled_from([0.5, 0.9, 0.95, 0.99]),
)
def test_bounded_mean_ci_never_leaves_the_range(values, confidence):
    ci = mean_ci(values, confidence, bounds=ACCURACY_RANGE)
    assert 0.0 <= ci["ci_low"] <= ci["mean"] + 1e-12
    assert ci["mean"] - 1e-12 <= ci["ci_high"] <= 1.0
    low, high = prediction_interval(values, confidence, ACCURACY_RANGE)
    assert 0.0 <= low <= high <= 1.0


def test_mean_ci_bounds_truncate_only_what_sticks_out():
    values = [0.96, 1.0, 1.0, 0.98]
    free, bounded = mean_ci(values), mean_ci(values, bounds=ACCURACY_RANGE)
    assert free["ci_high"] > 1.0 and bounded["ci_high"] == 1.0
    assert bounded["ci_low"] == free["ci_low"] and bounded["mean"] == free["mean"]
    counts = mean_ci([1.0, 2.0, 30.0], bounds=COUNT_RANGE)
    assert counts["ci_low"] == 0.0 and counts["ci_high"] == mean_ci([1.0, 2.0, 30.0])["ci_high"]
    one = mean_ci([0.5], bounds=ACCURACY_RANGE)
    assert one["mean"] == 0.5 and math.isnan(one["ci_low"]) and math.isnan(one["ci_high"])


def test_prediction_interval_on_a_hand_example():
    # mean 2, s = 1, n = 3: mean +- t(0.975, 2) * 1 * sqrt(1 + 1/3)
    low, high = prediction_interval([1.0, 2.0, 3.0])
    half = T_975_2 * math.sqrt(4 / 3)
    assert low == pytest.approx(2 - half, rel=1e-6) and high == pytest.approx(2 + half, rel=1e-6)
    ci = mean_ci([1.0, 2.0, 3.0])
    assert low < ci["ci_low"] and high > ci["ci_high"]  # one run spreads more than the mean
    assert ci["ci_high"] - 2 == pytest.approx(T_975_2 / math.sqrt(3), rel=1e-6)
    values = [0.90, 0.92, 0.94, 0.96, 0.98]
    s = float(np.std(values, ddof=1))
    low, high = prediction_interval(values, bounds=ACCURACY_RANGE)
    assert low == pytest.approx(0.94 - T_975_4 * s * math.sqrt(1.2), rel=1e-6)
    assert high == 1.0  # 0.94 + 0.076 truncated
    assert all(math.isnan(v) for v in prediction_interval([0.9]))
