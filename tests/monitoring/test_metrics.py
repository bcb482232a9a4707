import json
import math
import tracemalloc
from functools import reduce

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as fm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn import metrics as skm

from apps.monitoring.metrics import (
    binary_metrics,
    binary_metrics_from_partials,
    binary_partials,
    group_codes,
    merge_partials,
    multiclass_metrics,
    regression_metrics,
    wilson_interval,
)

TOLERANCE = 1e-9


@pytest.fixture
def evaluation():
    """A random binary evaluation with two sensitive attributes whose groups differ in selection rate."""
    rng = np.random.default_rng(20240601)
    n = 6000
    region = rng.choice(["north", "south", "east", "west", "centre"], size=n, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    sex = rng.choice(["f", "m"], size=n)
    y_true = rng.integers(0, 2, size=n)
    bias = np.select([region == "north", region == "west"], [0.15, -0.15], 0.0)
    y_score = np.clip(0.35 * y_true + 0.3 + bias + rng.normal(0, 0.2, size=n), 0, 1)
    y_pred = (y_score >= 0.5).astype(int)
    return pd.DataFrame({"y_true": y_true, "y_pred": y_pred, "y_score": y_score, "region": region, "sex": sex})


def _metrics(df, **kwargs):
    return binary_metrics(
        df["y_true"], df["y_pred"], df["y_score"], {"region": df["region"], "sex": df["sex"]}, **kwargs
    )


def test_it_matches_scikit_learn_on_overall_metrics(evaluation):
    overall = _metrics(evaluation)["overall"]
    y_true, y_pred, y_score = evaluation["y_true"], evaluation["y_pred"], evaluation["y_score"]

    expected = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "precision": skm.precision_score(y_true, y_pred),
        "recall": skm.recall_score(y_true, y_pred),
        "f1": skm.f1_score(y_true, y_pred),
        "roc_auc": skm.roc_auc_score(y_true, y_score),
        "log_loss": skm.log_loss(y_true, y_score),
        "brier": skm.brier_score_loss(y_true, y_score),
    }
    assert overall == pytest.approx(expected, abs=TOLERANCE)


def test_it_computes_exact_roc_auc_and_log_loss_with_tied_and_extreme_scores(evaluation):
    y_score = evaluation["y_score"].round(1)  # many ties, and exact 0s and 1s for the log-loss clipping
    overall = binary_metrics(evaluation["y_true"], evaluation["y_pred"], y_score)["overall"]

    assert overall["roc_auc"] == pytest.approx(skm.roc_auc_score(evaluation["y_true"], y_score), abs=TOLERANCE)
    assert overall["log_loss"] == pytest.approx(skm.log_loss(evaluation["y_true"], y_score), abs=TOLERANCE)
    assert overall["brier"] == pytest.approx(skm.brier_score_loss(evaluation["y_true"], y_score), abs=TOLERANCE)


@pytest.mark.parametrize("attribute", ["region", "sex"])
def test_it_matches_fairlearn_metric_frame_per_group(evaluation, attribute):
    groups = _metrics(evaluation)["groups"][attribute]
    frame = fm.MetricFrame(
        metrics={
            "selection_rate": fm.selection_rate,
            "true_positive_rate": fm.true_positive_rate,
            "false_positive_rate": fm.false_positive_rate,
            "accuracy": skm.accuracy_score,
            "count": fm.count,
        },
        y_true=evaluation["y_true"],
        y_pred=evaluation["y_pred"],
        sensitive_features=evaluation[attribute],
    )
    expected = frame.by_group.to_dict(orient="index")

    assert set(groups) == set(expected)
    for label, row in groups.items():
        for name, value in expected[label].items():
            assert row[name] == pytest.approx(value, abs=TOLERANCE), (label, name)


@pytest.mark.parametrize("attribute", ["region", "sex"])
def test_it_matches_fairlearn_fairness_summaries(evaluation, attribute):
    fairness = _metrics(evaluation)["fairness"][attribute]
    args = (evaluation["y_true"], evaluation["y_pred"])
    features = {"sensitive_features": evaluation[attribute]}

    assert fairness["demographic_parity_difference"] == pytest.approx(
        fm.demographic_parity_difference(*args, **features), abs=TOLERANCE
    )
    assert fairness["demographic_parity_ratio"] == pytest.approx(
        fm.demographic_parity_ratio(*args, **features), abs=TOLERANCE
    )
    assert fairness["equalized_odds_difference"] == pytest.approx(
        fm.equalized_odds_difference(*args, **features), abs=TOLERANCE
    )
    assert fairness["equalized_odds_ratio"] == pytest.approx(fm.equalized_odds_ratio(*args, **features), abs=TOLERANCE)


def test_it_reports_the_chi_square_p_value_of_selection_by_group(evaluation):
    fairness = _metrics(evaluation)["fairness"]["region"]
    table = pd.crosstab(evaluation["y_pred"], evaluation["region"]).to_numpy()

    assert fairness["p_value"] == pytest.approx(stats.chi2_contingency(table).pvalue, abs=TOLERANCE)
    assert fairness["p_value"] < 0.001  # the fixture is biased by region


def test_it_computes_the_wilson_interval_of_the_hand_worked_example():
    # 8 selected out of 10, z = 1.959964 (z^2 = 3.841459):
    # centre = (0.8 + 3.841459 / 20) / (1 + 3.841459 / 10) = 0.992073 / 1.384146 = 0.716740
    # half   = 1.959964 * sqrt(0.8 * 0.2 / 10 + 3.841459 / 400) / 1.384146 = 1.959964 * 0.160011 / 1.384146 = 0.226578
    # [0.716740 - 0.226578, 0.716740 + 0.226578] = [0.490162, 0.943318] (the textbook 0.4902 - 0.9433)
    low, high = wilson_interval(8, 10)

    assert low == pytest.approx(0.490162, abs=1e-6)
    assert high == pytest.approx(0.943318, abs=1e-6)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(0, 0) is None


def test_it_attaches_the_wilson_interval_of_each_group_selection_rate():
    result = binary_metrics([0] * 10, [1] * 8 + [0] * 2, sensitive={"g": ["a"] * 10})

    assert result["groups"]["g"]["a"]["selection_rate_ci"] == wilson_interval(8, 10)


def _rates_frame(rates: dict[str, tuple[int, int]]) -> dict:
    """Sensitive values and predictions giving each group ``selected`` positives out of ``count`` rows."""
    groups, predictions = [], []
    for label, (count, selected) in rates.items():
        groups += [label] * count
        predictions += [1] * selected + [0] * (count - selected)
    return {"y_true": [0] * len(groups), "y_pred": predictions, "sensitive": {"g": groups}}


# Hand-worked four-fifths example where the largest group is not the one selected most often:
#   a: 100 rows, 40 selected -> 0.40    b: 50 rows, 35 selected -> 0.70    c: 40 rows, 24 selected -> 0.60
# Against the highest rate (b): a 0.40 / 0.70 = 0.571 (below 0.8), c 0.60 / 0.70 = 0.857, b 1.
# Against the largest group (a), the former default, the ratios were 1, 1.75 and 1.5: "below four-fifths: none".
HIGHEST_IS_NOT_LARGEST = {"a": (100, 40), "b": (50, 35), "c": (40, 24)}


def test_it_compares_selection_rates_with_the_highest_rate_group_by_default():
    data = _rates_frame(HIGHEST_IS_NOT_LARGEST)
    result = binary_metrics(data["y_true"], data["y_pred"], sensitive=data["sensitive"])

    fairness, groups = result["fairness"]["g"], result["groups"]["g"]
    assert fairness["reference_group"] == "b"
    assert fairness["reference_rule"] == "highest_selection_rate"
    assert fairness["reference_note"] == ""
    assert groups["a"]["selection_rate_ratio"] == pytest.approx(0.4 / 0.7)
    assert round(groups["a"]["selection_rate_ratio"], 2) == 0.57
    assert groups["c"]["selection_rate_ratio"] == pytest.approx(0.6 / 0.7)
    assert groups["b"]["selection_rate_ratio"] == 1.0
    assert fairness["four_fifths_violations"] == ["a"]


def test_its_ratios_match_fairlearn_selection_rates_against_the_highest_rate():
    data = _rates_frame(HIGHEST_IS_NOT_LARGEST)
    frame = fm.MetricFrame(metrics=fm.selection_rate, y_true=data["y_true"], y_pred=data["y_pred"],
                           sensitive_features=data["sensitive"]["g"])
    rates = frame.by_group.to_dict()
    highest = max(rates.values())

    groups = binary_metrics(data["y_true"], data["y_pred"], sensitive=data["sensitive"])["groups"]["g"]
    assert {label: row["selection_rate_ratio"] for label, row in groups.items()} == pytest.approx(
        {label: rate / highest for label, rate in rates.items()}, abs=TOLERANCE)


def test_it_matches_fairlearn_on_the_four_fifths_ratios_of_a_random_evaluation(evaluation):
    frame = fm.MetricFrame(metrics=fm.selection_rate, y_true=evaluation["y_true"], y_pred=evaluation["y_pred"],
                           sensitive_features=evaluation["region"])
    rates = frame.by_group.to_dict()
    highest = max(rates, key=rates.get)

    result = _metrics(evaluation)
    assert result["fairness"]["region"]["reference_group"] == highest == "north"  # the fixture favours the north
    assert {label: row["selection_rate_ratio"] for label, row in result["groups"]["region"].items()} == pytest.approx(
        {label: rate / rates[highest] for label, rate in rates.items()}, abs=TOLERANCE)
    assert result["fairness"]["region"]["four_fifths_violations"] == sorted(
        label for label, rate in rates.items() if rate / rates[highest] < 0.8)


def test_it_breaks_a_tie_in_the_highest_rate_by_the_larger_group_then_the_label():
    larger = _rates_frame({"a": (10, 5), "b": (20, 10), "c": (20, 4)})
    same_size = _rates_frame({"y": (10, 5), "x": (10, 5)})

    assert binary_metrics(**larger)["fairness"]["g"]["reference_group"] == "b"
    assert binary_metrics(**same_size)["fairness"]["g"]["reference_group"] == "x"


def test_it_compares_selection_rates_with_a_configured_reference_group():
    data = _rates_frame(HIGHEST_IS_NOT_LARGEST)
    result = binary_metrics(data["y_true"], data["y_pred"], sensitive=data["sensitive"], reference_groups={"g": "a"})

    fairness = result["fairness"]["g"]
    assert fairness["reference_group"] == "a"
    assert fairness["reference_rule"] == "configured"
    assert fairness["reference_note"] == ""
    assert result["groups"]["g"]["b"]["selection_rate_ratio"] == pytest.approx(0.7 / 0.4)
    assert fairness["four_fifths_violations"] == []


def test_it_falls_back_to_the_highest_rate_when_the_configured_group_is_not_in_the_data():
    data = _rates_frame(HIGHEST_IS_NOT_LARGEST)
    result = binary_metrics(data["y_true"], data["y_pred"], sensitive=data["sensitive"], reference_groups={"g": "z"})

    fairness = result["fairness"]["g"]
    assert fairness["reference_group"] == "b"
    assert fairness["reference_rule"] == "highest_selection_rate"
    assert "configured reference group 'z' is not in the data" in fairness["reference_note"]
    assert fairness["four_fifths_violations"] == ["a"]


def test_it_says_why_no_ratio_is_defined_when_the_configured_group_selects_no_one():
    data = _rates_frame({"a": (10, 0), "b": (10, 6)})
    fairness = binary_metrics(**data, reference_groups={"g": "a"})["fairness"]["g"]

    assert fairness["reference_group"] == "a" and fairness["four_fifths_violations"] == []
    assert "selection rate of 0" in fairness["reference_note"]


def test_it_returns_none_for_undefined_values_and_stays_json_serialisable():
    result = binary_metrics([0, 0, 0], [0, 0, 0], [0.1, 0.2, 0.3], sensitive={"g": ["a", "a", None]})

    overall, group = result["overall"], result["groups"]["g"]["a"]
    assert overall["precision"] is None  # 0 / 0
    assert overall["recall"] is None
    assert overall["roc_auc"] is None  # a single class
    assert group["true_positive_rate"] is None
    assert group["selection_rate_ratio"] is None  # reference selection rate is 0
    assert "(missing)" in result["groups"]["g"]
    assert result["fairness"]["g"]["p_value"] is None
    json.dumps(result, allow_nan=False)


def test_it_reports_no_score_metrics_without_scores(evaluation):
    overall = binary_metrics(evaluation["y_true"], evaluation["y_pred"])["overall"]

    assert overall["roc_auc"] is None and overall["log_loss"] is None and overall["brier"] is None
    assert overall["accuracy"] == pytest.approx(skm.accuracy_score(evaluation["y_true"], evaluation["y_pred"]))


def test_it_rejects_labels_other_than_zero_and_one():
    with pytest.raises(ValueError, match="only 0 and 1"):
        binary_metrics([0, 1, 2], [0, 1, 1])


def test_it_rejects_scores_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        binary_metrics([0, 1], [0, 1], [0.2, 1.5])


@pytest.mark.parametrize("score_decimals", [None, 2])
def test_it_merges_seven_chunks_into_exactly_the_one_shot_result(evaluation, score_decimals):
    df = evaluation.copy()
    if score_decimals is not None:
        df["y_score"] = df["y_score"].round(score_decimals)
    df.loc[df.index[:3], "region"] = "rare"  # a group that only the first chunk sees
    options = {"sensitive_features": ["region", "sex"]}

    chunks = [df.iloc[index] for index in np.array_split(np.arange(len(df)), 7)]
    merged = reduce(merge_partials, (binary_partials(chunk, **options) for chunk in chunks))
    chunked = binary_metrics_from_partials(merged, {"sex": "f"})

    assert chunked == _metrics(df, reference_groups={"sex": "f"})
    assert chunked == binary_metrics_from_partials(binary_partials(df, **options), {"sex": "f"})


def test_it_refuses_to_merge_partials_with_and_without_scores(evaluation):
    with_scores = binary_partials(evaluation)
    without_scores = binary_partials(evaluation, score_column=None)

    with pytest.raises(ValueError, match="without scores"):
        merge_partials(with_scores, without_scores)


def test_it_groups_values_by_their_string_form():
    codes, labels = group_codes(np.array([1, "1", "b", None], dtype=object))

    assert labels == ["1", "b", "(missing)"]
    assert codes.tolist() == [0, 0, 1, 2]


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 1),
            st.integers(0, 1),
            st.floats(0, 1, allow_nan=False),
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(["x", "y", None]),
        ),
        max_size=40,
    ),
    with_scores=st.booleans(),
)
def test_it_never_raises_and_always_returns_json_for_random_inputs(rows, with_scores):
    y_true, y_pred, y_score, first, second = (list(column) for column in zip(*rows, strict=True)) if rows else ([],) * 5

    result = binary_metrics(y_true, y_pred, y_score if with_scores else None, {"first": first, "second": second})

    text = json.dumps(result, allow_nan=False)
    assert set(json.loads(text)) == {"overall", "groups", "fairness"}
    for value in result["overall"].values():
        assert value is None or (math.isfinite(value) and value >= 0)


def test_it_matches_scikit_learn_on_multiclass_metrics():
    rng = np.random.default_rng(7)
    labels = ["cat", "dog", "emu", "fox"]
    y_true = rng.choice(labels, size=3000)
    y_pred = np.where(rng.random(3000) < 0.6, y_true, rng.choice(labels, size=3000))
    y_proba = rng.dirichlet(np.ones(4), size=3000)

    result = multiclass_metrics(y_true, y_pred, y_proba, labels=labels, sensitive={"g": y_true == "cat"})

    overall = result["overall"]
    assert overall["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=TOLERANCE)
    assert overall["f1_macro"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"), abs=TOLERANCE)
    assert overall["f1_weighted"] == pytest.approx(skm.f1_score(y_true, y_pred, average="weighted"), abs=TOLERANCE)
    assert overall["log_loss"] == pytest.approx(skm.log_loss(y_true, y_proba, labels=labels), abs=TOLERANCE)
    cats = y_true == "cat"
    assert result["groups"]["g"]["True"]["accuracy"] == pytest.approx(skm.accuracy_score(y_true[cats], y_pred[cats]))


def test_it_matches_scikit_learn_on_multiclass_f1_with_a_label_only_predicted():
    y_true = ["a", "a", "b", "b", "b"]
    y_pred = ["a", "c", "b", "b", "a"]

    overall = multiclass_metrics(y_true, y_pred)["overall"]

    assert overall["f1_macro"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"), abs=TOLERANCE)
    assert overall["f1_weighted"] == pytest.approx(skm.f1_score(y_true, y_pred, average="weighted"), abs=TOLERANCE)
    assert overall["log_loss"] is None


def test_it_matches_scikit_learn_on_regression_metrics():
    rng = np.random.default_rng(11)
    y_true = rng.normal(50, 10, size=4000)
    y_pred = y_true + rng.normal(0, 3, size=4000)
    group = rng.choice(["a", "b"], size=4000)

    result = regression_metrics(y_true, y_pred, sensitive={"g": group})

    overall = result["overall"]
    assert overall["mae"] == pytest.approx(skm.mean_absolute_error(y_true, y_pred), abs=TOLERANCE)
    assert overall["rmse"] == pytest.approx(skm.root_mean_squared_error(y_true, y_pred), abs=TOLERANCE)
    assert overall["r2"] == pytest.approx(skm.r2_score(y_true, y_pred), abs=TOLERANCE)
    mask = group == "b"
    expected_b = skm.root_mean_squared_error(y_true[mask], y_pred[mask])
    assert result["groups"]["g"]["b"]["rmse"] == pytest.approx(expected_b, abs=TOLERANCE)
    assert result["groups"]["g"]["b"]["count"] == int(mask.sum())


def test_it_leaves_r2_undefined_for_a_constant_target():
    assert regression_metrics([3.0, 3.0, 3.0], [2.0, 3.0, 4.0])["overall"]["r2"] is None


def test_multiclass_metrics_memory_grows_with_the_labels_not_their_square():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 5000, 10_000).astype(str)
    predicted = np.where(rng.random(10_000) < 0.5, labels, rng.integers(0, 5000, 10_000).astype(str))

    tracemalloc.start()
    result = multiclass_metrics(labels, predicted)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # A 5,000 x 5,000 confusion matrix alone is 200 MB.
    assert peak < 20 * 1024 * 1024
    assert result["overall"]["f1_macro"] == pytest.approx(
        skm.f1_score(labels, predicted, average="macro", labels=sorted(set(labels) | set(predicted))))
