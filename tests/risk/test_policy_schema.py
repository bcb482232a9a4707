"""The governance policy schema: the one set of rules the service, the model and the form apply."""

import pytest

from apps.monitoring import metrics
from apps.monitoring.thresholds import FAIRNESS_DIFFERENCES, FAIRNESS_RATIOS
from apps.reviews.models import Checklist
from apps.risk.defaults import DEFAULT_POLICIES
from apps.risk.policy_schema import CHECKLISTS, METRICS, policy_problems, usable_thresholds


def valid(**changes) -> dict:
    return {**DEFAULT_POLICIES["high"], **changes}


def messages(document: dict) -> list[str]:
    return [problem.message for problem in policy_problems(document)]


@pytest.mark.parametrize("tier", sorted(DEFAULT_POLICIES))
def test_it_accepts_every_seeded_policy(tier):
    assert policy_problems(DEFAULT_POLICIES[tier]) == []


def test_it_names_the_key_of_a_threshold_that_is_not_a_number():
    assert messages(valid(metric_thresholds={"accuracy_min": "abc"})) == [
        "metric_thresholds.accuracy_min: 'abc' is not a number; expected a number between 0 and 1."]


@pytest.mark.parametrize("value", [True, None, [0.8], float("nan"), float("inf"), 10 ** 400])
def test_it_refuses_booleans_nulls_lists_and_non_finite_thresholds(value):
    (problem,) = policy_problems(valid(metric_thresholds={"psi_max": value}))
    assert problem.field == "metric_thresholds"
    assert "is not a number; expected a number of at least 0" in problem.message


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("accuracy_min", 1.5, "expected a number between 0 and 1"),
    ("psi_max", -0.1, "expected a number of at least 0"),
    ("r2_min", 1.2, "expected a number of at most 1"),
    ("roc_auc_drop_max", -0.05, "expected a number between 0 and 1"),
    ("demographic_parity_difference_max", 2, "expected a number between 0 and 1"),
])
def test_it_refuses_numbers_outside_the_metric_range(key, value, expected):
    assert messages(valid(metric_thresholds={key: value})) == [
        f"metric_thresholds.{key}: {value!r} is out of range; {expected}."]


def test_it_refuses_unknown_metrics_and_lists_the_known_ones():
    (message,) = messages(valid(metric_thresholds={"acuracy_min": 0.8}))
    assert message.startswith("metric_thresholds.acuracy_min: unknown metric 'acuracy'; known metrics: accuracy, ")


def test_it_refuses_a_key_without_a_direction():
    assert messages(valid(metric_thresholds={"accuracy": 0.8})) == [
        "metric_thresholds.accuracy: a threshold is named <metric>_min, <metric>_max or <metric>_drop_max."]


@pytest.mark.parametrize(("key", "allowed"), [
    ("accuracy_max", "accuracy_min or accuracy_drop_max"),  # would alert on good news
    ("psi_min", "psi_max"),  # would never fire
    ("demographic_parity_ratio_drop_max", "demographic_parity_ratio_min"),  # has no validation baseline
])
def test_it_refuses_a_direction_that_monitoring_would_misread(key, allowed):
    (message,) = messages(valid(metric_thresholds={key: 0.1}))
    assert message.endswith(f"so bound it with {allowed}.")


def test_it_accepts_every_direction_monitoring_reads():
    thresholds = {"roc_auc_min": 0.7, "roc_auc_drop_max": 0.05, "mae_max": 3, "r2_min": -0.5, "r2_drop_max": 2,
                  "demographic_parity_ratio_min": 0.8, "equalized_odds_difference_max": 0.1, "psi_max": 0.25}
    assert policy_problems(valid(metric_thresholds=thresholds)) == []


@pytest.mark.parametrize("thresholds", [[1, 2], "accuracy_min=0.8", None])
def test_it_refuses_thresholds_that_are_not_an_object(thresholds):
    (message,) = messages(valid(metric_thresholds=thresholds))
    assert "Give a JSON object of metric names to numbers" in message


@pytest.mark.parametrize(("checklists", "expected"), [
    ([], "checklists: at least one checklist is required; choose from intentionality, accountability."),
    (["ethics"], "checklists: unknown 'ethics'; choose from intentionality, accountability."),
    ("intentionality", "checklists: 'intentionality' is not a list of checklist names; "
                       "choose from intentionality, accountability."),
    (["intentionality", "intentionality"], "checklists: each checklist may be named once."),
])
def test_it_requires_at_least_one_known_checklist(checklists, expected):
    assert messages(valid(checklists=checklists)) == [expected]


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("required_approvals", 0, "required_approvals: 0 is not allowed; expected a whole number between 1 and 10"),
    ("required_approvals", 11, "required_approvals: 11 is not allowed; expected a whole number between 1 and 10"),
    ("required_approvals", True, "required_approvals: True is not allowed"),
    ("reassessment_days", 0, "reassessment_days: 0 is not allowed; expected a whole number between 1 and 3650"),
    ("reassessment_days", "90", "reassessment_days: '90' is not allowed"),
    ("monitoring_cadence", "hourly", "monitoring_cadence: 'hourly' is not one of daily, weekly, monthly."),
])
def test_it_bounds_approvals_cadence_and_reassessment_interval(field, value, expected):
    ((problem_field, message),) = [(p.field, p.message) for p in policy_problems(valid(**{field: value}))]
    assert problem_field == field and message.startswith(expected)


def test_it_reports_every_problem_at_once():
    document = valid(required_approvals=0, checklists=[], metric_thresholds={"accuracy_min": "abc", "psi_max": 9e9})
    assert [p.field for p in policy_problems(document)] == ["required_approvals", "checklists", "metric_thresholds"]


def test_usable_thresholds_keep_the_good_keys_and_name_the_bad_ones():
    usable, skipped = usable_thresholds({"accuracy_min": "abc", "psi_max": 0.2, "foo_max": 1})
    assert usable == {"psi_max": 0.2}
    assert skipped == ["metric_thresholds.accuracy_min: 'abc' is not a number; expected a number between 0 and 1.",
                       skipped[1]] and skipped[1].startswith("metric_thresholds.foo_max: unknown metric 'foo'")


def test_usable_thresholds_of_a_stored_non_object_are_none():
    usable, (reason,) = usable_thresholds([["accuracy_min", 0.8]])
    assert usable == {} and "Give a JSON object" in reason


def test_the_schema_knows_every_metric_monitoring_computes():
    """A metric monitoring adds must get a schema entry, or no policy could bound it."""
    y = [0, 1, 1, 0, 1, 0]
    overall = {*metrics.binary_metrics(y, y, [0.1, 0.9, 0.8, 0.3, 0.7, 0.2])["overall"],
               *metrics.multiclass_metrics(["a", "b", "a"], ["a", "b", "b"])["overall"],
               *metrics.regression_metrics([1.0, 2.0, 3.0], [1.1, 2.1, 2.9])["overall"]} - {"count"}
    assert overall <= set(METRICS)
    assert {*FAIRNESS_RATIOS, *FAIRNESS_DIFFERENCES, "psi"} <= set(METRICS)


def test_the_schema_s_checklists_are_the_ones_reviews_ask():
    assert set(CHECKLISTS) == set(Checklist.values)


def test_it_cuts_a_huge_key_or_value_short_in_the_message():
    (unknown,) = messages(valid(metric_thresholds={"a" * 10_000 + "_min": 0.5}))
    (not_a_number,) = messages(valid(metric_thresholds={"accuracy_min": "x" * 10_000}))
    assert len(unknown) < 500 and len(not_a_number) < 200
