from apps.monitoring.thresholds import findings, health_of

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
