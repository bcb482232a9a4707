"""The model inventory: who runs which model, trained on what, deployed where, for which business process.

Lineage runs raw ``DataSet`` -> ``PipelineStep`` -> derived ``DataSet`` -> ``ModelVersion``
(its training data) -> ``Deployment`` -> ``BusinessProcess``. Every write goes
through ``apps.inventory.services``, which records it in the audit trail.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from apps.core.models import TimeStampedModel
from apps.core.validators import validate_single_line
from apps.inventory import governance


class BusinessUnit(TimeStampedModel):
    name = models.CharField(max_length=120, unique=True, validators=[validate_single_line])
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Team(TimeStampedModel):
    """A team owns models: its members (with each model's owners) change them; everyone else reads."""

    name = models.CharField(max_length=120, validators=[validate_single_line])
    slug = models.SlugField(max_length=120, unique=True)
    business_unit = models.ForeignKey(BusinessUnit, on_delete=models.PROTECT, related_name="teams")
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="teams")

    class Meta:
        ordering = ["business_unit__name", "name"]
        constraints = [models.UniqueConstraint(fields=["business_unit", "name"], name="team_unique_per_unit")]

    def __str__(self) -> str:
        return self.name


class BusinessProcess(TimeStampedModel):
    """A business decision that models automate or support, and what it is worth."""

    name = models.CharField(max_length=160, validators=[validate_single_line])
    slug = models.SlugField(max_length=160, unique=True)
    business_unit = models.ForeignKey(BusinessUnit, on_delete=models.PROTECT, related_name="processes")
    description = models.TextField(blank=True)
    decision = models.CharField(
        max_length=300, help_text="The decision the process makes, e.g. 'approve a loan'.",
        validators=[validate_single_line])
    decisions_per_day = models.PositiveIntegerField(null=True, blank=True)
    value_at_stake = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True,
        help_text="Yearly value that depends on the process, in EUR.",
    )
    accountable_executive = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "business processes"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("inventory:process-detail", kwargs={"slug": self.slug})


class LegalBasis(models.TextChoices):
    CONSENT = "consent", "Consent"
    CONTRACT = "contract", "Contract"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation"
    VITAL_INTERESTS = "vital_interests", "Vital interests"
    PUBLIC_TASK = "public_task", "Public task"
    LEGITIMATE_INTERESTS = "legitimate_interests", "Legitimate interests"
    NOT_APPLICABLE = "not_applicable", "Not applicable (no personal data)"


class DataSet(TimeStampedModel):
    """A versioned data set: raw (from a source system) or derived by a pipeline step."""

    class Kind(models.TextChoices):
        RAW = "raw", "Raw"
        DERIVED = "derived", "Derived / features"

    name = models.CharField(max_length=160, validators=[validate_single_line])
    slug = models.SlugField(max_length=180, unique=True)
    version = models.CharField(
        max_length=60, help_text="Version label or content hash of this snapshot.", validators=[validate_single_line])
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.RAW)
    description = models.TextField(blank=True)
    source_system = models.CharField(max_length=160, blank=True, validators=[validate_single_line])
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_datasets"
    )
    content_sha256 = models.CharField(max_length=64, blank=True, validators=[validate_single_line])
    contains_personal_data = models.BooleanField(default=False)
    legal_basis = models.CharField(max_length=30, choices=LegalBasis.choices, default=LegalBasis.NOT_APPLICABLE)
    consent_notes = models.TextField(blank=True)
    collection_start = models.DateField(null=True, blank=True)
    collection_end = models.DateField(null=True, blank=True)
    schema = models.JSONField(default=list, blank=True, help_text='Columns: [{"name": ..., "type": ...}]')

    class Meta:
        ordering = ["name", "version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="dataset_unique_version")]

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("inventory:dataset-detail", kwargs={"slug": self.slug})


class PipelineStep(TimeStampedModel):
    """A transformation (feature pipeline, join, cleaning job) from input data sets to one output."""

    name = models.CharField(max_length=160, validators=[validate_single_line])
    slug = models.SlugField(max_length=180, unique=True)
    description = models.TextField(blank=True)
    code_uri = models.CharField(
        max_length=500, blank=True, help_text="Repository path or job definition.", validators=[validate_single_line])
    inputs = models.ManyToManyField(DataSet, related_name="consumed_by_steps")
    output = models.ForeignKey(DataSet, on_delete=models.PROTECT, related_name="produced_by_steps")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.SlugField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Exposure(models.TextChoices):
    INTERNAL = "internal", "Internal"
    CUSTOMER_FACING = "customer_facing", "Customer-facing"
    PUBLIC = "public", "Public"


class AutomationLevel(models.TextChoices):
    HUMAN_DECIDES = "human_decides", "Human decides (model advises)"
    HUMAN_REVIEWS = "human_reviews", "Human reviews the model's decision"
    FULLY_AUTOMATED = "fully_automated", "Fully automated"


class TaskType(models.TextChoices):
    BINARY = "binary", "Binary classification"
    MULTICLASS = "multiclass", "Multiclass classification"
    REGRESSION = "regression", "Regression"


class Stage(models.TextChoices):
    DEVELOPMENT = "development", "Development"
    VALIDATION = "validation", "Validation"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"
    RETIRED = "retired", "Retired"


# The order stages are shown in; a model's stage is its most advanced live version's.
STAGE_ORDER = [Stage.DEVELOPMENT, Stage.VALIDATION, Stage.STAGING, Stage.PRODUCTION, Stage.RETIRED]
# What the model list's ``stage`` filter takes for every stage but retired ("live"), as the dashboard counts.
LIVE = "live"


# Bounds of a model's configured fairness reference groups: attributes are upload column names, groups
# are values of those columns, as the metrics label them (strings).
REFERENCE_GROUPS_MAX = 20
REFERENCE_ATTRIBUTE_MAX_LENGTH = 100
REFERENCE_GROUP_MAX_LENGTH = 200


def validate_fairness_reference_groups(value) -> None:
    """A JSON object of sensitive attribute to group: at most 20, each a non-empty single-line string."""
    if not isinstance(value, dict):
        raise ValidationError('Enter a JSON object of attribute to group, e.g. {"sex": "male"}.', code="not_an_object")
    if len(value) > REFERENCE_GROUPS_MAX:
        raise ValidationError(f"Configure at most {REFERENCE_GROUPS_MAX} reference groups, not {len(value)}.",
                              code="too_many")
    for attribute, group in value.items():
        if not isinstance(group, str):
            raise ValidationError(f'The reference group of "{attribute}" must be a string, e.g. "1" rather than 1.',
                                  code="not_a_string")
        for text, what, limit in ((attribute, "attribute", REFERENCE_ATTRIBUTE_MAX_LENGTH),
                                  (group, f'reference group of "{attribute}"', REFERENCE_GROUP_MAX_LENGTH)):
            if not text.strip():
                raise ValidationError(f"The {what} must not be empty.", code="empty")
            if len(text) > limit:
                raise ValidationError(f"The {what} has {len(text)} characters; at most {limit} are allowed.",
                                      code="too_long")
            try:
                validate_single_line(text)
            except ValidationError as exc:
                raise ValidationError(f"The {what}: {exc.messages[0]}", code="control_characters") from exc


class MLModel(TimeStampedModel):
    """A model the organisation runs or builds, with the people accountable for it."""

    name = models.CharField(max_length=160, validators=[validate_single_line])
    slug = models.SlugField(max_length=160, unique=True)
    purpose = models.TextField(help_text="What the model is for, in business terms.")
    intended_use = models.TextField(blank=True)
    out_of_scope_uses = models.TextField(blank=True)
    accountable_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="accountable_models",
        help_text="The named person accountable for the model's automated decisions.",
    )
    technical_owners = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="technical_models")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="models")
    business_processes = models.ManyToManyField(BusinessProcess, blank=True, related_name="models")
    exposure = models.CharField(max_length=20, choices=Exposure.choices, default=Exposure.INTERNAL)
    automation_level = models.CharField(
        max_length=20, choices=AutomationLevel.choices, default=AutomationLevel.HUMAN_DECIDES
    )
    task_type = models.CharField(max_length=20, choices=TaskType.choices, default=TaskType.BINARY)
    fairness_reference_groups = models.JSONField(
        default=dict, blank=True, validators=[validate_fairness_reference_groups],
        help_text="Sensitive attribute to the group the four-fifths rule compares the others with; attributes "
                  "not named here compare with the group that has the highest selection rate.",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="models")
    # Denormalised by services so the inventory list filters and sorts without joins.
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.DEVELOPMENT, db_index=True)
    # The stored governance state's rank (ModelGovernance.rank), kept here by the governance service so the
    # list sorted worst first reads an index (a sort across the join to the state sorted every model).
    # The stored governance state's status, health, approval and rank (ModelGovernance), kept here by the
    # governance service so the list's filters and its sort worst first read an index of this table: across
    # the join to the state rows, a count or a page of 100,000 models took 20-100 ms. Empty until computed;
    # a model whose state is not stored yet sorts with those needing attention (the state's own default).
    governance_status = models.CharField(max_length=15, blank=True, default="", editable=False)
    governance_health = models.CharField(max_length=15, blank=True, default="", editable=False)
    governance_approval = models.CharField(max_length=15, blank=True, default="", editable=False)
    governance_rank = models.PositiveSmallIntegerField(default=1, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "model"
        # Covers the dashboard's count of models per unit, stage, exposure and automation level.
        indexes = [
            models.Index(fields=["team", "stage", "exposure", "automation_level"], name="model_team_stage_use_idx"),
            # Lists are ordered by name: a page is read from the index instead of sorting every model.
            models.Index(fields=["name", "id"], name="model_name_idx"),
            models.Index(fields=["governance_rank", "name", "id"], name="model_governance_rank_idx"),
            *(models.Index(fields=[f"governance_{name}", "name", "id"], name=f"model_governance_{name}_idx")
              for name in ("status", "health", "approval")),
            models.Index(fields=["-governance_rank", "name", "id"], name="model_governance_worst_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("inventory:model-detail", kwargs={"slug": self.slug})


class ModelVersion(TimeStampedModel):
    """One trained artefact of a model, the data it learnt from and the environment it was validated in."""

    # What a responsible-AI approval attests (with the training data sets' contents): a change to any of
    # them voids the approval. The description and the stage are not attested.
    REVIEWED_FIELDS = ("algorithm", "framework", "hyperparameters", "artifact_uri", "artifact_sha256",
                       "validation_metrics", "validated_environment", "training_datasets")

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(
        max_length=40, help_text="Version label, e.g. 1.4.0 or 2026-11-01.", validators=[validate_single_line])
    description = models.TextField(blank=True)
    training_datasets = models.ManyToManyField(DataSet, blank=True, related_name="trained_versions")
    algorithm = models.CharField(
        max_length=120, blank=True, help_text="e.g. gradient boosted trees", validators=[validate_single_line])
    framework = models.CharField(
        max_length=60, blank=True, help_text="e.g. scikit-learn 1.6.1", validators=[validate_single_line])
    hyperparameters = models.JSONField(default=dict, blank=True)
    artifact_uri = models.CharField(max_length=500, blank=True, validators=[validate_single_line])
    artifact_sha256 = models.CharField(max_length=64, blank=True, validators=[validate_single_line])
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.DEVELOPMENT, db_index=True)
    validation_metrics = models.JSONField(default=dict, blank=True, help_text='e.g. {"roc_auc": 0.91}')
    validated_environment = models.JSONField(
        default=dict, blank=True,
        help_text='Environment fingerprint: {"python": "3.11.7", "os": "Linux", "packages": {"scikit-learn": "1.6.1"}}',
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["model", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["model", "version"], name="version_unique_per_model")]

    def __str__(self) -> str:
        return f"{self.model.name} {self.version}"

    def get_absolute_url(self) -> str:
        return reverse("inventory:version-detail", kwargs={"slug": self.model.slug, "version": self.version})


class StageTransition(models.Model):
    """History of a version's lifecycle stage; never edited."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="transitions")
    from_stage = models.CharField(max_length=20, choices=Stage.choices, blank=True)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.version}: {self.from_stage or '-'} -> {self.to_stage}"


class GateOverride(models.Model):
    """An admin let a version into production without what the gate demands; shown as a red flag."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="gate_overrides")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    problems = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        db_table = "reviews_gateoverride"  # created by the reviews app before the gate moved here

    def __str__(self) -> str:
        return f"Override for {self.version} by {self.actor}"


class Deployment(TimeStampedModel):
    """Where a version runs (batch job or endpoint), since when, and in which software environment."""

    class Environment(models.TextChoices):
        DEVELOPMENT = "development", "Development"
        STAGING = "staging", "Staging"
        PRODUCTION = "production", "Production"

    class Kind(models.TextChoices):
        ENDPOINT = "endpoint", "Online endpoint"
        BATCH = "batch", "Batch job"

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="deployments")
    environment = models.CharField(max_length=20, choices=Environment.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ENDPOINT)
    target = models.CharField(
        max_length=300, help_text="Endpoint URL, job name or cluster/namespace.", validators=[validate_single_line])
    business_process = models.ForeignKey(
        BusinessProcess, null=True, blank=True, on_delete=models.SET_NULL, related_name="deployments"
    )
    runtime_environment = models.JSONField(default=dict, blank=True, help_text="Fingerprint of where it runs.")
    deployed_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)
    # Computed by services from the two fingerprints (apps.inventory.environment).
    environment_mismatch = models.BooleanField(default=False, db_index=True)
    mismatch_details = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-deployed_at"]
        indexes = [
            # The few live deployments that run outside their validated environment (a dashboard count, a list
            # filter), found without reading every deployment: at 100,000 models a scan cost 50-200 ms.
            models.Index(fields=["version"], condition=models.Q(environment_mismatch=True, retired_at__isnull=True),
                         name="deployment_live_mismatch_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.version} @ {self.environment}:{self.target}"

    @property
    def is_active(self) -> bool:
        return self.retired_at is None


class GovernanceFields(models.Model):
    """The stored governance state (``apps.inventory.governance`` says what each value means).

    Written only by ``apps.governance.services`` in the transaction that changes a fact, or by its beat task when
    time alone changes it (``recheck_at``). Everything that shows or enforces a state reads these rows.
    """

    status = models.CharField(max_length=15, choices=[(s, governance.STATUS_LABELS[s]) for s in governance.STATUSES],
                              default=governance.ATTENTION, db_index=True)
    health = models.CharField(max_length=15, choices=[(h, governance.HEALTH_LABELS[h]) for h in governance.HEALTHS],
                              default=governance.NOT_MONITORED, db_index=True)
    approval = models.CharField(max_length=15, choices=[(a, governance.APPROVAL_LABELS[a])
                                                        for a in governance.APPROVALS],
                                default=governance.MISSING, db_index=True)
    tier = models.CharField(max_length=10, blank=True, db_index=True, validators=[validate_single_line],
                            help_text="The current risk tier; empty when never assessed.")
    reasons = models.JSONField(default=list, blank=True)
    # ",code,code," so every database filters on a code with LIKE (SQLite has no JSON containment lookup).
    reason_codes = models.CharField(max_length=500, blank=True, validators=[validate_single_line],
                                    help_text="The reasons' codes, for filters.")
    rank = models.PositiveSmallIntegerField(default=1, db_index=True, help_text="The status's severity, to sort by.")
    recheck_at = models.DateTimeField(null=True, blank=True, db_index=True,
                                      help_text="When time alone would change this state.")
    computed_at = models.DateTimeField()

    class Meta:
        abstract = True

    @property
    def codes(self) -> list[str]:
        return [code for code in self.reason_codes.split(",") if code]

    @property
    def status_label(self) -> str:
        return governance.STATUS_LABELS[self.status]

    @property
    def health_label(self) -> str:
        return governance.HEALTH_LABELS[self.health]

    @property
    def approval_label(self) -> str:
        return governance.APPROVAL_LABELS[self.approval]

    @property
    def blockers(self) -> list[dict]:
        return [r for r in self.reasons if r.get("blocks_gate")]


class CodePointCharField(models.CharField):
    """Text that sorts code point by code point on every database (as Python sorts ``str``): SQLite's default,
    and ``COLLATE "C"`` on PostgreSQL, whose default collation ignores spaces and punctuation at first. Declared
    on the column rather than in the query, so an index on it serves ``ORDER BY``."""

    def db_parameters(self, connection):
        parameters = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            parameters["collation"] = "C"
        return parameters


class ModelGovernance(GovernanceFields):
    """A model's stored governance state, plus what the portfolio reads of it at any size.

    ``flags`` are the model's red flags (the governance reasons an executive must see, and the inventory's
    own gaps: a deployment outside its validated environment, no business process, ...), ``flag_rank`` the most
    severe one's rank (0 high, 1 medium, 2 low; null without a flag), so the dashboard reads the worst models
    from an index. ``tally`` lists the keys this model adds to ``PortfolioTally`` of ``business_unit_id``, the
    unit it belonged to when stored: a change subtracts exactly what was added before.
    """

    model = models.OneToOneField(MLModel, primary_key=True, on_delete=models.CASCADE, related_name="governance")
    name_key = CodePointCharField(max_length=160, blank=True, default="", validators=[validate_single_line],
                                  help_text="The model's name in lower case, to sort flags by.")
    flag_rank = models.PositiveSmallIntegerField(null=True, blank=True)
    flags = models.JSONField(default=list, blank=True)
    business_unit_id = models.PositiveIntegerField(null=True, blank=True)
    tally = models.JSONField(null=True, blank=True, help_text="Null until the portfolio figures are stored.")
    expected_exposure = models.BigIntegerField(
        default=0, help_text="Expected yearly exposure in whole currency units (apps.governance.exposure): the value "
                             "at stake of the processes it serves in production, weighed by its tier and state.")

    class Meta:
        # The model list's filters join these rows by model: with the model in the index the join never reads
        # the wide row (its reasons), so a count or a page by state stays an index scan at 100,000 models
        # (SQLite 3x faster; PostgreSQL then finds a rare state's models from the index, not by walking names).
        indexes = [
            *(models.Index(fields=[name, "model"], name=f"modelgov_{name}_model_idx")
              for name in ("status", "health", "approval")),
            # The dashboard's worst red flags: the first 25 read in order, whatever the portfolio's size.
            models.Index(fields=["flag_rank", "name_key", "model"], name="modelgov_flags_idx",
                         condition=models.Q(flag_rank__isnull=False)),
            models.Index(fields=["business_unit_id", "flag_rank", "name_key", "model"],
                         name="modelgov_unit_flags_idx", condition=models.Q(flag_rank__isnull=False)),
            models.Index(fields=["model"], name="modelgov_untallied_idx", condition=models.Q(tally__isnull=True)),
            # The red flags ranked by money at risk, the first 25 read in order.
            models.Index(fields=["-expected_exposure", "flag_rank", "name_key", "model"],
                         name="modelgov_flag_money_idx", condition=models.Q(flag_rank__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.model}: {self.status}"


class VersionGovernance(GovernanceFields):
    version = models.OneToOneField(ModelVersion, primary_key=True, on_delete=models.CASCADE,
                                   related_name="governance")
    gate_open = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.version}: {self.status}"


class ModelReasonCode(models.Model):
    """One reason code of a model's stored governance state (``ModelGovernance.reason_codes``), one row each, so
    the model list filters by a reason from an index instead of matching text in every state row."""

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="reason_code_rows")
    code = models.CharField(max_length=40, validators=[validate_single_line])

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "code"], name="model_reason_code_unique")]
        indexes = [models.Index(fields=["code", "model"], name="model_reason_code_idx")]

    def __str__(self) -> str:
        return f"{self.model_id}: {self.code}"


class PortfolioTally(models.Model):
    """How many live models of a business unit have each portfolio figure: the dashboard's counts at any size.

    Keys are ``dimension:value`` (``status:suspended``, ``reason:monitoring_overdue``, ``flag:<kind>:high``,
    ``heat:3,4`` counting risks, ``stage:production``, ...). The governance service adds each model's keys
    (``ModelGovernance.tally``) and subtracts what it added before in the same transaction, so every count is
    the sum of the stored states; ``verify_governance`` checks exactly that.
    """

    business_unit = models.ForeignKey(BusinessUnit, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200, validators=[validate_single_line])
    n = models.BigIntegerField(default=0, help_text="A count, or an amount of money for the money keys.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["business_unit", "key"], name="portfolio_tally_unique")]

    def __str__(self) -> str:
        return f"{self.business_unit_id} {self.key}: {self.n}"


class ExternalRegistryLink(TimeStampedModel):
    """A version as an external model registry (an MLflow server) holds it, matched by a stable key.

    ``registry`` names the server (``mlflow:<key>``, set by ``apps.integrations``); ``name`` and ``external_version``
    are the registered model and its version there. ``production_marks`` are the aliases or the stage there that
    mean production (the sync reads which from the settings): the governance facts read them, and a version so
    marked without a valid approval is a shadow promotion. ``imported`` keeps what the sync last wrote into each of
    the version's fields, so a later change typed in the portal is told apart from one made in MLflow and is never
    overwritten silently.
    """

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="registry_links")
    registry = models.CharField(max_length=80, validators=[validate_single_line])
    registry_label = models.CharField(max_length=160, blank=True, validators=[validate_single_line])
    name = models.CharField(max_length=255, validators=[validate_single_line], help_text="Registered model name.")
    external_version = models.CharField(max_length=40, validators=[validate_single_line])
    url = models.CharField(max_length=600, blank=True, validators=[validate_single_line])
    aliases = models.JSONField(default=list, blank=True)
    stage = models.CharField(max_length=40, blank=True, validators=[validate_single_line])
    production_marks = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True, help_text="Run, tags, signature, environment files.")
    imported = models.JSONField(default=dict, blank=True)
    last_seen_at = models.DateTimeField()
    shadow_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["registry", "name", "external_version"]
        constraints = [models.UniqueConstraint(fields=["registry", "name", "external_version"],
                                               name="registry_link_unique")]

    def __str__(self) -> str:
        return f"{self.name} v{self.external_version} ({self.registry_label or self.registry})"
