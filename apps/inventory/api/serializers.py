"""Serializers of the inventory API.

They validate input and shape output; they never save. Views pass ``validated_data``
to the services in ``apps.inventory.services``, which write and audit. Users are
referenced by username, organisation objects and data sets by slug, versions by id.
Fields the services compute (slugs, stages, mismatch flags, authorship, timestamps)
are read-only, so a client cannot set them.

Uniqueness validators are switched off on purpose: the services report a duplicate
as a 409 conflict with a message, the same answer the pages give.
"""

from django.contrib.auth import get_user_model
from rest_framework import serializers

from apps.inventory import governance
from apps.inventory.models import (
    BusinessProcess,
    BusinessUnit,
    DataSet,
    Deployment,
    MLModel,
    ModelVersion,
    PipelineStep,
    Stage,
    StageTransition,
    Team,
)

User = get_user_model()
TIMESTAMPS = ("created_at", "updated_at")


def _username_field(**kwargs) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all(), **kwargs)


def _username() -> serializers.SlugRelatedField:
    """A read-only author field; null when the system acted or the account was deleted."""
    return serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True,
                                        help_text="Username; null for the system or a deleted account.")


def _slug_field(model, **kwargs) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="slug", queryset=model.objects.all(), **kwargs)


class FingerprintField(serializers.DictField):
    """An environment fingerprint: ``{"python": "3.11.7", "os": "Linux", "packages": {"scikit-learn": "1.6.1"}}``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", 'Environment fingerprint, e.g. {"python": "3.11.7", "os": "Linux", '
                                       '"packages": {"scikit-learn": "1.6.1"}}.')
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        packages = value.get("packages", {})
        if not isinstance(packages, dict):
            raise serializers.ValidationError('"packages" must map package names to versions.')
        return value


class TagNamesField(serializers.ListField):
    """Tag names in, tag names out (the service normalises them to slugs)."""

    child = serializers.CharField(max_length=50)

    def to_representation(self, data):
        return [tag.name for tag in data.all()]


class IdentityFixedOnUpdate:
    """Refuses, naming the field, an update that changes what identifies the object.

    The services refuse such changes too; checking here gives the client the field's name.
    """

    identity_fields: tuple[str, ...] = ()
    identity_message = ""

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.instance is None:
            return attrs
        for name in self.identity_fields:
            if name in attrs and attrs.pop(name) != getattr(self.instance, name):
                raise serializers.ValidationError({name: self.identity_message})
        return attrs


class ErrorSerializer(serializers.Serializer):
    """The body of a refused request (a rule of the portal, or a conflict with the current state)."""

    detail = serializers.CharField()
    field = serializers.CharField(required=False, help_text="The field the message is about, when there is one.")


# --- Organisation -------------------------------------------------------------------------

class BusinessUnitSerializer(serializers.ModelSerializer):
    class Meta:
        model = BusinessUnit
        fields = ["slug", "name", "description", *TIMESTAMPS]
        read_only_fields = ["slug", *TIMESTAMPS]
        extra_kwargs = {"name": {"validators": []}}


class TeamSerializer(serializers.ModelSerializer):
    business_unit = _slug_field(BusinessUnit, help_text="Slug of the business unit.")
    members = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="username",
        help_text="Usernames of the members, who change the team's models (with each model's owners and the "
                  "admins). Whoever creates a team is its first member; admins change the members.")

    class Meta:
        model = Team
        fields = ["slug", "name", "business_unit", "description", "members", *TIMESTAMPS]
        read_only_fields = ["slug", "members", *TIMESTAMPS]
        validators = []


class BusinessProcessSerializer(serializers.ModelSerializer):
    business_unit = _slug_field(BusinessUnit, help_text="Slug of the business unit.")
    accountable_executive = _username_field(required=False, allow_null=True,
                                            help_text="Username of the accountable executive.")

    class Meta:
        model = BusinessProcess
        fields = ["slug", "name", "business_unit", "description", "decision", "decisions_per_day",
                  "value_at_stake", "accountable_executive", *TIMESTAMPS]
        read_only_fields = ["slug", *TIMESTAMPS]


# --- Data and pipelines ---------------------------------------------------------------------

class DataSetSerializer(IdentityFixedOnUpdate, serializers.ModelSerializer):
    identity_fields = ("name", "version")
    identity_message = "The name and version identify this snapshot; register a new data set version instead."

    owner = _username_field(required=False, allow_null=True, help_text="Username of the data owner.")

    class Meta:
        model = DataSet
        fields = ["slug", "name", "version", "kind", "description", "source_system", "owner", "content_sha256",
                  "contains_personal_data", "legal_basis", "consent_notes", "collection_start", "collection_end",
                  "schema", *TIMESTAMPS]
        read_only_fields = ["slug", *TIMESTAMPS]
        validators = []


class PipelineStepSerializer(serializers.ModelSerializer):
    inputs = _slug_field(DataSet, many=True, help_text="Slugs of the data sets the step reads.")
    output = _slug_field(DataSet, help_text="Slug of the data set the step writes.")

    class Meta:
        model = PipelineStep
        fields = ["slug", "name", "description", "code_uri", "inputs", "output", *TIMESTAMPS]
        read_only_fields = ["slug", *TIMESTAMPS]


# --- Versions and deployments ----------------------------------------------------------------

class TransitionHistorySerializer(serializers.ModelSerializer):
    # Plain strings: the stage enum is named once, on ``stage`` fields.
    from_stage = serializers.CharField(read_only=True, help_text="The stage before; empty when registered.")
    to_stage = serializers.CharField(read_only=True, help_text="The stage after.")
    actor = _username()

    class Meta:
        model = StageTransition
        fields = ["from_stage", "to_stage", "actor", "reason", "at"]
        read_only_fields = fields


class GovernanceReasonSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=sorted(governance.REASON_CODES), read_only=True,
                                   help_text="Stable code; see the list of codes in the API description.")
    level = serializers.ChoiceField(choices=governance.STATUSES, read_only=True)
    message = serializers.CharField(read_only=True, help_text="A sentence a business reader understands.")
    fix = serializers.CharField(read_only=True, help_text="Which page fixes it.")
    url = serializers.CharField(read_only=True, help_text="The page where it is fixed.")
    blocks_gate = serializers.BooleanField(read_only=True, help_text="The production gate refuses on it.")
    version = serializers.CharField(read_only=True, help_text="On a model's reasons: the version concerned.")


class GovernanceSerializer(serializers.Serializer):
    """The stored governance state: the one the pages show and the production gate reads (null until computed)."""

    status = serializers.ChoiceField(choices=governance.STATUSES, read_only=True)
    health = serializers.ChoiceField(choices=governance.HEALTHS, read_only=True)
    approval = serializers.ChoiceField(choices=governance.APPROVALS, read_only=True)
    tier = serializers.CharField(read_only=True, help_text="Current risk tier; empty when never assessed.")
    reasons = GovernanceReasonSerializer(many=True, read_only=True)
    computed_at = serializers.DateTimeField(read_only=True)
    recheck_at = serializers.DateTimeField(read_only=True, allow_null=True)


class RedFlagSerializer(serializers.Serializer):
    kind = serializers.CharField(read_only=True, help_text="Stable code of the kind of flag, e.g. owner_left.")
    label = serializers.CharField(read_only=True, help_text="The kind as the dashboard names it.")
    severity = serializers.ChoiceField(choices=["high", "medium", "low"], read_only=True)
    detail = serializers.CharField(read_only=True, help_text="What exactly is wrong.")
    url = serializers.CharField(read_only=True, help_text="Where to act on it.")


class ModelGovernanceSerializer(GovernanceSerializer):
    flags = RedFlagSerializer(many=True, read_only=True,
                              help_text="The model's red flags as the dashboard shows them, most severe first.")
    expected_exposure = serializers.IntegerField(
        read_only=True, help_text="Expected yearly exposure in whole units of the portal's currency (PORTAL_CURRENCY): "
                                  "the value at stake of the processes it serves in production, times a factor for "
                                  "its risk tier and one for its governance state.")


class VersionGovernanceSerializer(GovernanceSerializer):
    gate_open = serializers.BooleanField(read_only=True, help_text="Nothing blocks the version from production.")


class ModelVersionSerializer(serializers.ModelSerializer):
    model = _slug_field(MLModel, help_text="Slug of the model this version belongs to.")
    training_datasets = _slug_field(DataSet, many=True, required=False,
                                    help_text="Slugs of the data sets the version was trained on.")
    validated_environment = FingerprintField()
    hyperparameters = serializers.DictField(required=False)
    validation_metrics = serializers.DictField(required=False, help_text='e.g. {"roc_auc": 0.91}')
    created_by = _username()
    transitions = TransitionHistorySerializer(many=True, read_only=True)
    # Null before its first computation (DRF reads a missing one-to-one row as null).
    governance = VersionGovernanceSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ModelVersion
        fields = ["id", "model", "version", "description", "training_datasets", "algorithm", "framework",
                  "hyperparameters", "artifact_uri", "artifact_sha256", "stage", "validation_metrics",
                  "validated_environment", "created_by", "transitions", "governance", *TIMESTAMPS]
        read_only_fields = ["id", "stage", "created_by", *TIMESTAMPS]
        validators = []


class ModelVersionUpdateSerializer(IdentityFixedOnUpdate, ModelVersionSerializer):
    """The model and version label stay fixed; ``reason`` is kept in the audit trail."""

    identity_fields = ("model", "version")
    identity_message = "A version's model and label stay fixed; register a new version instead."

    reason = serializers.CharField(write_only=True, required=False, allow_blank=True,
                                   help_text="Why the version is changed (kept in the audit trail).")

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "reason"]


class TransitionSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=Stage.choices, help_text="The lifecycle stage to move the version to.")
    reason = serializers.CharField(required=False, allow_blank=True, default="",
                                   help_text="Why (kept in the version's history and the audit trail).")


class DifferenceSerializer(serializers.Serializer):
    """One way the runtime differs from the validated environment (see ``apps.inventory.environment``)."""

    component = serializers.CharField(help_text="Python, OS or a package name.")
    validated = serializers.CharField()
    runtime = serializers.CharField()


class DeploymentSerializer(serializers.ModelSerializer):
    version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all(),
                                                 help_text="Id of the deployed model version.")
    model = serializers.SlugRelatedField(source="version.model", slug_field="slug", read_only=True)
    business_process = _slug_field(BusinessProcess, required=False, allow_null=True,
                                   help_text="Slug of the business process the deployment serves.")
    runtime_environment = FingerprintField()
    deployed_at = serializers.DateTimeField(required=False, help_text="Defaults to now.")
    mismatch_details = DifferenceSerializer(many=True, read_only=True)
    created_by = _username()
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = Deployment
        fields = ["id", "version", "model", "environment", "kind", "target", "business_process",
                  "runtime_environment", "deployed_at", "retired_at", "is_active", "environment_mismatch",
                  "mismatch_details", "created_by", *TIMESTAMPS]
        read_only_fields = ["id", "retired_at", "environment_mismatch", "mismatch_details", "created_by",
                            *TIMESTAMPS]


class DeploymentRuntimeSerializer(serializers.Serializer):
    runtime_environment = FingerprintField(required=True)


class RetireSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="",
                                   help_text="Why the deployment stops (kept in the audit trail).")


# --- Models ---------------------------------------------------------------------------------

class VersionSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["id", "version", "stage", "framework", "created_at"]
        read_only_fields = fields


class DeploymentSummarySerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="version.version", read_only=True)

    class Meta:
        model = Deployment
        fields = ["id", "version", "environment", "target", "deployed_at", "environment_mismatch"]
        read_only_fields = fields


def _listed_versions(model) -> list:
    """The model's versions, newest first: the list the view prefetched, or a query for a model read elsewhere."""
    listed = getattr(model, "listed_versions", None)
    return listed if listed is not None else list(model.versions.order_by("-created_at", "-pk"))


def _live_deployments(version) -> list:
    live = getattr(version, "live_deployments", None)
    return live if live is not None else [d for d in version.deployments.all() if d.is_active]


class ListedVersionsSerializer(serializers.ListSerializer):
    def get_attribute(self, model):
        return _listed_versions(model)


class ActiveDeploymentsSerializer(serializers.ListSerializer):
    """A model's active deployments, newest first, serialized by one child serializer for the whole page.

    A serializer built per model (as a method field would) cost more than all the model's other fields
    together: about 40% of a list page (measured with bench/mlflow_compare.py).
    """

    def get_attribute(self, model):
        active = [d for version in _listed_versions(model) for d in _live_deployments(version) if d.is_active]
        active.sort(key=lambda d: d.deployed_at, reverse=True)
        return active


class MLModelSerializer(serializers.ModelSerializer):
    accountable_owner = _username_field(
        required=False, help_text="Username of the person accountable for the model (on registration, the use "
                                  "case's business owner when left out).")
    technical_owners = _username_field(many=True, required=False, help_text="Usernames of the technical owners.")
    # With its unit: the answer to a registration names it (representations.registered_model).
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.select_related("business_unit"),
                                        help_text="Slug of the owning team.")
    business_unit = serializers.SlugRelatedField(source="team.business_unit", slug_field="slug", read_only=True)
    business_processes = _slug_field(BusinessProcess, many=True, required=False,
                                     help_text="Slugs of the business processes the model serves.")
    tags = TagNamesField(required=False)
    created_by = _username()
    versions = ListedVersionsSerializer(child=VersionSummarySerializer(), read_only=True, source="*")
    active_deployments = ActiveDeploymentsSerializer(child=DeploymentSummarySerializer(), read_only=True, source="*")
    governance = ModelGovernanceSerializer(read_only=True, allow_null=True)
    use_case = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=20,
        help_text="On registration: the approved, not yet used use case the model comes from (its number, e.g. 12 "
                  "or UC-12). Required unless PORTAL_REQUIRE_INTAKE is off. It fills purpose, intended_use, "
                  "accountable_owner, business_processes, exposure and automation_level when they are left out, "
                  "and its classification becomes the model's.")

    class Meta:
        model = MLModel
        extra_kwargs = {"purpose": {"required": False}}
        fields = ["use_case", "slug", "name", "purpose", "intended_use", "out_of_scope_uses", "accountable_owner",
                  "technical_owners", "team", "business_unit", "business_processes", "exposure", "automation_level",
                  "task_type", "tags", "stage", "created_by", "versions", "active_deployments", "governance",
                  *TIMESTAMPS]
        read_only_fields = ["slug", "stage", "created_by", *TIMESTAMPS]


class MLModelUpdateSerializer(MLModelSerializer):
    use_case = None
    reason = serializers.CharField(write_only=True, required=False, allow_blank=True,
                                   help_text="Why the model is changed (kept in the audit trail).")

    class Meta(MLModelSerializer.Meta):
        fields = [*(f for f in MLModelSerializer.Meta.fields if f != "use_case"), "reason"]
