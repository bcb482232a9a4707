"""Risk assessments, the versioned scoring matrix and the governance policy of each tier.

Nothing here is overwritten: a new matrix or policy is a new version; a new
assessment supersedes the previous one and keeps it as history.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from apps.core.validators import validate_single_line
from apps.inventory.models import AutomationLevel, Exposure, MLModel
from apps.risk import policy_schema
from apps.risk.scoring import LEVELS, REGULATED_DOMAINS, RISKS, TIERS


class Tier(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


assert tuple(Tier.values) == TIERS, "Tier choices must match apps.risk.scoring.TIERS"

RISK_CHOICES = [(key, label) for key, (label, _) in RISKS.items()]
LEVEL_CHOICES = [(n, str(n)) for n in LEVELS]


class RiskMatrix(models.Model):
    """One version of the probability x impact matrix and escalation rules (see ``apps.risk.scoring``)."""

    version = models.PositiveIntegerField(unique=True)
    config = models.JSONField()
    note = models.TextField(blank=True, help_text="Why this version was introduced.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        verbose_name_plural = "risk matrices"

    def __str__(self) -> str:
        return f"Risk matrix v{self.version}"


class MonitoringCadence(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"


assert tuple(MonitoringCadence.values) == policy_schema.CADENCES, "Cadences must match apps.risk.policy_schema"


class GovernancePolicy(models.Model):
    """What a tier demands: approvals, checklists, monitoring cadence, thresholds, re-assessment interval.

    Versioned per tier; the highest version of a tier is in force. Other apps read
    it only through ``apps.risk.selectors.policy_for_tier`` / ``obligations_for``.
    """

    tier = models.CharField(max_length=10, choices=Tier.choices)
    version = models.PositiveIntegerField()
    required_approvals = models.PositiveSmallIntegerField(help_text="Distinct reviewer approvals per version.")
    checklists = models.JSONField(
        default=list, help_text='Checklists that apply, e.g. ["intentionality", "accountability"]'
    )
    monitoring_cadence = models.CharField(max_length=10, choices=MonitoringCadence.choices)
    metric_thresholds = models.JSONField(
        default=dict, help_text='e.g. {"accuracy_min": 0.8, "psi_max": 0.2, "demographic_parity_difference_max": 0.1}'
    )
    reassessment_days = models.PositiveIntegerField(help_text="Days until the risk assessment must be renewed.")
    suspend_on_breach = models.BooleanField(
        default=False, help_text="A monitoring breach suspends the approval until a reviewer re-approves the version "
        "or records a risk acceptance. Off: the breach raises an alert only.")
    finding_blocks_from = models.CharField(
        max_length=10, choices=Tier.choices, default="critical",
        help_text="An open validation finding of this severity or worse holds the production gate.")
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tier", "-version"]
        verbose_name_plural = "governance policies"
        constraints = [models.UniqueConstraint(fields=["tier", "version"], name="policy_unique_version")]

    def __str__(self) -> str:
        return f"{self.get_tier_display()} policy v{self.version}"

    def clean(self):
        """The policy schema, for any ModelForm (the portal's form, a future admin) that saves a policy."""
        errors: dict[str, list[str]] = {}
        # An empty field is already reported by the field's own validation.
        document = {name: value for name in policy_schema.FIELDS if (value := getattr(self, name)) is not None}
        for problem in policy_schema.policy_problems(document):
            errors.setdefault(problem.field, []).append(problem.message)
        if errors:
            raise ValidationError(errors)


class RiskAssessment(models.Model):
    """One assessment of one model. Drafts can be edited; a submitted one is frozen and supersedes the last."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        CURRENT = "current", "Current"
        SUPERSEDED = "superseded", "Superseded"

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="risk_assessments")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT, db_index=True)
    # Context that shifts the result, as seen by the assessor (copied from the model, editable).
    exposure = models.CharField(max_length=20, choices=Exposure.choices)
    automation_level = models.CharField(max_length=20, choices=AutomationLevel.choices)
    personal_data = models.BooleanField(default=False, help_text="Does the model use personal data?")
    people_affected = models.PositiveIntegerField(default=0, help_text="People affected by its decisions per year.")
    regulated_domain = models.CharField(max_length=30, choices=list(REGULATED_DOMAINS.items()), default="none")
    eu_ai_act_category = models.CharField(
        max_length=20, blank=True,
        choices=[("prohibited", "Prohibited"), ("high_risk", "High-risk"), ("limited", "Limited risk (transparency)"),
                 ("minimal", "Minimal risk")],
        help_text="Optional regulatory classification, recorded beside the tier.",
    )
    summary = models.TextField(blank=True, help_text="Why these ratings: the assessor's overall rationale.")
    # Results, computed at submission and frozen.
    base_tier = models.CharField(max_length=10, choices=Tier.choices, blank=True)
    tier = models.CharField(max_length=10, choices=Tier.choices, blank=True, db_index=True)
    escalations = models.JSONField(default=list, blank=True)
    matrix = models.ForeignKey(RiskMatrix, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    policy = models.ForeignKey(GovernancePolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reassessment_due = models.DateField(null=True, blank=True, db_index=True)
    overdue_notified_at = models.DateTimeField(null=True, blank=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-submitted_at", "-created_at"]
        constraints = [
            # At most one current assessment per model: the last line of defence against two submits.
            models.UniqueConstraint(fields=["model"], condition=models.Q(status="current"),
                                    name="one_current_assessment_per_model"),
        ]

    def __str__(self) -> str:
        return f"Risk assessment #{self.pk} of {self.model}"

    def get_absolute_url(self) -> str:
        return reverse("risk:assessment-detail", kwargs={"pk": self.pk})


class RiskRating(models.Model):
    assessment = models.ForeignKey(RiskAssessment, on_delete=models.CASCADE, related_name="ratings")
    risk = models.CharField(max_length=20, choices=RISK_CHOICES)
    probability = models.PositiveSmallIntegerField(choices=LEVEL_CHOICES)
    impact = models.PositiveSmallIntegerField(choices=LEVEL_CHOICES)
    severity = models.CharField(max_length=10, choices=Tier.choices, blank=True)
    rationale = models.TextField(blank=True)

    class Meta:
        ordering = ["assessment", "risk"]
        constraints = [models.UniqueConstraint(fields=["assessment", "risk"], name="one_rating_per_risk")]

    def __str__(self) -> str:
        return f"{self.get_risk_display()}: P{self.probability} x I{self.impact}"


class Mitigation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        ACCEPTED = "accepted", "Risk accepted"

    rating = models.ForeignKey(RiskRating, on_delete=models.CASCADE, related_name="mitigations")
    action = models.CharField(max_length=300, validators=[validate_single_line])
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="mitigations")
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)

    class Meta:
        ordering = ["due_date", "id"]

    def __str__(self) -> str:
        return self.action


class ReassessmentTrigger(models.Model):
    """An event that demands a new assessment (new version heading to production, breach, changed exposure)."""

    class Kind(models.TextChoices):
        # The model's use changed (exposure, automation, purpose): its tier may be wrong, so the
        # production gate waits for the re-assessment. Other triggers (a breach) only ask for one.
        CONTEXT_CHANGED = "context_changed", "The model's use changed"
        # Monitoring found a breach on a tier whose policy suspends the approval; a draft re-assessment holds
        # the evidence (``reassessment_open_for_breach``).
        MONITORING_BREACH = "monitoring_breach", "Monitoring breach"
        OTHER = "other", "Other"

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="reassessment_triggers")
    reason = models.CharField(max_length=300, validators=[validate_single_line])
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OTHER)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_by = models.ForeignKey(RiskAssessment, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="resolved_triggers")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.model}: {self.reason}"


class RiskAcceptance(models.Model):
    """A reviewer accepts, for a while, the risk a monitoring breach revealed, lifting the suspension it caused.

    It covers the breaches known when it is recorded; a later breach suspends the approval again. Expired, it
    suspends the approval again too (the beat task recomputes the state the day after ``expires_on``).
    """

    version = models.ForeignKey("inventory.ModelVersion", on_delete=models.CASCADE, related_name="risk_acceptances")
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(help_text="Why the model may keep running despite the breach, and what is being done.")
    expires_on = models.DateField(help_text="The last day the acceptance holds.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Risk accepted for {self.version} until {self.expires_on:%Y-%m-%d}"
