"""MLflow tracking servers the portal syncs with, each sync run's log, and what the sync would not overwrite.

A server's registered models are matched to portal models by a stable key, ``(server, registered model name)``
(``RegisteredModelLink``); its versions by ``(registry, name, version)`` (``inventory.ExternalRegistryLink``, which
the governance facts read for shadow promotions).
"""

from django.conf import settings
from django.db import models
from django.urls import reverse

from apps.core.validators import validate_single_line
from apps.inventory.models import MLModel, ModelVersion, Team


class MlflowServer(models.Model):
    """An MLflow tracking server. Its credential is write-only: read from an environment variable named here, or
    entered once and never shown back."""

    class Auth(models.TextChoices):
        NONE = "none", "None"
        BEARER = "bearer", "Bearer token"
        BASIC = "basic", "Basic (user:password)"

    name = models.CharField(max_length=100, unique=True, validators=[validate_single_line])
    key = models.SlugField(max_length=60, unique=True, help_text="Part of the stable key of every synced version.")
    url = models.CharField(max_length=300, validators=[validate_single_line], help_text="http(s)://host:port")
    auth = models.CharField(max_length=10, choices=Auth.choices, default=Auth.NONE)
    credential_env = models.CharField(max_length=100, blank=True, validators=[validate_single_line],
                                      help_text="Name of the environment variable holding the credential.")
    credential = models.CharField(max_length=1000, blank=True, editable=False, validators=[validate_single_line],
                                  help_text="Sealed at rest (apps.core.sealing); opened only to call the server.")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+",
                             help_text="Team of the models the sync registers.")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                              help_text="Accountable owner of the models the sync registers.")
    enabled = models.BooleanField(default=True, help_text="Synced by the schedule.")
    page_size = models.PositiveSmallIntegerField(default=100)
    cursor = models.TextField(blank=True, help_text="Where an unfinished pass resumes (MLflow's page token).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("integrations:server", kwargs={"pk": self.pk})

    @property
    def registry(self) -> str:
        return f"mlflow:{self.key}"

    @property
    def credential_source(self) -> str:
        if self.auth == self.Auth.NONE:
            return "none"
        if self.credential_env:
            return f"environment variable {self.credential_env}"
        return "stored (never shown)" if self.credential else "missing"


class RegisteredModelLink(models.Model):
    """The stable key of a portal model synced from MLflow: the server and the registered model's name."""

    server = models.ForeignKey(MlflowServer, on_delete=models.CASCADE, related_name="model_links")
    name = models.CharField(max_length=255, validators=[validate_single_line])
    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["server", "name"], name="registered_model_link_unique")]

    def __str__(self) -> str:
        return f"{self.server}: {self.name}"


class SyncRun(models.Model):
    """One sync of a server: what it found, changed and could not do. Claimed by one worker (queued -> running)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        PARTIAL = "partial", "Stopped at its page budget; the next run resumes"
        FAILED = "failed", "Failed; the next run resumes"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "On demand"

    server = models.ForeignKey(MlflowServer, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    resumed_from = models.TextField(blank=True, help_text="The page token this run started from.")
    pages = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Sync {self.pk} of {self.server}"

    def get_absolute_url(self) -> str:
        return reverse("integrations:run", kwargs={"pk": self.pk})


class SyncConflict(models.Model):
    """A field of a synced version changed both in the portal and in MLflow: the portal's value is kept and the
    difference shown until the two agree again (``resolved_at``)."""

    server = models.ForeignKey(MlflowServer, on_delete=models.CASCADE, related_name="conflicts")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    field = models.CharField(max_length=40, validators=[validate_single_line])
    portal_value = models.JSONField(null=True, blank=True)
    mlflow_value = models.JSONField(null=True, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["server", "version", "field"],
                                               condition=models.Q(resolved_at__isnull=True),
                                               name="sync_conflict_open_unique")]

    def __str__(self) -> str:
        return f"{self.version} {self.field}"
