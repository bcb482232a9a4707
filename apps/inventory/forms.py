"""Forms of the inventory pages. They only parse and validate input; the services write."""

import json

from django import forms
from django.contrib.auth import get_user_model

from apps.inventory import intake
from apps.inventory.environment import current_fingerprint
from apps.inventory.models import (
    STAGE_ORDER,
    BusinessProcess,
    DataSet,
    Deployment,
    MLModel,
    ModelVersion,
    Stage,
)

# A version labelled "new" would be hidden by the URL of the "new version" form.
RESERVED_VERSION_LABELS = {"new"}


def _active_users():
    return get_user_model().objects.filter(is_active=True).order_by("username")


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        name = obj.get_full_name()
        return f"{name} ({obj.username})" if name else obj.username


class UserMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        name = obj.get_full_name()
        return f"{name} ({obj.username})" if name else obj.username


class JSONTextField(forms.CharField):
    """JSON typed into a textarea; errors name the field and say what is wrong and where.

    ``kind`` is the Python type the document must have (dict or list); empty input is an empty one.
    """

    widget = forms.Textarea(attrs={"rows": 6, "class": "code", "spellcheck": "false"})

    def __init__(self, *, kind: type = dict, **kwargs):
        self.kind = kind
        kwargs.setdefault("required", False)
        super().__init__(strip=True, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, (dict, list)):
            return json.dumps(value, indent=2, sort_keys=True)
        return value

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return self.kind()
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"{self.label} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
                code="invalid_json",
            ) from exc
        if not isinstance(parsed, self.kind):
            wanted = "an object ({...})" if self.kind is dict else "a list ([...])"
            raise forms.ValidationError(f"{self.label} must be {wanted}.", code="wrong_json_type")
        return parsed


def _check_fingerprint(value: dict, label: str) -> dict:
    unknown = set(value) - {"python", "os", "packages"}
    if unknown:
        raise forms.ValidationError(
            f"{label} has unknown keys {', '.join(sorted(unknown))}; use python, os and packages."
        )
    for key in ("python", "os"):
        if key in value and not isinstance(value[key], str):
            raise forms.ValidationError(f'{label}: "{key}" must be a string such as "3.11.7".')
    packages = value.get("packages", {})
    if not isinstance(packages, dict) or not all(isinstance(v, str) for v in packages.values()):
        raise forms.ValidationError(f'{label}: "packages" must map package names to version strings.')
    return value


def _fingerprint_help(what: str, note: str) -> str:
    return (
        f'{what} as JSON: {{"python": "3.11.7", "os": "Linux", "packages": {{"scikit-learn": "1.6.1"}}}}. '
        f"Python minor versions and library major.minor versions are compared. {note}"
    )


def override_field() -> forms.CharField:
    return forms.CharField(
        required=False, max_length=1000, label="Override the production gate (admins)",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Only if the gate refuses and production cannot wait: say why. The override and its reason "
                  "are recorded in the audit trail.",
    )


class GateOverrideMixin:
    """Admins may push a version past the production gate by giving a reason; others never see the field."""

    def drop_override_unless(self, allowed: bool) -> None:
        if not allowed:
            del self.fields["override_reason"]

    def override_arguments(self) -> dict:
        return {"override_reason": self.cleaned_data["override_reason"]} if "override_reason" in self.fields else {}


class MLModelForm(forms.ModelForm):
    accountable_owner = UserChoiceField(
        queryset=_active_users(), label="Accountable owner",
        help_text="The named person accountable for the model's decisions. Only active accounts can be chosen.",
    )
    technical_owners = UserMultipleChoiceField(
        queryset=_active_users(), required=False, label="Technical owners",
        help_text="People who build and run the model. Hold Ctrl (Cmd on a Mac) to choose several.",
    )
    business_processes = forms.ModelMultipleChoiceField(
        queryset=BusinessProcess.objects.select_related("business_unit"), required=False,
        label="Business processes", help_text="The decisions this model automates or supports.",
    )
    tags = forms.CharField(
        required=False, help_text="Comma-separated, e.g. credit, retail. Tags are lower-cased with dashes.",
    )
    fairness_reference_groups = JSONTextField(
        label="Fairness reference groups", widget=forms.Textarea(attrs={"rows": 3, "class": "code",
                                                                        "spellcheck": "false"}),
        help_text='Optional, binary models: JSON object of sensitive attribute to group, e.g. {"sex": "male"}. '
                  "The four-fifths rule compares each group's selection rate with this group's; an attribute not "
                  "named here, or whose group is not in an upload, is compared with the group that has the highest "
                  "selection rate. Names and groups are single-line strings, at most 20 attributes.",
    )

    class Meta:
        model = MLModel
        fields = ["name", "purpose", "intended_use", "out_of_scope_uses", "accountable_owner", "technical_owners",
                  "team", "business_processes", "exposure", "automation_level", "task_type",
                  "fairness_reference_groups"]
        widgets = {
            "purpose": forms.Textarea(attrs={"rows": 3}),
            "intended_use": forms.Textarea(attrs={"rows": 3}),
            "out_of_scope_uses": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "intended_use": "Who may use the model's output, for which decisions.",
            "out_of_scope_uses": "Uses the model was not built or validated for.",
            "exposure": "Who sees or is affected by the model's output.",
        }

    def __init__(self, *args, teams=None, **kwargs):
        """``teams``: the teams the user may choose (their own); the service refuses any other."""
        super().__init__(*args, **kwargs)
        if teams is not None:
            self.fields["team"].queryset = teams
            if not teams.exists():
                self.fields["team"].help_text = ("You are not a member of any team yet, so you cannot register "
                                                 "a model: ask an admin to add you to your team.")
        self.fields["team"].queryset = self.fields["team"].queryset.select_related("business_unit")
        self.fields["team"].label_from_instance = lambda team: f"{team.business_unit} / {team.name}"
        if self.instance.pk and not self.is_bound:
            self.initial["tags"] = ", ".join(tag.name for tag in self.instance.tags.all())

    def clean_tags(self) -> list[str]:
        return [name.strip() for name in self.cleaned_data["tags"].split(",") if name.strip()]

    def service_arguments(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields + ["tags"]}


class MLModelRegisterForm(MLModelForm):
    """Registration: the approved use case the model comes from (``intake``) comes first and fills the rest."""

    use_case = forms.ChoiceField(label="Use case", required=False)

    field_order = ["use_case"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        source = intake.provider()
        if source is None:
            del self.fields["use_case"]
            return
        field = self.fields["use_case"]
        field.required = intake.required()
        field.choices = [("", "Choose an approved use case"), *source.choices(None)]
        field.help_text = source.help_text
        if len(field.choices) == 1 and field.required:
            field.help_text += (" No approved use case is waiting for a model: propose one under Use cases and "
                                "have it approved first.")

    def service_arguments(self) -> dict:
        arguments = super().service_arguments()
        if "use_case" in self.fields:
            arguments["use_case"] = self.cleaned_data["use_case"] or None
        return arguments


class MLModelEditForm(MLModelForm):
    reason = forms.CharField(
        required=False, max_length=500,
        help_text="Why you are changing the model; recorded in the audit trail.",
    )

    def service_arguments(self) -> dict:
        return {**super().service_arguments(), "reason": self.cleaned_data["reason"]}


class VersionForm(forms.ModelForm):
    training_datasets = forms.ModelMultipleChoiceField(
        queryset=DataSet.objects.all(), required=False, label="Training data sets",
        help_text="The data sets this version learnt from. Hold Ctrl (Cmd on a Mac) to choose several.",
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )
    hyperparameters = JSONTextField(label="Hyperparameters", help_text='JSON object, e.g. {"max_depth": 6}.')
    validation_metrics = JSONTextField(
        label="Validation metrics", help_text='JSON object of metric name to number, e.g. {"roc_auc": 0.91}.',
    )
    validated_environment = JSONTextField(
        label="Validated environment",
        help_text=_fingerprint_help(
            "The environment the version was validated in",
            "Pre-filled with the portal server's own environment as a starting point: put in the values of the "
            "environment you validated in.",
        ),
    )

    class Meta:
        model = ModelVersion
        fields = ["version", "description", "training_datasets", "algorithm", "framework", "hyperparameters",
                  "artifact_uri", "artifact_sha256", "validation_metrics", "validated_environment"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        labels = {"artifact_uri": "Artifact URI", "artifact_sha256": "Artifact SHA-256"}
        help_texts = {
            "artifact_uri": "Where the trained artefact is stored, e.g. s3://models/churn/1.4.0/model.pkl.",
            "artifact_sha256": "64 hexadecimal characters; lets anyone check the deployed file is this one.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound and not self.initial.get("validated_environment"):
            self.initial["validated_environment"] = current_fingerprint()

    def clean_version(self) -> str:
        version = self.cleaned_data["version"].strip()
        if version.lower() in RESERVED_VERSION_LABELS or "/" in version:
            raise forms.ValidationError(f"{version!r} cannot be a version label; use e.g. 1.4.0 or 2026-11-01.")
        return version

    def clean_validation_metrics(self) -> dict:
        metrics = self.cleaned_data["validation_metrics"]
        for name, value in metrics.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise forms.ValidationError(f'Validation metrics: "{name}" must be a number, not {value!r}.')
        return metrics

    def clean_validated_environment(self) -> dict:
        return _check_fingerprint(self.cleaned_data["validated_environment"], "Validated environment")

    def service_arguments(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class DeploymentForm(GateOverrideMixin, forms.ModelForm):
    runtime_environment = JSONTextField(
        label="Runtime environment",
        help_text=_fingerprint_help(
            "Where the deployment runs",
            "Leave empty if unknown: the portal then cannot check it against the validated environment.",
        ),
    )
    deployed_at = forms.DateTimeField(
        required=False, label="Deployed at",
        help_text="Date and time (YYYY-MM-DD HH:MM, UTC). Leave empty for now.",
    )

    class Meta:
        model = Deployment
        fields = ["environment", "kind", "target", "business_process", "runtime_environment", "deployed_at"]
        labels = {"business_process": "Business process served"}
        help_texts = {"business_process": "The business decision this deployment serves, if any."}

    override_reason = override_field()

    def __init__(self, *args, allow_override: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["business_process"].queryset = BusinessProcess.objects.select_related("business_unit")
        self.drop_override_unless(allow_override)

    def clean_runtime_environment(self) -> dict:
        return _check_fingerprint(self.cleaned_data["runtime_environment"], "Runtime environment")

    def service_arguments(self) -> dict:
        return {**{name: self.cleaned_data[name] for name in self.Meta.fields}, **self.override_arguments()}


class DataSetForm(forms.ModelForm):
    owner = UserChoiceField(queryset=_active_users(), required=False, help_text="Who answers questions about it.")
    schema = JSONTextField(
        kind=list, label="Schema",
        help_text='JSON list of columns, e.g. [{"name": "age", "type": "int", "description": "years"}].',
    )

    class Meta:
        model = DataSet
        fields = ["name", "version", "kind", "description", "source_system", "owner", "content_sha256",
                  "contains_personal_data", "legal_basis", "consent_notes", "collection_start", "collection_end",
                  "schema"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "consent_notes": forms.Textarea(attrs={"rows": 2}),
            "collection_start": forms.DateInput(attrs={"type": "date"}),
            "collection_end": forms.DateInput(attrs={"type": "date"}),
        }
        labels = {"content_sha256": "Content SHA-256", "contains_personal_data": "Holds personal data"}
        help_texts = {
            "source_system": "The system the data comes from, e.g. CRM or the data warehouse.",
            "legal_basis": "Required when the data set holds personal data (GDPR Art. 6).",
            "consent_notes": "How consent was collected or which contract covers the processing.",
            "collection_start": "First day of the collection period.",
            "collection_end": "Last day of the collection period.",
        }

    def clean_schema(self) -> list:
        schema = self.cleaned_data["schema"]
        for position, column in enumerate(schema, start=1):
            if not isinstance(column, dict) or not column.get("name"):
                raise forms.ValidationError(f'Schema: column {position} must be an object with a "name".')
        return schema

    def service_arguments(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class ProcessForm(forms.ModelForm):
    accountable_executive = UserChoiceField(
        queryset=_active_users(), required=False, label="Accountable executive",
        help_text="The executive who answers for the decisions this process makes.",
    )

    class Meta:
        model = BusinessProcess
        fields = ["name", "business_unit", "description", "decision", "decisions_per_day", "value_at_stake",
                  "accountable_executive"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        labels = {"value_at_stake": "Value at stake (EUR per year)", "decisions_per_day": "Decisions per day"}
        help_texts = {"decisions_per_day": "Roughly how many decisions the process makes a day."}

    def service_arguments(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class StageTransitionForm(GateOverrideMixin, forms.Form):
    stage = forms.ChoiceField(label="Move to stage", choices=Stage.choices)
    reason = forms.CharField(
        required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the version moves; recorded in its stage history and the audit trail.",
    )

    override_reason = override_field()

    def __init__(self, *args, current: str, allow_override: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].choices = [(value, label) for value, label in Stage.choices if value != current]
        later = STAGE_ORDER[STAGE_ORDER.index(current) + 1:] if current in STAGE_ORDER else []
        self.fields["stage"].initial = later[0] if later else None
        self.drop_override_unless(allow_override)

    def service_arguments(self) -> dict:
        return {"to_stage": self.cleaned_data["stage"], "reason": self.cleaned_data["reason"],
                **self.override_arguments()}
