"""What monitoring holds for a review round: the version's latest evaluation (performance, per-group fairness
with intervals, the four-fifths rule and its reference group), its drift, its open alerts, and the surrogate
explanation of its outputs (fidelity and top features) for the "explainable" item.

Registered with ``apps.reviews.evidence_sources`` in ``MonitoringConfig.ready``; two queries, whatever the data.
"""

from django.urls import reverse

from apps.monitoring import selectors
from apps.monitoring.models import Alert, Evaluation
from apps.reviews.evidence_sources import Evidence, Link, Section

EXPLANATION_TOP = 3  # features named in the review's evidence; the evaluation page ranks them all


def review_evidence(review, *, obligations) -> Evidence:
    version, model = review.version, review.version.model
    evaluation = (Evaluation.objects.filter(version=version, status=Evaluation.Status.DONE)
                  .order_by("-finished_at", "-pk").first())
    open_alerts = Alert.objects.filter(version=version).exclude(status=Alert.Status.RESOLVED).count()
    report = None
    if evaluation is not None:
        report = selectors.evaluation_report(evaluation.metrics, rules=obligations.thresholds.rules,
                                             baseline=version.validation_metrics)
    evidence = Evidence(sections=[
        Section("evaluation", "Latest evaluation", "reviews/evidence/evaluation.html",
                {"evaluation": evaluation, "report": report, "task_type": model.task_type}),
        Section("drift", "Drift", "reviews/evidence/drift.html",
                {"evaluation": evaluation, "report": report, "open_alerts": open_alerts,
                 "monitoring_url": reverse("monitoring:model", kwargs={"slug": model.slug})}),
    ])
    monitoring = Link(f"Monitoring of {model.name}", reverse("monitoring:model", kwargs={"slug": model.slug}),
                      f"{open_alerts} open alert{'s' * (open_alerts != 1)}")
    evidence.add("monitoring_plan", monitoring)
    if evaluation is None:
        evidence.add("purpose_matches_intent", Link("No evaluation of this version yet", monitoring.url))
        evidence.add("bias_checked", Link("No fairness evaluation of this version yet", monitoring.url))
        return evidence
    url = evaluation.get_absolute_url()
    evidence.add("explainable", _explanation_link(evaluation))
    findings = len(report.findings) if report else 0
    evidence.add("purpose_matches_intent", Link(
        f"{evaluation.get_kind_display()} evaluation #{evaluation.pk}", url,
        f"{evaluation.row_count or 0:,} rows; {findings} finding{'s' * (findings != 1)} against the policy"))
    fairness = (evaluation.metrics or {}).get("fairness") or {}
    if fairness:
        below = sorted({group for values in fairness.values() for group in values.get("four_fifths_violations") or []})
        evidence.add("bias_checked", Link(
            f"Fairness by {', '.join(fairness)}", url + "#evidence-fairness",
            f"below four-fifths: {', '.join(below)}" if below else "no group below four-fifths"))
    else:
        evidence.add("bias_checked", Link("The latest evaluation names no sensitive feature", url))
    return evidence


def _explanation_link(evaluation: Evaluation) -> Link:
    """The surrogate explanation of the latest evaluation: its fidelity and the features that drive the outputs."""
    url = evaluation.get_absolute_url() + "#explanations"
    found = (evaluation.metrics or {}).get("explanations") or {}
    if selectors.explanation_pending(evaluation.metrics):
        return Link(f"Explanation of the outputs of evaluation #{evaluation.pk}: being computed", url,
                    selectors.explanation_missing_note(evaluation.metrics))
    if found.get("status") != "done":
        return Link(f"No explanation of the outputs of evaluation #{evaluation.pk}", url,
                    selectors.explanation_missing_note(evaluation.metrics))
    fidelity = found["fidelity"]
    top = ", ".join(item["feature"] for item in found["importances"][:EXPLANATION_TOP])
    measure = "R²" if fidelity["metric"] == "r2" else "accuracy"
    note = f"fidelity ({measure}) {fidelity['value']:.2f}; top features: {top}"
    if fidelity["low"]:
        note += f". {found['caveat']}"
    return Link(f"Surrogate explanation of evaluation #{evaluation.pk}", url, note)
