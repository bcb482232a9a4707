"""Responsible-AI reviews of model versions: checklists, answers, decisions and the approval they produce."""

from django.conf import settings
from django.db import models
from django.urls import reverse

from apps.core.validators import validate_single_line
from apps.inventory.models import ModelVersion
from apps.reviews import transitions as t


class Checklist(models.TextChoices):
    INTENTIONALITY = "intentionality", "Intentionality"
    ACCOUNTABILITY = "accountability", "Accountability"


class ChecklistItem(models.Model):
    """One question of a checklist. Data, not template: admins add items; editing one makes a new version."""

    checklist = models.CharField(max_length=20, choices=Checklist.choices)
    key = models.SlugField(max_length=60)
    version = models.PositiveIntegerField(default=1)
    text = models.CharField(max_length=300, validators=[validate_single_line])
    guidance = models.TextField(blank=True, help_text="What evidence a reviewer expects.")
    order = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["checklist", "order", "key"]
        constraints = [
            models.UniqueConstraint(fields=["checklist", "key", "version"], name="checklist_item_version"),
            models.UniqueConstraint(fields=["checklist", "key"], condition=models.Q(active=True),
                                    name="one_active_checklist_item"),
        ]

    def __str__(self) -> str:
        return f"{self.get_checklist_display()}: {self.text}"


# The accountability item only the model's accountable owner answers, by acknowledging responsibility on the
# review: rounds do not give it an answer row the submitter could tick.
OWNER_ACKNOWLEDGED = "owner_acknowledged"

STATE_CHOICES = [(s, s.replace("_", " ").capitalize()) for s in t.STATES]


class Review(models.Model):
    """One review round of one model version."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="reviews")
    round = models.PositiveIntegerField(default=1)
    state = models.CharField(max_length=20, choices=STATE_CHOICES, default=t.DRAFT, db_index=True)
    checklists = models.JSONField(default=list, help_text="Checklists that apply, from the tier policy.")
    required_approvals = models.PositiveSmallIntegerField(default=1)
    policy_label = models.CharField(max_length=100, blank=True, validators=[validate_single_line])
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="submitted_reviews")
    submitted_at = models.DateTimeField(null=True, blank=True)
    content_hash = models.CharField(
        max_length=64, blank=True, help_text="What was reviewed, frozen at submission.",
        validators=[validate_single_line])
    decided_at = models.DateTimeField(null=True, blank=True)
    owner_acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                              on_delete=models.SET_NULL, related_name="+")
    owner_acknowledged_at = models.DateTimeField(null=True, blank=True)
    assignees = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="assigned_reviews")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["version", "round"], name="review_round_unique"),
            models.UniqueConstraint(fields=["version"], condition=models.Q(state__in=t.OPEN_STATES),
                                    name="one_open_review_per_version"),
        ]

    def __str__(self) -> str:
        return f"Review of {self.version} (round {self.round})"

    def get_absolute_url(self) -> str:
        return reverse("reviews:detail", kwargs={"pk": self.pk})

    @property
    def is_open(self) -> bool:
        return self.state in t.OPEN_STATES


class ChecklistAnswer(models.Model):
    class Answer(models.TextChoices):
        YES = "yes", "Yes"
        NO = "no", "No"
        NOT_APPLICABLE = "na", "Not applicable"

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey(ChecklistItem, on_delete=models.PROTECT, related_name="+")
    answer = models.CharField(max_length=3, choices=Answer.choices, blank=True)
    evidence = models.TextField(blank=True)
    evidence_link = models.URLField(max_length=500, blank=True)
    evidence_file = models.FileField(upload_to="review-evidence/%Y/%m/", blank=True)
    evidence_sha256 = models.CharField(max_length=64, blank=True, validators=[validate_single_line])
    reviewer_comment = models.TextField(blank=True)

    class Meta:
        ordering = ["item__checklist", "item__order"]
        constraints = [models.UniqueConstraint(fields=["review", "item"], name="one_answer_per_item")]

    def __str__(self) -> str:
        return f"{self.item.key}: {self.answer or '-'}"


class ReviewDecision(models.Model):
    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        REQUEST_CHANGES = "request_changes", "Request changes"
        REJECT = "reject", "Reject"

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="decisions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_decisions")
    decision = models.CharField(max_length=20, choices=Decision.choices)
    comment = models.TextField(blank=True)
    content_hash = models.CharField(
        max_length=64, help_text="Hash of what this reviewer saw.", validators=[validate_single_line])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # One decision per reviewer per round: a double click cannot count twice.
            models.UniqueConstraint(fields=["review", "reviewer"], name="one_decision_per_reviewer"),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} {self.decision} {self.review}"


class ChecklistVerdict(models.Model):
    """A reviewer's judgement of one checklist item's evidence, recorded with their decision.

    A dispute says why; an approval cannot stand on evidence its reviewer disputes.
    """

    class Verdict(models.TextChoices):
        CONFIRM = "confirm", "Confirmed"
        DISPUTE = "dispute", "Disputed"

    decision = models.ForeignKey(ReviewDecision, on_delete=models.CASCADE, related_name="verdicts")
    item = models.ForeignKey(ChecklistItem, on_delete=models.PROTECT, related_name="+")
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["item__checklist", "item__order"]
        constraints = [models.UniqueConstraint(fields=["decision", "item"], name="one_verdict_per_item")]

    def __str__(self) -> str:
        return f"{self.item.key}: {self.verdict}"
