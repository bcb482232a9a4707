"""Forms and the filter of the monitoring pages. They parse and validate input; services write."""

import django_filters
from django import forms
from django.db.models import Q

from apps.core.validators import validate_single_line
from apps.inventory.models import BusinessUnit, MLModel, ModelVersion, Stage, TaskType
from apps.monitoring import ingest
from apps.monitoring.limits import upload_limits
from apps.monitoring.models import Evaluation

ACCEPTED_FILES = ".csv,.tsv,.txt,.jsonl,.ndjson,.json,.parquet,.pq"
# Larger comparisons take too long for a web request; evaluations are computed by workers instead.
COMPARE_MAX_ROWS = 50_000
HEALTH_CHOICES = [("breach", "Breach"), ("warning", "Warning"), ("no_evidence", "No evidence"),
                  ("healthy", "Healthy")]
HEALTH_SORTS = {
    "health": ("-health_rank", "-open_alerts", "name"),
    "-health": ("health_rank", "open_alerts", "name"),
    "name": ("name",),
    "-name": ("-name",),
    "alerts": ("-open_alerts", "name"),
    "-alerts": ("open_alerts", "name"),
    "window": ("-last_window_at", "name"),
    "-window": ("last_window_at", "name"),
}


class HealthFilter(django_filters.FilterSet):
    """Query parameters of the health overview: q, health, business_unit, sort (one of ``HEALTH_SORTS``)."""

    q = django_filters.CharFilter(method="search", label="Search", help_text="Model name, slug or purpose")
    health = django_filters.ChoiceFilter(choices=HEALTH_CHOICES, method="filter_health", label="Health",
                                         help_text="Worst unresolved alert; no evidence when never evaluated or "
                                                   "its results lapsed")
    business_unit = django_filters.ModelChoiceFilter(
        field_name="team__business_unit", queryset=BusinessUnit.objects.all(), to_field_name="slug",
        label="Business unit")
    sort = django_filters.ChoiceFilter(method="apply_sort", choices=[(k, k) for k in HEALTH_SORTS], label="Sort")

    class Meta:
        model = MLModel
        fields = ["q", "health", "business_unit", "sort"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(slug__icontains=value) | Q(purpose__icontains=value))

    def filter_health(self, queryset, name, value):
        return queryset.filter(governance__health=value)

    def apply_sort(self, queryset, name, value):
        return queryset.order_by(*HEALTH_SORTS[value], "pk")


def version_label(version) -> str:
    return f"{version.model.name} {version.version} ({version.get_stage_display()})"


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return version_label(obj)


def _names(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    if len(names) != len(set(names)):
        raise forms.ValidationError("A column is named twice.")
    return names


def _column(initial: str, label: str, help_text: str, required: bool = True) -> forms.CharField:
    return forms.CharField(initial=initial, label=label, help_text=help_text, required=required, max_length=200,
                           validators=[validate_single_line])


VERSION_CHOICES_SHOWN = 300


def version_choices(queryset, *, user, q: str = "") -> tuple[list, int]:
    """The version chooser's options: the person's own models first (they own it, are on its team or registered
    the version), then the others, narrowed by ``q`` (part of the model's name or the version) and capped, so the
    list stays short at any portfolio size. Returns (grouped choices, how many matched)."""
    if q:
        queryset = queryset.filter(Q(model__name__icontains=q) | Q(version__icontains=q))
    mine = Q(created_by=user) | Q(model__accountable_owner=user) | Q(model__technical_owners=user) | Q(
        model__team__members=user)
    own = list(queryset.filter(mine).distinct()[:VERSION_CHOICES_SHOWN]) if user is not None else []
    others = list(queryset.exclude(pk__in=[v.pk for v in own])[:VERSION_CHOICES_SHOWN - len(own)])
    matched = len(own) + len(others)
    groups = [("", "---------")]
    for title, versions in (("Your models", own), ("Other models", others)):
        if versions:
            groups.append((title, [(v.pk, version_label(v)) for v in versions]))
    return groups, matched


class VersionChooserMixin:
    """A form whose ``version`` field lists the person's own models first, narrowed by a search."""

    def choose_versions(self, *, user, q: str) -> None:
        field = self.fields["version"]
        # Only what is listed is narrowed: any live version still validates (a link may name one outside the list).
        field.choices, self.versions_listed = version_choices(field.queryset, user=user, q=q)
        self.versions_capped = self.versions_listed >= VERSION_CHOICES_SHOWN


class EvaluationUploadForm(VersionChooserMixin, forms.Form):
    version = VersionChoiceField(
        queryset=ModelVersion.objects.exclude(stage=Stage.RETIRED).select_related("model")
        .order_by("model__name", "-created_at"),
        label="Model version", help_text="The version whose predictions the file holds.")
    kind = forms.ChoiceField(
        choices=[(k, label) for k, label in Evaluation.Kind.choices if k != Evaluation.Kind.CHALLENGER],
        initial=Evaluation.Kind.VALIDATION, label="Kind",
        help_text="Production results are checked against the policy's thresholds and can raise alerts; "
                  "validation results are shown, not alerted on.")
    file = forms.FileField(label="File", widget=forms.FileInput(attrs={"accept": ACCEPTED_FILES}),
                           help_text="CSV, JSON Lines or Parquet, one row per prediction, with a header. Nothing is "
                                     "stored if the file is rejected.")
    sensitive_features = forms.CharField(
        required=False, label="Sensitive features", validators=[validate_single_line],
        help_text="Comma-separated column names, e.g. sex,age_band: metrics are broken down by their groups.")
    positive_label = forms.CharField(initial="1", max_length=100, label="Positive label",
                                     validators=[validate_single_line],
                                     help_text="For binary models: the label value meaning 'positive', e.g. 1 or yes.")
    target_column = _column("y_true", "True label column", "The observed outcome.")
    prediction_column = _column("y_pred", "Prediction column", "The model's predicted label or value.")
    score_column = _column("y_score", "Score column", "Optional: the predicted probability of the positive label "
                                                      "(multiclass: columns <name>_<label>).", required=False)
    timestamp_column = _column("timestamp", "Timestamp column", "Optional: when each prediction was made "
                                                                "(ISO 8601); production windows need it.",
                               required=False)
    prediction_id_column = _column("prediction_id", "Prediction id column",
                                   "Production files without the true label column: unique ids to which the outcomes "
                                   "are joined later, from the evaluation's page (late labels).", required=False)

    def __init__(self, *args, preview: bool = False, user=None, q: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if preview:  # a preview only reads the file
            self.fields["version"].required = False
        self.choose_versions(user=user, q=q)

    def clean_sensitive_features(self) -> list[str]:
        return _names(self.cleaned_data["sensitive_features"])

    def columns(self) -> dict:
        data = self.cleaned_data
        return {"target": data["target_column"], "prediction": data["prediction_column"],
                "score": data.get("score_column") or "", "timestamp": data.get("timestamp_column") or "",
                "prediction_id": data.get("prediction_id_column") or ""}

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        upload = data["file"]
        columns = self.columns()
        return {"version": data["version"], "data": upload.read(), "filename": upload.name, "kind": data["kind"],
                "columns": columns, "sensitive_features": data["sensitive_features"],
                "positive_label": data["positive_label"],
                "prediction_id_column": columns.pop("prediction_id") or "prediction_id"}


class ReferenceUploadForm(VersionChooserMixin, forms.Form):
    version = VersionChoiceField(
        queryset=ModelVersion.objects.exclude(stage=Stage.RETIRED).select_related("model")
        .order_by("model__name", "-created_at"),
        label="Model version", help_text="The version trained on these features.")
    file = forms.FileField(label="Reference features", widget=forms.FileInput(attrs={"accept": ACCEPTED_FILES}),
                           help_text="The version's training features (CSV, JSON Lines or Parquet). Later "
                                     "evaluations are compared with them for drift; the newest upload counts.")

    def __init__(self, *args, user=None, q: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.choose_versions(user=user, q=q)


class LabelUploadForm(forms.Form):
    """The outcomes of a production evaluation's predictions, uploaded after it (late labels)."""

    file = forms.FileField(label="Label file", widget=forms.FileInput(attrs={"accept": ACCEPTED_FILES}),
                           help_text="CSV, JSON Lines or Parquet with the prediction-id column and the target column. "
                                     "Every id must be one of this evaluation's and not labelled before; nothing is "
                                     "stored if any row is refused.")


class CompareForm(forms.Form):
    """One file with both versions' predictions for the same rows; ``clean`` parses it once per side."""

    champion = VersionChoiceField(queryset=ModelVersion.objects.none(), label="Champion",
                                  help_text="The version in production.")
    challenger = VersionChoiceField(queryset=ModelVersion.objects.none(), label="Challenger",
                                    help_text="The candidate to compare with it.")
    file = forms.FileField(label="File", widget=forms.FileInput(attrs={"accept": ACCEPTED_FILES}),
                           help_text=f"CSV, JSON Lines or Parquet with both versions' predictions for the same "
                                     f"rows; at most {COMPARE_MAX_ROWS:,} rows. Nothing is stored.")
    target_column = _column("y_true", "True label column", "The observed outcome.")
    champion_pred = _column("champion_pred", "Champion prediction column", "The champion's predicted label.")
    champion_score = _column("champion_score", "Champion score column",
                             "Optional: the champion's probability of the positive label.", required=False)
    challenger_pred = _column("challenger_pred", "Challenger prediction column", "The challenger's predicted label.")
    challenger_score = _column("challenger_score", "Challenger score column",
                               "Optional: the challenger's probability of the positive label. ROC AUC is "
                               "compared when both scores are present.", required=False)
    sensitive_features = forms.CharField(required=False, label="Sensitive features",
                                         validators=[validate_single_line],
                                         help_text="Comma-separated column names, e.g. sex,age_band.")
    positive_label = forms.CharField(initial="1", max_length=100, label="Positive label",
                                     validators=[validate_single_line],
                                     help_text="The label value meaning 'positive', e.g. 1 or yes.")

    def __init__(self, *args, model: MLModel, **kwargs):
        super().__init__(*args, **kwargs)
        self.model = model
        self.problems: list = []
        self.parsed: dict | None = None
        versions = ModelVersion.objects.filter(model=model).select_related("model").order_by("-created_at")
        self.fields["champion"].queryset = versions.filter(stage=Stage.PRODUCTION)
        self.fields["challenger"].queryset = versions.exclude(stage=Stage.RETIRED)

    def clean_sensitive_features(self) -> list[str]:
        return _names(self.cleaned_data["sensitive_features"])

    def clean(self):
        data = super().clean()
        if self.model.task_type != TaskType.BINARY:
            raise forms.ValidationError("Champion-versus-challenger comparison supports binary classifiers; upload "
                                        "each version's evaluation and compare their pages instead.")
        if data.get("champion") and data.get("champion") == data.get("challenger"):
            self.add_error("challenger", "Choose a version other than the champion.")
        if self.errors or not data.get("file"):
            return data
        upload = data["file"]
        content = upload.read()
        # A cheap count first, so an oversized file is refused before it is parsed.
        if not content.startswith(b"PAR1") and content.count(b"\n") > COMPARE_MAX_ROWS + 1:
            raise forms.ValidationError(self._too_many())
        self.parsed = self._parse(content, upload.name, data)
        if self.parsed and self.parsed["n"] > COMPARE_MAX_ROWS:
            self.parsed = None
            raise forms.ValidationError(self._too_many())
        return data

    @staticmethod
    def _too_many() -> str:
        return (f"The file has more than {COMPARE_MAX_ROWS:,} rows, too many to compare within a web request. "
                "Upload each version's predictions as an evaluation (this site's upload page, or the API and "
                "the mlops-portal client) and compare their evaluation pages.")

    def _parse(self, content: bytes, filename: str, data: dict) -> dict | None:
        sides, problems = {}, []
        for side in ("champion", "challenger"):
            try:
                sides[side] = ingest.parse_evaluation(
                    content, filename=filename, target_column=data["target_column"],
                    prediction_column=data[f"{side}_pred"], score_column=data.get(f"{side}_score") or "",
                    timestamp_column="", sensitive_features=data["sensitive_features"], task_type="binary",
                    positive_label=data["positive_label"], limits=upload_limits())
            except ingest.IngestError as exc:
                problems += [p for p in exc.problems if p not in problems]
        if problems:
            self.problems = problems
            self.add_error(None, "The file was refused: fix the problems listed below and upload it again.")
            return None
        champion, challenger = sides["champion"], sides["challenger"]
        frame = champion.df

        def column(parsed, name):
            return None if name is None else parsed.df[name].to_numpy()

        return {
            "n": champion.row_count,
            "y_true": column(champion, champion.target_column),
            "champion_pred": column(champion, champion.prediction_column),
            "challenger_pred": column(challenger, challenger.prediction_column),
            "champion_score": column(champion, champion.score_column),
            "challenger_score": column(challenger, challenger.score_column),
            "sensitive": {name: frame[name] for name in champion.sensitive_features},
            "warnings": list(dict.fromkeys([*champion.warnings, *challenger.warnings])),
            "scored": champion.score_column is not None and challenger.score_column is not None,
        }


class PromoteForm(forms.Form):
    """The challenger to promote and the champion it was compared with (empty: the model had none)."""

    challenger = forms.ModelChoiceField(queryset=ModelVersion.objects.none(), widget=forms.HiddenInput)
    champion = forms.ModelChoiceField(queryset=ModelVersion.objects.none(), widget=forms.HiddenInput,
                                      required=False)

    def __init__(self, *args, model: MLModel, **kwargs):
        super().__init__(*args, **kwargs)
        versions = ModelVersion.objects.filter(model=model).select_related("model")
        self.fields["challenger"].queryset = versions
        self.fields["champion"].queryset = versions
