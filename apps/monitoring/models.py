"""Evaluations uploaded by data scientists, the metrics Celery computes from them, and the alerts they raise.

Raw uploads are kept content-addressed (SHA-256) with a Parquet copy that every
recomputation reads. Metric windows are unique per (version, cadence, start):
re-running a window replaces its row. Computation code lives in metrics.py and
drift.py (pure) and tasks.py (claims work, calls services).
"""

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse

from apps.core.validators import validate_single_line
from apps.inventory.models import MLModel, ModelVersion

# A done evaluation whose explanation is still to compute (services.evaluation_explain): the condition of a
# partial index, so the requeue sweep, which looks for these every 30 s, reads the few pending rows, not every
# evaluation's metrics.
EXPLANATION_PENDING = models.Q(status="done", metrics__explanations__status="pending")


class Evaluation(models.Model):
    class Kind(models.TextChoices):
        VALIDATION = "validation", "Validation (offline test set)"
        PRODUCTION = "production", "Production (live predictions with outcomes)"
        CHALLENGER = "challenger", "Challenger comparison"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="evaluations")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.VALIDATION)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error = models.TextField(blank=True, help_text="Why the computation failed, in words a person can act on.")
    warnings = models.JSONField(default=list, blank=True)
    filename = models.CharField(max_length=255, validators=[validate_single_line])
    file_format = models.CharField(max_length=10, validators=[validate_single_line])
    sha256 = models.CharField(max_length=64, db_index=True, validators=[validate_single_line])
    size_bytes = models.PositiveBigIntegerField()
    raw_path = models.CharField(
        max_length=300, help_text="Raw upload, under MEDIA_ROOT, named by its SHA-256.",
        validators=[validate_single_line])
    parquet_path = models.CharField(
        max_length=300, help_text="Columnar copy that recomputations read.", validators=[validate_single_line])
    source_uri = models.CharField(
        max_length=1024, blank=True, validators=[validate_single_line],
        help_text="For an evaluation registered by reference: the Parquet data set it is read from, where it stays "
                  "(no raw or Parquet copy is stored, so raw_path and parquet_path are empty).")
    row_count = models.PositiveIntegerField(null=True, blank=True)
    columns = models.JSONField(default=dict, blank=True,
                               help_text="target, prediction, score, timestamp column names and sensitive features")
    positive_label = models.CharField(max_length=100, default="1", validators=[validate_single_line])
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    metrics = models.JSONField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, blank=True, validators=[validate_single_line])
    idempotency_request = models.JSONField(
        default=dict, blank=True,
        help_text="What the key stands for: the file's SHA-256 and every upload option. A replay must match it.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Claims by a worker; bounded by "
                                                "PORTAL_TASK_MAX_ATTEMPTS when workers die on it.")
    explanation_attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Workers that started this computation's explanation; at PORTAL_TASK_MAX_ATTEMPTS "
                             "without a result it is given up (services.evaluation_explain).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When the task was handed to the broker.")
    heartbeat_at = models.DateTimeField(null=True, blank=True,
                                        help_text="Last sign of life of the worker computing it; a silent one died.")
    worker = models.CharField(max_length=200, blank=True, validators=[validate_single_line],
                              help_text="host:pid of the process that claimed it last.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["created_by", "idempotency_key"], condition=~models.Q(idempotency_key=""),
                                    name="evaluation_idempotency_key"),
        ]
        indexes = [
            models.Index(fields=["finished_at"], name="evaluation_explanation_pending", condition=EXPLANATION_PENDING),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} evaluation #{self.pk} of {self.version}"

    def get_absolute_url(self) -> str:
        return reverse("monitoring:evaluation-detail", kwargs={"pk": self.pk})


class LabelBatch(models.Model):
    """Outcomes of an evaluation's predictions that arrived after it, joined by prediction id (``labels``).

    Stored like uploads: the raw file and a Parquet copy (id and normalised target) named by SHA-256.
    Batches add up; an id is labelled by one batch only.
    """

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="label_batches")
    filename = models.CharField(max_length=255, validators=[validate_single_line])
    file_format = models.CharField(max_length=10, validators=[validate_single_line])
    sha256 = models.CharField(max_length=64, validators=[validate_single_line])
    size_bytes = models.PositiveBigIntegerField()
    raw_path = models.CharField(max_length=300, validators=[validate_single_line])
    parquet_path = models.CharField(max_length=300, validators=[validate_single_line])
    row_count = models.PositiveIntegerField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.row_count} labels for evaluation #{self.evaluation_id}"


class ReferenceData(models.Model):
    """A version's reference features (its training data), compared with each evaluation for drift."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="references")
    filename = models.CharField(max_length=255, validators=[validate_single_line])
    sha256 = models.CharField(max_length=64, validators=[validate_single_line])
    raw_path = models.CharField(max_length=300, validators=[validate_single_line])
    parquet_path = models.CharField(max_length=300, validators=[validate_single_line])
    row_count = models.PositiveIntegerField()
    columns = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"Reference data of {self.version} ({self.row_count} rows)"


class MetricWindow(models.Model):
    """Metrics of one production window (day, week or month) of one version: the monitoring time series."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="metric_windows")
    cadence = models.CharField(max_length=10, validators=[validate_single_line])
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    row_count = models.PositiveIntegerField()
    metrics = models.JSONField()
    health = models.CharField(max_length=10, default="healthy", validators=[validate_single_line])
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["version", "window_start"]
        constraints = [
            models.UniqueConstraint(fields=["version", "cadence", "window_start"], name="one_result_per_window"),
        ]

    def __str__(self) -> str:
        return f"{self.version} {self.cadence} window from {self.window_start:%Y-%m-%d}"


class Alert(models.Model):
    class Severity(models.TextChoices):
        WARNING = "warning", "Warning"
        BREACH = "breach", "Breach"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="alerts")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="alerts")
    metric = models.CharField(
        max_length=120, help_text="e.g. overall.roc_auc, fairness.sex.demographic_parity_ratio",
        validators=[validate_single_line])
    value = models.FloatField(null=True)
    threshold = models.CharField(
        max_length=120, help_text="The rule that was broken, e.g. '< 0.80' or 'drop > 0.05'",
        validators=[validate_single_line])
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.OPEN, db_index=True)
    message = models.TextField()
    evaluation = models.ForeignKey(Evaluation, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    window = models.ForeignKey(MetricWindow, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    created_at = models.DateTimeField(auto_now_add=True)
    breach_at = models.DateTimeField(null=True, blank=True, db_index=True,
                                     help_text="When it became a breach (raised as one, or escalated from a warning).")
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open alert per model, version and metric: a re-run refreshes it instead of duplicating.
            models.UniqueConstraint(fields=["version", "metric"], condition=~models.Q(status="resolved"),
                                    name="one_unresolved_alert_per_metric"),
        ]

    def __str__(self) -> str:
        return f"{self.get_severity_display()}: {self.metric} of {self.version}"

    def get_absolute_url(self) -> str:
        return reverse("monitoring:alert-detail", kwargs={"pk": self.pk})


class UploadSession(models.Model):
    """A large file arriving in parts (create / parts / complete), assembled and checked by a worker.

    Parts are stored at ``monitoring/uploads/<id>/<number>`` until the worker assembles them; whatever the
    outcome (an evaluation, reference data, a label file or a refusal) the parts are deleted. ``parts`` maps each
    received part number to its size and SHA-256, so a client that lost its connection asks which parts to send
    again.
    """

    class Purpose(models.TextChoices):
        EVALUATION = "evaluation", "Evaluation"
        REFERENCE = "reference", "Reference data"
        LABELS = "labels", "Late labels"

    class State(models.TextChoices):
        OPEN = "open", "Receiving parts"
        PROCESSING = "processing", "Assembling and checking"
        COMPLETE = "complete", "Complete"
        REJECTED = "rejected", "Rejected"
        ABORTED = "aborted", "Aborted"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="upload_sessions")
    purpose = models.CharField(max_length=12, choices=Purpose.choices, default=Purpose.EVALUATION)
    filename = models.CharField(max_length=255, validators=[validate_single_line])
    size_bytes = models.PositiveBigIntegerField(help_text="The whole file's size, declared when the upload starts.")
    sha256 = models.CharField(max_length=64, blank=True, validators=[validate_single_line],
                              help_text="The whole file's SHA-256, declared when the upload starts or when it is "
                                        "completed, and verified.")
    part_size = models.PositiveIntegerField(help_text="Every part but the last has exactly this many bytes.")
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN, db_index=True)
    options = models.JSONField(default=dict, blank=True,
                               help_text="kind, columns, sensitive_features, positive_label of the evaluation; for "
                                         "late labels, the evaluation they are for.")
    parts = models.JSONField(default=dict, blank=True, help_text='{"<number>": {"size": n, "sha256": "…"}}')
    problems = models.JSONField(default=list, blank=True, help_text="Why the file was rejected, as a 400 lists them.")
    error = models.TextField(blank=True)
    evaluation = models.ForeignKey(Evaluation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reference = models.ForeignKey(ReferenceData, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    label_batch = models.ForeignKey(LabelBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                    help_text="Late labels: the label file stored from the upload, once complete.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="When a worker claimed the assembly.")
    heartbeat_at = models.DateTimeField(null=True, blank=True,
                                        help_text="Last renewal of the claim by the worker assembling or following "
                                                  "the upload; silent, the worker died and the sweep frees it.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Claims of the assembly so far.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"upload {self.filename} ({self.get_purpose_display().lower()} of {self.version})"

    @property
    def part_count(self) -> int:
        return max(1, -(-self.size_bytes // self.part_size))

    def part_name(self, number: int) -> str:
        return f"monitoring/uploads/{self.pk}/{number}"
