"""Metric thresholds from the tier policy: the pure rules that turn results into findings and a health status.

No Django imports: ``apps.monitoring.services.thresholds_check`` writes the alerts these findings raise.

Policy keys (``GovernancePolicy.metric_thresholds``; ``apps.risk.policy_schema`` says which are valid, and
``apps.risk.selectors.thresholds_of`` hands monitoring only those, skipping a bad stored one):

- ``<metric>_min``: an overall metric (accuracy, roc_auc, f1, r2, ...) must stay at or above it;
  ``demographic_parity_ratio_min`` / ``equalized_odds_ratio_min`` apply to every sensitive attribute.
- ``<metric>_max``: ``psi_max`` applies to every feature's drift and to the prediction drift (the scores' and the
  predicted labels' distributions, ``prediction_drift.score.psi`` / ``prediction_drift.prediction.psi``);
  ``demographic_parity_difference_max`` /
  ``equalized_odds_difference_max`` to every attribute; other names to overall metrics (mae, rmse, log_loss).
- ``<metric>_drop_max``: the overall metric may fall at most this much below the version's validation
  baseline (``ModelVersion.validation_metrics``), e.g. ``roc_auc_drop_max: 0.05``.

Crossing a threshold is a *breach*. Coming close is a *warning*: within 0.02 above a minimum,
above 80% of a maximum. Alerts fire on these effect sizes; p-values are shown beside them, not used
to alert, because on large samples every difference is significant.
"""

from dataclasses import dataclass

FAIRNESS_RATIOS = ("demographic_parity_ratio", "equalized_odds_ratio")
FAIRNESS_DIFFERENCES = ("demographic_parity_difference", "equalized_odds_difference")
MIN_MARGIN = 0.02
MAX_WARNING_SHARE = 0.8
OUTPUT_LABELS = {"score": "the scores", "prediction": "the predicted labels"}


@dataclass(frozen=True)
class Finding:
    metric: str
    value: float
    rule: str
    severity: str  # warning | breach
    message: str


def _min_rule(metric: str, value, limit: float, label: str) -> Finding | None:
    if value is None:
        return None
    if value < limit:
        return Finding(metric, value, f"< {limit}", "breach", f"{label} is {value:.4f}, below the minimum {limit}.")
    if value < limit + MIN_MARGIN:
        return Finding(metric, value, f"< {limit + MIN_MARGIN:.4f}", "warning",
                       f"{label} is {value:.4f}, close to the minimum {limit}.")
    return None


def _max_rule(metric: str, value, limit: float, label: str) -> Finding | None:
    if value is None:
        return None
    if value > limit:
        return Finding(metric, value, f"> {limit}", "breach", f"{label} is {value:.4f}, above the maximum {limit}.")
    if value > limit * MAX_WARNING_SHARE:
        return Finding(metric, value, f"> {limit * MAX_WARNING_SHARE:.4f}", "warning",
                       f"{label} is {value:.4f}, close to the maximum {limit}.")
    return None


def _within_noise(finding: Finding | None, groups: dict, limit: float) -> Finding | None:
    """Small groups: a selection-rate gap above the limit that the groups' 95% Wilson intervals
    cannot confirm (lowest plausible gap within the limit) is a warning, not a breach."""
    if finding is None or finding.severity != "breach" or len(groups) < 2:
        return finding
    rates = [(g.get("selection_rate"), g.get("selection_rate_ci")) for g in groups.values()]
    rates = [(rate, ci) for rate, ci in rates if rate is not None and ci]
    if len(rates) < 2:
        return finding
    high = max(rates, key=lambda r: r[0])
    low = min(rates, key=lambda r: r[0])
    lowest_gap = max(0.0, high[1][0] - low[1][1])
    if lowest_gap <= limit:
        return Finding(finding.metric, finding.value, finding.rule, "warning",
                       f"{finding.message} The groups are small: the gap could be as low as {lowest_gap:.4f} "
                       "(95% intervals), so this is a warning until more data confirms it.")
    return finding


def findings(metrics: dict, rules: dict, baseline: dict | None = None) -> list[Finding]:
    """Pure: which thresholds ``metrics`` crosses or approaches."""
    overall = metrics.get("overall") or {}
    fairness = metrics.get("fairness") or {}
    drift = metrics.get("drift") or {}
    found: list[Finding] = []
    for key, limit in rules.items():
        if key.endswith("_drop_max"):
            name = key[: -len("_drop_max")]
            base, value = (baseline or {}).get(name), overall.get(name)
            if base is not None and value is not None:
                found.append(_max_rule(f"overall.{name}_drop", base - value, limit,
                                       f"{name} drop from validation ({base:.4f})"))
        elif key.endswith("_min"):
            name = key[: -len("_min")]
            if name in FAIRNESS_RATIOS:
                for attribute, values in fairness.items():
                    found.append(_min_rule(f"fairness.{attribute}.{name}", values.get(name), limit,
                                           f"{name.replace('_', ' ')} for {attribute}"))
            else:
                found.append(_min_rule(f"overall.{name}", overall.get(name), limit, name))
        elif key.endswith("_max"):
            name = key[: -len("_max")]
            if name == "psi":
                for feature, values in drift.items():
                    found.append(_max_rule(f"drift.{feature}.psi", values.get("psi"), limit, f"PSI of {feature}"))
                for output, values in (metrics.get("prediction_drift") or {}).items():
                    found.append(_max_rule(f"prediction_drift.{output}.psi", values.get("psi"), limit,
                                           f"PSI of {OUTPUT_LABELS.get(output, output)} ({values.get('column')})"))
            elif name in FAIRNESS_DIFFERENCES:
                for attribute, values in fairness.items():
                    finding = _max_rule(f"fairness.{attribute}.{name}", values.get(name), limit,
                                        f"{name.replace('_', ' ')} for {attribute}")
                    if name == "demographic_parity_difference":
                        finding = _within_noise(finding, (metrics.get("groups") or {}).get(attribute, {}), limit)
                    found.append(finding)
            else:
                found.append(_max_rule(f"overall.{name}", overall.get(name), limit, name))
    return [f for f in found if f is not None]


def health_of(found: list[Finding]) -> str:
    severities = {f.severity for f in found}
    return "breach" if "breach" in severities else "warning" if severities else "healthy"
