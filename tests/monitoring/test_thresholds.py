import json

import pytest
from django.urls import reverse

from apps.inventory.models import Stage
from apps.monitoring.models import Alert
from apps.monitoring.services import thresholds_check
from apps.monitoring.thresholds import findings, health_of
from apps.risk.models import GovernancePolicy
from apps.risk.selectors import obligations_for
from tests.monitoring.test_views import make_evaluation, make_window
from tests.reviews.helpers import assessed_version
from tests.risk.factories import ratings

METRICS = {
    "overall": {"accuracy": 0.79, "roc_auc": 0.80, "mae": None},
    "fairness": {"sex": {"demographic_parity_difference": 0.12, "demographic_parity_ratio": 0.75}},
    "drift": {"income": {"psi": 0.31}, "age": {"psi": 0.05}},
}


def by_metric(found):
    return {f.metric: f for f in found}


def test_a_minimum_below_is_a_breach_and_close_to_it_a_warning():
    found = by_metric(findings(METRICS, {"accuracy_min": 0.8, "roc_auc_min": 0.79}))
    assert found["overall.accuracy"].severity == "breach"
    assert found["overall.roc_auc"].severity == "warning"  # 0.80 < 0.79 + 0.02


def test_psi_is_checked_per_feature():
    found = by_metric(findings(METRICS, {"psi_max": 0.2}))
    assert set(found) == {"drift.income.psi"} and found["drift.income.psi"].severity == "breach"


def test_fairness_rules_apply_to_every_attribute():
    found = by_metric(findings(METRICS, {"demographic_parity_ratio_min": 0.8,
                                         "demographic_parity_difference_max": 0.14}))
    assert found["fairness.sex.demographic_parity_ratio"].severity == "breach"
    assert found["fairness.sex.demographic_parity_difference"].severity == "warning"  # 0.12 > 0.8 * 0.14


def test_a_drop_from_the_validation_baseline_is_measured():
    found = by_metric(findings(METRICS, {"roc_auc_drop_max": 0.05}, baseline={"roc_auc": 0.90}))
    assert round(found["overall.roc_auc_drop"].value, 10) == 0.10
    assert found["overall.roc_auc_drop"].severity == "breach"


def test_missing_metrics_and_baselines_raise_nothing():
    assert findings(METRICS, {"mae_max": 3, "f1_min": 0.5, "roc_auc_drop_max": 0.05}) == []


def test_health_is_the_worst_finding():
    assert health_of([]) == "healthy"
    assert health_of(findings(METRICS, {"roc_auc_min": 0.79})) == "warning"
    assert health_of(findings(METRICS, {"roc_auc_min": 0.79, "psi_max": 0.2})) == "breach"


def test_a_fairness_gap_that_small_groups_cannot_confirm_is_only_a_warning():
    small = {"fairness": {"sex": {"demographic_parity_difference": 0.2}},
             "groups": {"sex": {"f": {"selection_rate": 0.5, "selection_rate_ci": [0.3, 0.7]},
                                "m": {"selection_rate": 0.3, "selection_rate_ci": [0.15, 0.5]}}}}
    large = {"fairness": {"sex": {"demographic_parity_difference": 0.2}},
             "groups": {"sex": {"f": {"selection_rate": 0.5, "selection_rate_ci": [0.48, 0.52]},
                                "m": {"selection_rate": 0.3, "selection_rate_ci": [0.28, 0.32]}}}}
    rule = {"demographic_parity_difference_max": 0.1}
    warning = findings(small, rule)[0]
    assert warning.severity == "warning" and "could be as low as 0.0000" in warning.message
    assert findings(large, rule)[0].severity == "breach"  # lowest plausible gap 0.16 > 0.1


# --- A policy stored with a bad value (before validation existed, or by SQL) ------------------------------

BAD_VALUE = "metric_thresholds.accuracy_min: &#x27;abc&#x27; is not a number; expected a number between 0 and 1."


@pytest.fixture
def high_tier_version(db):
    """A high-tier production version whose policy in force was corrupted around the services."""
    version = assessed_version(tier_ratings=ratings(degradation=(4, 4)), stage=Stage.PRODUCTION)
    version.stage = Stage.PRODUCTION
    version.save(update_fields=["stage"])
    policy = obligations_for(version.model).policy
    assert policy.tier == "high"
    GovernancePolicy.objects.filter(pk=policy.pk).update(metric_thresholds={"accuracy_min": "abc", "psi_max": 0.15})
    return version


def test_the_model_page_skips_a_stored_threshold_that_is_not_a_number(client_as, high_tier_version, caplog):
    for day in range(3):
        make_window(high_tier_version, day)
    response = client_as("executive").get(reverse("monitoring:model", kwargs={"slug": high_tier_version.model.slug}))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Thresholds skipped" in html and BAD_VALUE in html
    assert "threshold skipped: metric_thresholds.accuracy_min" in caplog.text
    psi = json.loads(html.split('<script id="figure-metric-4" type="application/json">')[1].split("</script>")[0])
    assert psi["layout"]["shapes"][0]["y0"] == 0.15  # the good threshold is still drawn


def test_the_evaluation_page_checks_the_good_thresholds_and_names_the_skipped_one(client_as, high_tier_version):
    evaluation = make_evaluation(high_tier_version, metrics={"overall": {"accuracy": 0.1}, "groups": {},
                                                             "fairness": {}, "drift": {"income": {"psi": 0.5}}})
    response = client_as("executive").get(evaluation.get_absolute_url())
    html = response.content.decode()
    assert response.status_code == 200 and BAD_VALUE in html
    assert "PSI of income is 0.5000, above the maximum 0.15." in html


def test_a_production_result_under_a_corrupted_policy_alerts_on_the_good_thresholds(high_tier_version):
    health = thresholds_check(version=high_tier_version, metrics={"overall": {"accuracy": 0.1},
                                                       "drift": {"income": {"psi": 0.5}}})
    assert health == "breach"
    assert list(Alert.objects.values_list("metric", flat=True)) == ["drift.income.psi"]
