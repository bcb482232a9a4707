"""Reads of the monitoring pages: each page costs a constant number of queries, whatever the data.

Also the display rows of an evaluation's metrics (formatted, with the policy's findings marked) and
the preview of an upload's columns, which reads the file and stores nothing.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
from django.conf import settings
from django.db.models import Case, Count, Exists, F, IntegerField, Max, OuterRef, Prefetch, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.timesince import timesince

from apps.inventory.models import Deployment, MLModel, ModelVersion, Stage
from apps.monitoring import ingest, thresholds
from apps.monitoring.forms import HealthFilter
from apps.monitoring.limits import upload_limits
from apps.monitoring.models import Alert, Evaluation, LabelBatch, MetricWindow, UploadSession
from apps.risk.selectors import current_policies, obligations_for

PSI_SIGNIFICANT = 0.2
PREVIEW_ROWS = 5
PREVIEW_BYTES = 256 * 1024
RECENT = 15
WINDOWS_SHOWN = 400
RESOLVED_SHOWN = 50
METRIC_LABELS = {
    "accuracy": "Accuracy", "precision": "Precision", "recall": "Recall", "f1": "F1", "roc_auc": "ROC AUC",
    "log_loss": "Log loss", "brier": "Brier score", "count": "Rows", "f1_macro": "F1 (macro)",
    "f1_weighted": "F1 (weighted)", "mae": "MAE", "rmse": "RMSE", "r2": "R²",
    "selection_rate": "Selection rate", "true_positive_rate": "True positive rate",
    "false_positive_rate": "False positive rate", "selection_rate_ratio": "Selection-rate ratio",
    "demographic_parity_difference": "Demographic parity difference",
    "demographic_parity_ratio": "Demographic parity ratio", "equalized_odds_difference": "Equalized odds difference",
    "equalized_odds_ratio": "Equalized odds ratio", "psi": "PSI",
}


def fmt(value, digits: int = 4) -> str:
    """A metric for display: rounded, or an em dash when undefined."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}" if abs(value) >= 10 ** -digits or value == 0 else f"{value:.2e}"


def label(name: str) -> str:
    return METRIC_LABELS.get(name, name.replace("_", " "))


def _count(queryset, group_by: str) -> Coalesce:
    """A correlated COUNT(*) subquery, not inflated by other joins."""
    counted = queryset.order_by().values(group_by).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _live_deployments():
    return Deployment.objects.filter(environment=Deployment.Environment.PRODUCTION, retired_at__isnull=True)


# ---------------------------------------------------------------- health overview


# Worst first: what the stored governance state says of each model's monitoring (apps.inventory.governance).
HEALTH_RANK = {"breach": 4, "warning": 3, "no_evidence": 2, "healthy": 1, "not_monitored": 0}


def health_overview(filters: Mapping | None = None) -> HealthFilter:
    """Models with an active production deployment, each with its stored health, alert count and last window.

    Health is the model's stored governance health (the one the dashboard, the gate and the API read): breach or
    warning while an alert is unresolved, *no evidence* when never evaluated or its results lapsed (never
    "healthy" then), healthy with fresh results and no alert. Rows also carry ``tier`` (the stored tier) and
    ``live_versions`` (prefetched).
    """
    unresolved = Alert.objects.filter(model=OuterRef("pk")).exclude(status=Alert.Status.RESOLVED)
    last_window = MetricWindow.objects.filter(version__model=OuterRef("pk")).order_by("-computed_at")
    rank = Case(*[When(governance__health=health, then=Value(n)) for health, n in HEALTH_RANK.items()],
                default=Value(0), output_field=IntegerField())
    live_versions = ModelVersion.objects.filter(
        Exists(_live_deployments().filter(version=OuterRef("pk")))).order_by("-created_at")
    queryset = (
        MLModel.objects.filter(Exists(_live_deployments().filter(version__model=OuterRef("pk"))))
        .select_related("team__business_unit")
        .annotate(
            health_rank=rank,
            health=F("governance__health"),
            open_alerts=_count(unresolved, "model"),
            last_window_at=Subquery(last_window.values("computed_at")[:1]),
            last_window_health=Subquery(last_window.values("health")[:1]),
            tier=F("governance__tier"),
        )
        .prefetch_related(Prefetch("versions", queryset=live_versions, to_attr="live_versions"))
        .order_by("-health_rank", "-open_alerts", "name", "pk")
    )
    return HealthFilter(filters or {}, queryset=queryset)


def attach_cadence(models) -> None:
    """Set ``cadence`` on each model from the policy of its tier (the strictest when never assessed): one query."""
    policies = current_policies()
    for model in models:
        policy = policies.get(model.tier or "critical")
        model.cadence = policy.get_monitoring_cadence_display() if policy else ""


def open_alerts(limit: int = 25):
    return (Alert.objects.filter(status=Alert.Status.OPEN).select_related("model", "version__model")
            .order_by("-created_at", "-pk")[:limit])


def model_alerts(model: MLModel, limit: int = 20) -> list[Alert]:
    """The model's latest ``limit`` unresolved alerts (its health is its stored governance state's)."""
    return list(Alert.objects.filter(model=model).exclude(status=Alert.Status.RESOLVED)
                .select_related("version")[:limit])


def open_alert_count() -> int:
    return Alert.objects.filter(status=Alert.Status.OPEN).count()


def recent_evaluations(limit: int = RECENT):
    return (Evaluation.objects.select_related("version__model", "created_by").defer("metrics", "columns")
            .order_by("-created_at", "-pk")[:limit])


# ---------------------------------------------------------------- one model


@dataclass
class ModelMonitoring:
    model: MLModel
    versions: list
    production_versions: list
    windows: list
    alerts: dict
    evaluations: list
    obligations: object


def model_monitoring(*, slug: str) -> ModelMonitoring:
    """Everything the model's monitoring page shows, in a constant number of queries."""
    model = get_object_or_404(MLModel.objects.select_related("team__business_unit", "accountable_owner"), slug=slug)
    versions = list(ModelVersion.objects.filter(model=model).select_related("model").order_by("-created_at")
                    .prefetch_related(Prefetch("deployments", queryset=_live_deployments(), to_attr="live")))
    windows = list(MetricWindow.objects.filter(version__model=model).select_related("version__model")
                   .order_by("-window_start", "-pk")[:WINDOWS_SHOWN])[::-1]
    alerts = {status: [] for status in Alert.Status.values}
    # Unresolved alerts are few (one per version and metric); resolved ones pile up, so the newest are shown.
    model_alerts = (Alert.objects.filter(model=model).select_related("version__model", "acknowledged_by",
                                                                     "resolved_by").order_by("-created_at", "-pk"))
    for alert in [*model_alerts.exclude(status=Alert.Status.RESOLVED),
                  *model_alerts.filter(status=Alert.Status.RESOLVED)[:RESOLVED_SHOWN]]:
        alerts[alert.status].append(alert)
    evaluations = list(Evaluation.objects.filter(version__model=model).select_related("version__model", "created_by")
                       .defer("metrics", "columns").order_by("-created_at", "-pk")[:50])
    return ModelMonitoring(
        model=model, versions=versions,
        production_versions=[v for v in versions if v.stage == Stage.PRODUCTION],
        windows=windows, alerts=alerts, evaluations=evaluations, obligations=obligations_for(model))


def evaluation_detail(*, pk: int) -> Evaluation:
    return get_object_or_404(Evaluation.objects.select_related("version__model__team", "created_by"), pk=pk)


@dataclass
class LabelCoverage:
    """How many of a late-labelled evaluation's rows have their outcome, and the label files that brought them."""

    rows: int | None
    labelled: int | None
    batches: list  # the latest LABEL_FILES_SHOWN, oldest first
    batch_count: int = 0
    labels_sent: int = 0  # the labels of every file

    @property
    def earlier(self) -> int:
        """How many label files arrived before those shown."""
        return self.batch_count - len(self.batches)

    @property
    def text(self) -> str:
        """e.g. "640 of 1,000 rows (64%)"; empty until the evaluation was computed."""
        if not self.rows:
            return ""
        return f"{self.labelled:,} of {self.rows:,} rows ({self.labelled / self.rows:.0%})"

    @property
    def pending(self) -> bool:
        return self.rows is None or self.labelled < self.rows


def label_coverage(evaluation: Evaluation) -> LabelCoverage | None:
    """The label coverage of an evaluation uploaded without its target (``labels``); None for one uploaded with it."""
    if not evaluation.columns.get("prediction_id"):
        return None
    counts = (evaluation.metrics or {}).get("labels") or {}
    batches = list(evaluation.label_batches.select_related("created_by").order_by("-pk")[:LABEL_FILES_SHOWN])[::-1]
    total = evaluation.label_batches.aggregate(files=Count("pk"), labels=Sum("row_count"))
    return LabelCoverage(rows=counts.get("rows"), labelled=counts.get("labelled_rows"), batches=batches,
                         batch_count=total["files"], labels_sent=total["labels"] or 0)


# The label files an evaluation's page lists (the latest); labels that arrive hourly make hundreds.
LABEL_FILES_SHOWN = 20


def worker_silent_since(now: datetime) -> datetime:
    """A computation whose heartbeat is older than this has lost its worker (killed, out of memory, host gone)."""
    return now - timedelta(seconds=settings.PORTAL_TASK_HEARTBEAT_SECONDS * settings.PORTAL_TASK_HEARTBEATS_MISSED)


def evaluation_status_note(evaluation: Evaluation, *, now: datetime | None = None) -> str:
    """Why an evaluation is not moving, in words, for its page and its API answer; empty while all is well."""
    now = now or timezone.now()
    if evaluation.status == Evaluation.Status.QUEUED:
        # Counted from the last hand-over to the broker: an evaluation queued again (late labels, a lost message)
        # has waited since then, not since its upload days ago. Never handed over: since it was queued, its upload
        # or the labels that queued it again (the broker was down when they came).
        since = evaluation.enqueued_at or _queued_since(evaluation)
        if (now - since).total_seconds() < settings.PORTAL_QUEUED_WARNING_SECONDS:
            return ""
        age = _ago(since, now)
        if evaluation.enqueued_at is None:
            return (f"Queued {age} ago; it could not be handed to the task queue yet: is the broker running? "
                    "It is sent again automatically.")
        return f"Queued {age} ago; no worker has taken it yet; is the Celery worker running?"
    if evaluation.status == Evaluation.Status.RUNNING:
        last_sign = evaluation.heartbeat_at or evaluation.started_at
        if last_sign and last_sign < worker_silent_since(now):
            return (f"Its worker stopped responding {_ago(last_sign, now)} ago (killed or out of memory?); another "
                    f"worker takes the computation over automatically, at most "
                    f"{settings.PORTAL_TASK_MAX_ATTEMPTS} attempts in all.")
    return ""


def upload_status_note(session: UploadSession, *, now: datetime | None = None) -> str:
    """Why a completed upload in parts being checked is not moving, in words, for its API answer; empty while all
    is well: the worker checking it stopped renewing its claim. (A follower dying while the parts still arrive
    changes nothing for the sender: the completion queues the check.)"""
    now = now or timezone.now()
    if session.state != UploadSession.State.PROCESSING or session.started_at is None:
        return ""
    last_sign = session.heartbeat_at or session.started_at
    if last_sign >= worker_silent_since(now):
        return ""
    return (f"The worker checking it stopped responding {_ago(last_sign, now)} ago (killed or out of memory?); "
            "another worker takes it over automatically, at most "
            f"{settings.PORTAL_TASK_MAX_ATTEMPTS} attempts in all.")


def _queued_since(evaluation: Evaluation) -> datetime:
    """When an evaluation never handed to the broker was queued: its latest labels' arrival, or its upload."""
    labelled = getattr(evaluation, "latest_label_at", _NOT_ANNOTATED)
    if labelled is _NOT_ANNOTATED:
        labelled = evaluation.label_batches.aggregate(latest=Max("created_at"))["latest"]
    return max(evaluation.created_at, labelled) if labelled else evaluation.created_at


_NOT_ANNOTATED = object()


def with_label_arrivals(queryset):
    """``queryset`` with each evaluation's latest labels' arrival (``latest_label_at``, None without labels), which
    the status note of one never handed to the broker needs (``_queued_since``): a list of them costs one query,
    not one more per evaluation."""
    latest = LabelBatch.objects.filter(evaluation=OuterRef("pk")).order_by("-created_at").values("created_at")[:1]
    return queryset.annotate(latest_label_at=Subquery(latest))


def _ago(then: datetime, now: datetime) -> str:
    return timesince(then, now).replace("\xa0", " ")


def alert_detail(*, pk: int) -> Alert:
    return get_object_or_404(
        Alert.objects.select_related("model", "version__model", "evaluation", "window", "acknowledged_by",
                                     "resolved_by").defer("evaluation__metrics", "window__metrics"), pk=pk)


def evaluation_alerts(evaluation: Evaluation) -> list[Alert]:
    return list(Alert.objects.filter(evaluation=evaluation).order_by("-created_at"))


def policy_rules(model: MLModel) -> tuple[object, object]:
    """(policy, its usable metric thresholds and the reasons any are skipped) in force for the model."""
    obligations = obligations_for(model)
    return obligations.policy, obligations.thresholds


# ---------------------------------------------------------------- an evaluation's metrics, for display


@dataclass
class Row:
    name: str
    cells: list[str]
    flag: str = ""  # breach | warning | highlight
    note: str = ""


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[Row] = field(default_factory=list)
    note: str = ""


@dataclass
class Report:
    overall: list[Row]
    groups: list[Table]
    fairness: Table | None
    drift: Table | None
    findings: list
    prediction_drift: Table | None = None


def _severities(found) -> dict[str, str]:
    return {f.metric: f.severity for f in found}


def _overall_rows(overall: dict, rules: dict, severity: dict[str, str]) -> list[Row]:
    rows = []
    for name, value in overall.items():
        rule = [f"≥ {rules[f'{name}_min']}" if f"{name}_min" in rules else "",
                f"≤ {rules[f'{name}_max']}" if f"{name}_max" in rules else "",
                f"drop ≤ {rules[f'{name}_drop_max']}" if f"{name}_drop_max" in rules else ""]
        flag = severity.get(f"overall.{name}") or severity.get(f"overall.{name}_drop", "")
        rows.append(Row(label(name), [fmt(value), ", ".join(r for r in rule if r) or "—"], flag))
    return rows


REFERENCE_RULES = {
    "highest_selection_rate": "the highest selection rate",
    "configured": "configured for this model",
}


def reference_rule(fairness: dict) -> str:
    """Why the four-fifths ratios compare with the reference group, in words.

    Results stored before the rule was recorded compared with the largest group; they say so.
    """
    return REFERENCE_RULES.get(fairness.get("reference_rule"),
                               "the largest group, computed before the highest-selection-rate rule")


def reference_description(fairness: dict) -> str:
    """The reference group and its rule, e.g. ``reference: group 'b', the highest selection rate``."""
    return f"reference: group '{fairness.get('reference_group')}', {reference_rule(fairness)}"


def _group_tables(groups: dict, fairness: dict) -> list[Table]:
    tables = []
    for attribute, by_group in groups.items():
        names = []
        for values in by_group.values():
            names += [n for n in values if n not in names and n != "selection_rate_ci"]
        violations = set((fairness.get(attribute) or {}).get("four_fifths_violations") or [])
        has_ci = any("selection_rate_ci" in values for values in by_group.values())
        columns = ["Group", *(label(n) for n in names), *(["Selection rate 95% CI (Wilson)"] if has_ci else [])]
        rows = []
        for group, values in by_group.items():
            cells = [fmt(values.get(n)) for n in names]
            if has_ci:
                ci = values.get("selection_rate_ci")
                cells.append(f"{ci[0]:.3f} – {ci[1]:.3f}" if ci else "—")
            rows.append(Row(group, cells, "breach" if group in violations else "",
                            "below four-fifths of the reference group's selection rate" if group in violations
                            else ""))
        summary = fairness.get(attribute) or {}
        note = ""
        if summary.get("reference_group") is not None:
            note = " ".join(filter(None, [f"Selection-rate ratio against the {reference_description(summary)}.",
                                          summary.get("reference_note")]))
        tables.append(Table(attribute, columns, rows, note))
    return tables


FAIRNESS_COLUMNS = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
                    "equalized_odds_ratio")


def _fairness_table(fairness: dict, severity: dict[str, str]) -> Table | None:
    if not fairness:
        return None
    rows = []
    for attribute, values in fairness.items():
        flags = [severity.get(f"fairness.{attribute}.{name}", "") for name in FAIRNESS_COLUMNS]
        flag = "breach" if "breach" in flags else "warning" if "warning" in flags else ""
        reference = values.get("reference_group")
        rows.append(Row(attribute, [*(fmt(values.get(name)) for name in FAIRNESS_COLUMNS),
                                    "—" if reference is None else f"{reference} ({reference_rule(values)})",
                                    ", ".join(values.get("four_fifths_violations") or []) or "none",
                                    fmt(values.get("p_value"))], flag, values.get("reference_note") or ""))
    return Table("Fairness", ["Attribute", *(label(n) for n in FAIRNESS_COLUMNS), "Reference group",
                              "Below four-fifths", "p-value (χ² independence)"], rows,
                 "Below four-fifths: groups whose selection rate is under 0.8 times the reference group's (29 CFR "
                 "1607.4(D)); the reference is the group with the highest selection rate unless the model configures "
                 "one. The p-value is shown beside the effect sizes and is not used to alert: on large samples every "
                 "difference is significant.")


def _psi_reading(psi: float | None, flag: str, psi_max: float | None) -> tuple[str, str]:
    """(flag, note) of a drift row: the policy's ``psi_max`` decides when the model has one (the rows the gate and
    the alerts count, nothing more); otherwise PSI above 0.2, the usual reading of a significant shift, is
    highlighted as a hint that raises no alert."""
    if psi_max is not None:
        return flag, f"the policy allows PSI up to {psi_max:g}" if flag else ""
    if psi is not None and psi > PSI_SIGNIFICANT:
        return flag or "highlight", "significant shift (PSI > 0.2)"
    return flag, ""


def _psi_note(psi_max: float | None) -> str:
    if psi_max is None:
        return ("PSI below 0.1 is stable, 0.1–0.2 a moderate shift, above 0.2 significant (highlighted; the model's "
                "policy sets no PSI limit, so no alert is raised).")
    return (f"The model's policy allows PSI up to {psi_max:g}: rows above it are marked breach, rows above "
            f"{psi_max * thresholds.MAX_WARNING_SHARE:g} warning, and production evaluations raise alerts on them. "
            "(The usual reading: below 0.1 stable, 0.1–0.2 a moderate shift, above 0.2 significant.)")


def _drift_table(drift: dict, severity: dict[str, str], psi_max: float | None = None) -> Table | None:
    if not drift:
        return None
    ordered = sorted(drift.items(), key=lambda item: -(item[1].get("psi") or 0))
    rows = []
    for feature, values in ordered:
        psi = values.get("psi")
        flag, note = _psi_reading(psi, severity.get(f"drift.{feature}.psi", ""), psi_max)
        statistic = "KS" if values.get("kind") == "numeric" else "χ²"
        rows.append(Row(feature, [values.get("kind", ""), fmt(psi), f"{fmt(values.get('statistic'))} ({statistic})",
                                  fmt(values.get("p_value")), fmt(values.get("reference_count")),
                                  fmt(values.get("current_count"))], flag, note))
    return Table("Drift", ["Feature", "Kind", "PSI", "Statistic", "p-value", "Reference rows", "Current rows"], rows,
                 _psi_note(psi_max))


def _prediction_drift_table(outputs: dict, severity: dict[str, str], psi_max: float | None = None) -> Table | None:
    if not outputs:
        return None
    rows = []
    for output, label in (("score", "Score"), ("prediction", "Predicted label")):
        values = outputs.get(output)
        if values is None:
            continue
        psi = values.get("psi")
        flag, note = _psi_reading(psi, severity.get(f"prediction_drift.{output}.psi", ""), psi_max)
        statistic = "KS" if values.get("kind") == "numeric" else "χ²"
        rows.append(Row(f"{label} ({values.get('column')})",
                        [values.get("kind", ""), fmt(psi), f"{fmt(values.get('statistic'))} ({statistic})",
                         fmt(values.get("p_value")), fmt(values.get("reference_count")),
                         fmt(values.get("current_count"))], flag, note))
    return Table("Prediction drift", ["Output", "Kind", "PSI", "Statistic", "p-value", "Reference rows",
                                      "Current rows"], rows,
                 "The model's own outputs against its outputs on the reference data, by the feature drift rules: "
                 "the score binned on the reference's deciles (KS beside it), the predicted label by category "
                 "(χ² beside it). A shift here shows before labels arrive. " + _psi_note(psi_max))


def evaluation_report(metrics: dict | None, *, rules: dict, baseline: dict | None) -> Report | None:
    """Display rows of an evaluation's (or window's) metrics, with the policy's findings marked."""
    if not metrics:
        return None
    found = thresholds.findings(metrics, rules, baseline)
    severity = _severities(found)
    fairness = metrics.get("fairness") or {}
    return Report(
        overall=_overall_rows(metrics.get("overall") or {}, rules, severity),
        groups=_group_tables(metrics.get("groups") or {}, fairness),
        fairness=_fairness_table(fairness, severity),
        drift=_drift_table(metrics.get("drift") or {}, severity, rules.get("psi_max")),
        findings=found,
        prediction_drift=_prediction_drift_table(metrics.get("prediction_drift") or {}, severity,
                                                 rules.get("psi_max")),
    )


# ---------------------------------------------------------------- explanations


@dataclass
class Explanation:
    """Display of ``metrics["explanations"]`` (see ``apps.monitoring.explain``)."""

    done: bool
    reason: str = ""
    fidelity: str = ""
    low_fidelity: bool = False
    caveat: str = ""
    method: str = ""
    unit: str = ""
    importances: Table | None = None
    groups: list[Table] = field(default_factory=list)
    shift: Table | None = None
    shift_note: str = ""
    validation_evaluation: int | None = None


def explanation_pending(metrics: dict | None) -> bool:
    """Whether the explanation follows: it is computed after the evaluation is done (services.evaluation_explain)."""
    return ((metrics or {}).get("explanations") or {}).get("status") == "pending"


def explanation_followed(evaluation: Evaluation) -> bool:
    """Whether the evaluation's page polls for its explanation: done, with the explanation still to come."""
    return evaluation.status == Evaluation.Status.DONE and explanation_pending(evaluation.metrics)


def explanation_failed(evaluation: Evaluation) -> bool:
    """Whether a done evaluation's explanation failed (an error, or given up): it may be asked for again."""
    found = (evaluation.metrics or {}).get("explanations") or {}
    return evaluation.status == Evaluation.Status.DONE and found.get("status") == "failed"


def explanation_missing_note(metrics: dict | None) -> str:
    """Why a done evaluation shows no explanation (yet), for its page and the review's evidence."""
    found = (metrics or {}).get("explanations")
    if not found:
        return ("This evaluation was computed before the portal explained outputs; upload the file again to get its "
                "explanation.")
    if found.get("status") == "pending":
        return ("The explanation of the outputs is being computed: it follows the metrics by a few seconds, and the "
                "evaluation's page shows it once it is stored.")
    return found.get("reason", "")


def explanation_report(metrics: dict | None) -> Explanation | None:
    """The explanation of an evaluation's outputs, ready to show; None before the metrics exist."""
    if not metrics:
        return None
    found = metrics.get("explanations")
    if not found or found.get("status") != "done":
        return Explanation(False, explanation_missing_note(metrics))
    fidelity = found["fidelity"]
    rows = found["rows"]
    importances = Table("Importance of each feature", ["Feature", "Rank", "Importance", "Spread (std)"],
                        [Row(item["feature"], [str(item["rank"]), fmt(item["importance"]), fmt(item["std"])])
                         for item in found["importances"]],
                        f"Importance: the {found['importance_unit']}, averaged over the shuffles."
                        + _importance_reading(found))
    shift = found.get("shift") or {}
    return Explanation(
        True, fidelity=f"{'R²' if fidelity['metric'] == 'r2' else 'accuracy'} {fmt(fidelity['value'], 3)} on "
                       f"{rows['held_out']:,} held-out rows (of {rows['sampled']:,} sampled from {rows['given']:,})",
        low_fidelity=fidelity["low"], caveat=found.get("caveat", ""), method=found.get("method", ""),
        unit=found["importance_unit"], importances=importances,
        groups=_explanation_group_tables(found), shift=_shift_table(shift.get("features")),
        shift_note=shift.get("reason", ""), validation_evaluation=shift.get("validation_evaluation"))


def _importance_reading(found: dict) -> str:
    """How to read importances outside 0 to 1, when the table has any."""
    values = [item["importance"] for item in found["importances"]]
    notes = ""
    if found["fidelity"]["metric"] == "r2" and any(value > 1 for value in values):
        notes += (" Above 1: shuffled, the feature leaves the surrogate worse than always predicting the average "
                  "output (its R² falls below 0); the feature carries most of what the model does.")
    if any(value < 0 for value in values):
        notes += (" Below 0: the surrogate did slightly better with the feature shuffled; the feature does not drive "
                  "the outputs (the difference is noise).")
    return notes


def _explanation_group_tables(found: dict) -> list[Table]:
    """Per attribute: each feature's importance overall and within each group, and the largest gap between groups."""
    tables = []
    for attribute, result in (found.get("groups") or {}).items():
        groups = result.get("groups") or {}
        names = list(groups)
        rows = []
        for item in found["importances"]:
            values = [groups[g]["importances"].get(item["feature"]) for g in names]
            known = [v for v in values if v is not None]
            gap = max(known) - min(known) if len(known) > 1 else None
            rows.append(Row(item["feature"], [fmt(item["importance"]), *(fmt(v) for v in values), fmt(gap)]))
        skipped = result.get("skipped") or {}
        note = ""
        if skipped:
            listed = ", ".join(f"{g} ({n:,} rows)" for g, n in skipped.items())
            note = (f"Every group has fewer than {result.get('min_rows'):,} held-out rows, too few for its own "
                    f"importances: {listed}." if not names else
                    f"Skipped, fewer than {result.get('min_rows'):,} held-out rows: {listed}.")
        columns = ["Feature", "Overall", *(f"{g} ({groups[g]['rows']:,} rows)" for g in names), "Largest gap"]
        tables.append(Table(f"By {attribute}", columns, rows if names else [], note))
    return tables


def _shift_table(features: list | None) -> Table | None:
    if not features:
        return None
    rows = [Row(item["feature"], [fmt(item["validation"]), fmt(item["production"]), fmt(item["change"]),
                                  fmt(item["validation_rank"]), fmt(item["production_rank"]),
                                  "—" if item["rank_change"] is None else f"{item['rank_change']:+d}"])
            for item in features]
    return Table("Importance shift since validation",
                 ["Feature", "Validation", "Production", "Change", "Validation rank", "Production rank",
                  "Rank change"], rows,
                 "Change is production minus validation; a positive rank change means the feature drives production "
                 "outputs more than it drove validation ones. Largest changes first.")


# ---------------------------------------------------------------- upload preview


@dataclass
class Preview:
    filename: str
    size: int
    file_format: str = ""
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, role)
    rows: list[list[str]] = field(default_factory=list)
    missing: list[tuple[str, str, bool]] = field(default_factory=list)  # (role, column, required)
    problems: list = field(default_factory=list)


def _roles(columns: list[str], mapping: Mapping[str, str], sensitive: list[str]) -> dict[str, str]:
    roles = {name: "sensitive feature" for name in sensitive if name in columns}
    labels = {"target": "true label", "prediction": "prediction", "score": "score", "timestamp": "timestamp",
              "prediction_id": "prediction id (late labels are joined to it)"}
    for key, role in labels.items():
        name = mapping.get(key)
        if name and name in columns:
            roles[name] = role
    score = mapping.get("score")
    for name in columns:
        if name not in roles and score and name.startswith(f"{score}_"):
            roles[name] = "class probability (multiclass)"
    return {name: roles.get(name, "feature (compared for drift)") for name in columns}


def _cell(value) -> str:
    missing = value is None or (not isinstance(value, list | dict | tuple) and pd.isna(value))
    return "" if missing else str(value)


def upload_preview(data: bytes, *, filename: str, mapping: Mapping[str, str], sensitive: list[str]) -> Preview:
    """The header, the first rows and what each column is used for. Reads at most the first 256 KB of text files."""
    preview = Preview(filename=filename, size=len(data))
    head = data
    if not data.startswith(b"PAR1") and len(data) > PREVIEW_BYTES:
        # Cut at a line end so the preview never sees half a row.
        head = data[: data.rfind(b"\n", 0, PREVIEW_BYTES) + 1] or data[:PREVIEW_BYTES]
    try:
        frame, preview.file_format = ingest.read_table(head, filename=filename, limits=upload_limits())
    except ingest.IngestError as exc:
        preview.problems = list(exc.problems)
        return preview
    columns = [str(c) for c in frame.columns]
    roles = _roles(columns, mapping, sensitive)
    preview.columns = [(name, roles[name]) for name in columns]
    preview.rows = [[_cell(value) for value in row]
                    for row in frame.head(PREVIEW_ROWS).itertuples(index=False, name=None)]
    # A production file with prediction ids may leave the true label out: it arrives later (late labels).
    labels_later = bool(mapping.get("prediction_id")) and mapping.get("prediction_id") in columns
    wanted = [("true label", mapping.get("target"), not labels_later), ("prediction", mapping.get("prediction"), True),
              ("score", mapping.get("score"), False), ("timestamp", mapping.get("timestamp"), False),
              *(("sensitive feature", name, True) for name in sensitive)]
    preview.missing = [(role, name, required) for role, name, required in wanted if name and name not in columns]
    return preview
