"""Use-case intake: a proposed use of AI, classified and screened before any model exists.

A use case is proposed (draft), submitted, then approved or declined by a reviewer or admin who neither
proposed it nor owns it (four-eyes); a draft or submitted one may be withdrawn. A model is registered only
from an approved use case that no model uses yet (``apps.inventory.intake``); the use case then becomes the
model's record: it pre-fills the model and its classification, and stays linked to it.
Changed only by the ``use_case_*`` services, each of which audits the change.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from apps.compliance import evaluation as ev
from apps.core.models import TimeStampedModel
from apps.core.validators import validate_single_line
from apps.inventory.models import AutomationLevel, BusinessProcess, Exposure, MLModel
from apps.risk.scoring import IMPACT_LEVELS, PROBABILITY_LEVELS, TIERS


class UseCase(TimeStampedModel):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted (awaiting a decision)"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"

    title = models.CharField(max_length=160, validators=[validate_single_line])
    purpose = models.TextField(help_text="What the AI would be for, in business terms.")
    intended_use = models.TextField(blank=True, help_text="Who would use its output, for which decisions.")
    business_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_use_cases",
        help_text="The named person who would be accountable for its automated decisions.")
    business_process = models.ForeignKey(BusinessProcess, on_delete=models.PROTECT, related_name="use_cases",
                                         help_text="The business decision it would automate or support.")
    eu_category = models.CharField("EU AI Act category", max_length=20, choices=list(ev.EU_CATEGORIES.items()))
    annex_iii_area = models.CharField("Annex III area", max_length=30, choices=list(ev.ANNEX_III_AREAS.items()),
                                      default="none")
    role = models.CharField("Our role", max_length=10, choices=list(ev.ROLES.items()))
    rationale = models.TextField(blank=True, help_text="Why this classification, for the auditor.")
    exposure = models.CharField(max_length=20, choices=Exposure.choices, default=Exposure.INTERNAL)
    automation_level = models.CharField("Decision type", max_length=20, choices=AutomationLevel.choices,
                                        default=AutomationLevel.HUMAN_DECIDES)
    personal_data = models.BooleanField(default=False)
    people_affected = models.PositiveIntegerField(default=0)
    screening_probability = models.PositiveSmallIntegerField(
        choices=[(k, f"{k} {v[0]}: {v[1]}") for k, v in PROBABILITY_LEVELS.items()],
        validators=[MinValueValidator(1), MaxValueValidator(5)])
    screening_impact = models.PositiveSmallIntegerField(
        choices=[(k, f"{k} {v[0]}: {v[1]}") for k, v in IMPACT_LEVELS.items()],
        validators=[MinValueValidator(1), MaxValueValidator(5)])
    preliminary_tier = models.CharField(max_length=10, choices=[(t, t.title()) for t in TIERS], editable=False)
    tier_derivation = models.JSONField(default=list, editable=False)
    matrix_version = models.PositiveIntegerField(null=True, editable=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT, db_index=True,
                             editable=False)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                    editable=False)
    submitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", editable=False)
    decided_at = models.DateTimeField(null=True, blank=True, editable=False)
    decision_reason = models.TextField(blank=True, editable=False)
    model = models.OneToOneField(MLModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="use_case",
                                 editable=False, help_text="The model registered from this use case.")
    registered_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "use case"

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @property
    def reference(self) -> str:
        return f"UC-{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("intake:detail", kwargs={"pk": self.pk})
