"""Validation findings against a model version, and incidents of a model in production.

Both are changed only by ``apps.findings.services``, which audits each change and tells the governance state
(``governance_changed``): an open finding of the severity its tier's policy names holds the production gate, an
open incident is a red flag on the executive dashboard. Controls a finding concerns are linked from the
compliance side (``apps.compliance.models.FindingControl``), which sits above this app.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse

from apps.core.models import TimeStampedModel
from apps.core.validators import validate_single_line
from apps.findings import rules
from apps.inventory.models import MLModel, ModelVersion


class Finding(TimeStampedModel):
    """A problem a validator found in a model version, with who fixes it by when, and how it was closed."""

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="findings")
    title = models.CharField(max_length=200, validators=[validate_single_line])
    description = models.TextField(help_text="What was found, and the evidence for it.")
    severity = models.CharField(max_length=10, choices=list(rules.SEVERITY_LABELS.items()), db_index=True)
    status = models.CharField(max_length=12, choices=list(rules.FINDING_STATUSES.items()), default=rules.OPEN,
                              db_index=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_findings",
                              help_text="Who remediates it.")
    due_date = models.DateField(help_text="When the remediation is due.")
    remediation = models.TextField(blank=True, help_text="What is being done, or was done, to fix it.")
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    closing_note = models.TextField(blank=True, help_text="How the fix was checked (required to close).")
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["version", "status"], name="finding_version_status")]

    def __str__(self) -> str:
        return f"Finding #{self.pk}: {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("findings:finding", kwargs={"pk": self.pk})

    @property
    def is_open(self) -> bool:
        return self.status != rules.CLOSED


class Incident(TimeStampedModel):
    """A production failure or harm caused by a model: its timeline, impact, root cause and corrective actions,
    and whether it is a serious incident whose report to the authority is owed (``rules.report_deadline``)."""

    model = models.ForeignKey(MLModel, on_delete=models.PROTECT, related_name="incidents")
    version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="incidents", help_text="The version that ran, when known.")
    title = models.CharField(max_length=200, validators=[validate_single_line])
    description = models.TextField(help_text="What happened.")
    impact = models.TextField(help_text="Who or what was harmed, and how much.")
    root_cause = models.TextField(blank=True)
    corrective_actions = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=list(rules.INCIDENT_STATUSES.items()),
                              default=rules.INCIDENT_OPEN, db_index=True)
    occurred_at = models.DateTimeField(help_text="When it happened (or began).")
    aware_at = models.DateTimeField(help_text="When we became aware of it: the reporting deadline counts from here.")
    serious_kind = models.CharField(max_length=12, blank=True, default="",
                                    choices=[(k, label) for k, label in rules.SERIOUS_KINDS.items()])
    reported_at = models.DateTimeField(null=True, blank=True, help_text="When the authority received the report.")
    report_reference = models.CharField(max_length=120, blank=True, validators=[validate_single_line],
                                        help_text="The authority's reference for the report.")
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-aware_at", "-pk"]
        indexes = [models.Index(fields=["model", "status"], name="incident_model_status")]

    def __str__(self) -> str:
        return f"Incident #{self.pk}: {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("findings:incident", kwargs={"pk": self.pk})

    @property
    def is_open(self) -> bool:
        return self.status != rules.INCIDENT_CLOSED

    @property
    def serious(self) -> bool:
        return bool(self.serious_kind)

    @property
    def report_deadline(self):
        return rules.report_deadline(self.serious_kind, self.aware_at)

    def report_state(self, today) -> str:
        return rules.report_state(self.serious_kind, self.aware_at, self.reported_at, today)


class IncidentEntry(models.Model):
    """One dated line of an incident's timeline; appended, never edited."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="entries")
    at = models.DateTimeField(help_text="When this happened.")
    text = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name_plural = "incident entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.text[:60]}"
