import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from apps.monitoring.drift import (
    KS_P_VALUE_FLOOR,
    feature_drift,
    ks_two_sample,
    numeric_psi,
    prediction_drift,
    psi_from_counts,
)


def _spec_psi(reference, current):
    """PSI written straight from the issue, value by value: the reference implementation to compare with."""
    edges = np.unique(np.quantile(reference, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]))
    bins = len(edges) + 1
    reference_share = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=bins) / len(reference)
    current_share = np.bincount(np.searchsorted(edges, current, side="right"), minlength=bins) / len(current)
    reference_share = np.maximum(reference_share, 0.0001)
    current_share = np.maximum(current_share, 0.0001)
    return float(np.sum((current_share - reference_share) * np.log(current_share / reference_share)))


def test_it_computes_psi_of_the_hand_worked_two_bin_example():
    # Every reference decile is 5, so the only edge is 5: bin 0 holds x < 5, bin 1 holds x >= 5.
    # reference shares 1/20 = 0.05 and 0.95; current shares 6/20 = 0.3 and 0.7:
    # PSI = (0.3 - 0.05) ln(0.3 / 0.05) + (0.7 - 0.95) ln(0.7 / 0.95) = 0.447940 + 0.076345 = 0.524285
    reference = pd.Series([0.0] + [5.0] * 18 + [10.0])
    current = pd.Series([0.0] * 6 + [5.0] * 14)

    result = feature_drift(pd.DataFrame({"x": reference}), pd.DataFrame({"x": current}))["x"]

    assert result["psi"] == pytest.approx(0.524285, abs=1e-6)
    assert numeric_psi(reference.to_numpy(), current.to_numpy()) == pytest.approx(0.524285, abs=1e-6)


def test_it_floors_empty_bins_at_one_in_ten_thousand():
    # Current has nothing below 5: its share 0 counts as 0.0001.
    # PSI = (0.0001 - 0.05) ln(0.0001 / 0.05) + (1 - 0.95) ln(1 / 0.95) = 0.310109 + 0.002565 = 0.312674
    reference = pd.DataFrame({"x": [0.0] + [5.0] * 18 + [10.0]})
    current = pd.DataFrame({"x": [5.0] * 20})

    assert feature_drift(reference, current)["x"]["psi"] == pytest.approx(0.312674, abs=1e-6)
    assert psi_from_counts([1, 19], [0, 20]) == pytest.approx(0.312674, abs=1e-6)


@pytest.mark.parametrize("decimals", [None, 1, 0])
def test_it_matches_a_direct_implementation_of_the_psi_definition(decimals):
    rng = np.random.default_rng(3)
    reference, current = rng.gamma(2.0, 2.0, size=20000), rng.gamma(2.3, 2.0, size=15000)
    if decimals is not None:  # ties and collapsing deciles
        reference, current = reference.round(decimals), current.round(decimals)

    result = feature_drift(pd.DataFrame({"x": reference}), pd.DataFrame({"x": current}))["x"]

    assert result["psi"] == pytest.approx(_spec_psi(reference, current), rel=1e-12)
    assert numeric_psi(reference, current) == pytest.approx(_spec_psi(reference, current), rel=1e-12)


def test_it_finds_no_drift_in_identical_data():
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"x": rng.normal(size=5000), "c": rng.choice(["a", "b", "c"], size=5000)})

    result = feature_drift(df, df.copy())

    assert result["x"]["psi"] == 0.0
    assert result["c"]["psi"] == 0.0
    assert result["x"]["statistic"] == 0.0
    assert result["x"]["p_value"] == 1.0


def test_it_flags_a_shifted_normal_as_significant_drift():
    rng = np.random.default_rng(9)
    reference = pd.DataFrame({"x": rng.normal(0, 1, size=20000)})
    current = pd.DataFrame({"x": rng.normal(0.6, 1, size=20000)})

    result = feature_drift(reference, current)["x"]

    assert result["psi"] > 0.2
    assert result["p_value"] < 1e-10


@pytest.mark.parametrize(
    ("sizes", "decimals"),
    [((300, 500), None), ((9000, 10000), 1), ((25000, 12000), None), ((30000, 30000), 1), ((40000, 11000), 0)],
)
def test_it_reports_the_kolmogorov_smirnov_test_exactly_like_scipy(sizes, decimals):
    rng = np.random.default_rng(sum(sizes))
    reference, current = rng.normal(0, 1, size=sizes[0]), rng.normal(0.03, 1.1, size=sizes[1])
    if decimals is not None:
        reference, current = reference.round(decimals), current.round(decimals)
    expected = stats.ks_2samp(reference, current)

    result = feature_drift(pd.DataFrame({"x": reference}), pd.DataFrame({"x": current}))["x"]

    assert (result["statistic"], result["p_value"]) == (float(expected.statistic), float(expected.pvalue))
    assert ks_two_sample(np.sort(reference), np.sort(current)) == (result["statistic"], result["p_value"])


def test_it_reports_p_values_below_the_floor_as_zero_within_the_floor_of_scipy():
    rng = np.random.default_rng(21)
    reference, current = rng.normal(0, 1, size=20000), rng.normal(0.1, 1, size=20000)
    expected = stats.ks_2samp(reference, current)

    statistic, p_value = ks_two_sample(np.sort(reference), np.sort(current))

    assert 0 < expected.pvalue < KS_P_VALUE_FLOOR  # scipy's own value is tiny but positive here
    assert statistic == float(expected.statistic)
    assert p_value == 0.0


def test_it_computes_categorical_psi_over_the_union_of_categories_with_scipy_chi_square():
    reference = pd.DataFrame({"colour": ["red"] * 50 + ["blue"] * 30 + ["green"] * 20})
    current = pd.DataFrame({"colour": pd.Categorical(["red"] * 40 + ["blue"] * 30 + ["violet"] * 30)})
    # categories (red, blue, green, violet): reference (0.5, 0.3, 0.2, 0.0001), current (0.4, 0.3, 0.0001, 0.3)
    expected_psi = sum(
        (cur - ref) * math.log(cur / ref) for ref, cur in [(0.5, 0.4), (0.3, 0.3), (0.2, 0.0001), (0.0001, 0.3)]
    )
    expected = stats.chi2_contingency(np.array([[50, 30, 20, 0], [40, 30, 0, 30]]))

    result = feature_drift(reference, current)["colour"]

    assert result["kind"] == "categorical"
    assert result["psi"] == pytest.approx(expected_psi, rel=1e-12)
    assert result["statistic"] == pytest.approx(expected.statistic, rel=1e-12)
    assert result["p_value"] == pytest.approx(expected.pvalue, rel=1e-12)
    assert (result["reference_count"], result["current_count"]) == (100, 100)


def test_it_chooses_the_kind_by_dtype_and_skips_non_feature_columns():
    reference = pd.DataFrame(
        {
            "age": [30, 40, 50, 60],
            "income": [1.0, 2.0, np.nan, 4.0],
            "flag": [True, False, True, True],
            "city": pd.Categorical(["a", "b", "a", None]),
            "y_true": [0, 1, 0, 1],
            "y_pred": [0, 1, 1, 1],
            "y_score": [0.1, 0.9, 0.6, 0.8],
            "timestamp": pd.date_range("2024-01-01", periods=4),
            "gender": ["f", "m", "f", "m"],
            "only_in_reference": [1, 2, 3, 4],
        }
    )
    current = reference.drop(columns="only_in_reference")

    result = feature_drift(reference, current, exclude=["gender"])

    assert list(result) == ["age", "income", "flag", "city"]
    assert {name: row["kind"] for name, row in result.items()} == {
        "age": "numeric",
        "income": "numeric",
        "flag": "categorical",
        "city": "categorical",
    }
    assert result["income"]["reference_count"] == 3  # missing values are left out of numeric features
    assert result["city"]["reference_count"] == 4  # and are a category of their own in categorical ones
    json.dumps(result, allow_nan=False)


def test_it_uses_the_features_it_is_given():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [3.0, 2.0, 1.0]})

    assert list(feature_drift(df, df, features=["b"])) == ["b"]


def test_it_returns_none_for_a_feature_without_values():
    reference = pd.DataFrame({"x": [1.0, 2.0], "c": pd.Categorical(["a", "b"])})
    current = pd.DataFrame({"x": [np.nan, np.nan], "c": pd.Categorical([None, None], categories=["a", "b"])})

    result = feature_drift(reference, current)

    assert result["x"] == {
        "kind": "numeric", "psi": None, "statistic": None, "p_value": None, "reference_count": 2, "current_count": 0,
    }
    assert result["c"]["current_count"] == 2  # two missing values, a category of their own
    json.dumps(result, allow_nan=False)


def test_prediction_drift_bins_the_score_like_a_numeric_feature_and_tests_it_like_scipy():
    rng = np.random.default_rng(11)
    reference = pd.DataFrame({"y_score": rng.beta(2, 5, 3000).round(4), "y_pred": rng.integers(0, 2, 3000)})
    current = pd.DataFrame({"y_score": rng.beta(3, 4, 2000).round(4), "y_pred": rng.integers(0, 2, 2000)})

    result = prediction_drift(reference, current, prediction="y_pred", score="y_score")

    score = result["score"]
    assert score["column"] == "y_score" and score["kind"] == "numeric"
    assert score["psi"] == pytest.approx(_spec_psi(reference.y_score.to_numpy(), current.y_score.to_numpy()), abs=1e-12)
    expected = stats.ks_2samp(reference.y_score, current.y_score)
    assert score["statistic"] == pytest.approx(expected.statistic, abs=1e-12)
    assert score["p_value"] == pytest.approx(expected.pvalue, rel=1e-6)


def test_prediction_drift_treats_a_classifier_s_labels_as_categories_with_the_hand_worked_psi():
    # Reference: 80 zeros, 20 ones; current: 50 and 50. Two categories, whatever the integer dtype:
    # PSI = (0.5 - 0.8) ln(0.5 / 0.8) + (0.5 - 0.2) ln(0.5 / 0.2) = 0.141000 + 0.274887 = 0.415888
    reference = pd.DataFrame({"y_pred": [0] * 80 + [1] * 20})
    current = pd.DataFrame({"y_pred": [0] * 50 + [1] * 50})

    result = prediction_drift(reference, current, prediction="y_pred")["prediction"]

    assert result["kind"] == "categorical" and result["column"] == "y_pred"
    assert result["psi"] == pytest.approx(0.415888, abs=1e-6)
    chi2 = stats.chi2_contingency([[80, 20], [50, 50]])
    assert result["statistic"] == pytest.approx(chi2.statistic) and result["p_value"] == pytest.approx(chi2.pvalue)


def test_prediction_drift_of_a_regression_compares_the_predicted_values_as_numbers():
    reference = pd.DataFrame({"pred": np.linspace(0, 100, 500)})
    current = pd.DataFrame({"pred": np.linspace(20, 120, 400)})

    result = prediction_drift(reference, current, prediction="pred", numeric_prediction=True)["prediction"]

    assert result["kind"] == "numeric"
    assert result["psi"] == pytest.approx(_spec_psi(reference.pred.to_numpy(), current.pred.to_numpy()), abs=1e-12)


def test_prediction_drift_is_empty_when_the_reference_holds_no_model_output():
    reference = pd.DataFrame({"income": [1.0, 2.0, 3.0]})
    current = pd.DataFrame({"income": [1.0, 2.0], "y_pred": [0, 1], "y_score": [0.2, 0.7]})

    assert prediction_drift(reference, current, prediction="y_pred", score="y_score") == {}
