from rest_framework import serializers

from apps.core.validators import validate_single_line
from apps.inventory.models import ModelVersion
from apps.monitoring import ingest, selectors
from apps.monitoring.models import Alert, Evaluation, LabelBatch, MetricWindow, ReferenceData

PREDICTION_ID_HELP = ("Production only: a file without the target column is accepted when it has this column of unique "
                      "ids; drift is computed at once, performance and fairness when labels are added "
                      "(POST /api/v1/evaluations/{id}/labels/).")


class EvaluationUploadSerializer(serializers.Serializer):
    """The upload contract data scientists' scripts rely on (multipart/form-data)."""

    model_version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.select_related("model"))
    # Empty files reach the parser, which explains the problem like every other refusal.
    file = serializers.FileField(allow_empty_file=True, help_text="CSV, JSON Lines or Parquet; one row per prediction.")
    kind = serializers.ChoiceField(choices=["validation", "production"], default="validation")
    sensitive_features = serializers.CharField(required=False, allow_blank=True, default="",
                                               validators=[validate_single_line],
                                               help_text="Comma-separated column names, e.g. sex,age_band")
    positive_label = serializers.CharField(required=False, default="1", validators=[validate_single_line])
    target_column = serializers.CharField(required=False, default="y_true", validators=[validate_single_line])
    prediction_column = serializers.CharField(required=False, default="y_pred", validators=[validate_single_line])
    score_column = serializers.CharField(required=False, default="y_score", validators=[validate_single_line])
    timestamp_column = serializers.CharField(required=False, default="timestamp", validators=[validate_single_line])
    prediction_id_column = serializers.CharField(
        required=False, default="prediction_id", validators=[validate_single_line], help_text=PREDICTION_ID_HELP)

    def validate_sensitive_features(self, value: str) -> list[str]:
        names = [name.strip() for name in value.split(",") if name.strip()]
        if len(names) != len(set(names)):
            raise serializers.ValidationError("A column is named twice.")
        return names


class EvaluationOptionsSerializer(serializers.Serializer):
    """An evaluation's options as JSON (by reference, uploads in parts): kind, sensitive features, column names."""

    kind = serializers.ChoiceField(choices=["validation", "production"], default="validation")
    sensitive_features = serializers.ListField(child=serializers.CharField(validators=[validate_single_line]),
                                               required=False, default=list, max_length=ingest.MAX_COLUMNS,
                                               help_text='Column names, e.g. ["sex", "age_band"]')
    positive_label = serializers.CharField(required=False, default="1", validators=[validate_single_line])
    target_column = serializers.CharField(required=False, default="y_true", validators=[validate_single_line])
    prediction_column = serializers.CharField(required=False, default="y_pred", validators=[validate_single_line])
    score_column = serializers.CharField(required=False, default="y_score", validators=[validate_single_line])
    timestamp_column = serializers.CharField(required=False, default="timestamp", validators=[validate_single_line])

    def validate_sensitive_features(self, value: list[str]) -> list[str]:
        names = [name.strip() for name in value if name.strip()]
        if len(names) != len(set(names)):
            raise serializers.ValidationError("A column is named twice.")
        return names


class EvaluationReferenceSerializer(EvaluationOptionsSerializer):
    """An evaluation of a Parquet data set that stays where it is (PORTAL_DATA_ROOTS, PORTAL_DATA_BUCKETS)."""

    model_version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.select_related("model"))
    path = serializers.CharField(max_length=1024, validators=[validate_single_line],
                                 help_text="Absolute path of the Parquet file, inside one of PORTAL_DATA_ROOTS, "
                                           "or its object's URL, s3://bucket/key, in one of PORTAL_DATA_BUCKETS.")
    sha256 = serializers.CharField(max_length=64, validators=[validate_single_line],
                                   help_text="The file's SHA-256 (hex); the worker checks it before computing.")
    positive_label = serializers.CharField(required=False, default="1", validators=[validate_single_line],
                                           help_text="Binary labels are read as stored: 0 and 1, 1 positive.")


class ProblemSerializer(serializers.Serializer):
    column = serializers.CharField(allow_null=True)
    rows = serializers.ListField(child=serializers.IntegerField())
    message = serializers.CharField()


class UploadErrorSerializer(serializers.Serializer):
    """A refused file (``detail`` and ``problems``) or, like every DRF answer, ``{"<field>": ["message"]}``."""

    detail = serializers.CharField(required=False, help_text="Why the file was refused.")
    problems = ProblemSerializer(many=True, required=False)


class EvaluationSerializer(serializers.ModelSerializer):
    model_version = serializers.PrimaryKeyRelatedField(source="version", read_only=True)
    model = serializers.CharField(source="version.model.slug", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    metrics = serializers.JSONField(read_only=True, allow_null=True,
                                    help_text='{"overall": {...}, "groups": {...}, "fairness": {...}, '
                                              '"drift": {FEATURE: {...}}, '
                                              '"prediction_drift": {"score": {...}, "prediction": {...}}, '
                                              '"explanations": {...}, "labels": {"rows": N, "labelled_rows": K, '
                                              '"coverage": K/N}}. "explanations" explains the model\'s '
                                              'outputs with a surrogate (line plus tree, or tree), computed '
                                              'after the evaluation is done: "status" ("pending" while it is '
                                              'computed, with "computation" and "sent_at"; "done"; "empty" or '
                                              '"failed" with a "reason"), "output" {"column", '
                                              '"kind": score|prediction|label}, '
                                              '"fidelity" {"metric": r2|accuracy, "value", "minimum", "low"}, '
                                              '"caveat" (set when the fidelity is low), "method", "rows" {"given", '
                                              '"sampled", "fitted", "held_out"}, "seed", "importance_unit", '
                                              '"importances" [{"feature", "rank", "importance", "std"}] ranked, '
                                              '"groups" {ATTRIBUTE: {"groups": {GROUP: {"rows", "importances": '
                                              '{FEATURE: value}}}, "skipped": {GROUP: rows}, "min_rows"}}; '
                                              'on production evaluations "shift" {"validation_evaluation", '
                                              '"validation_fidelity", "features": [{"feature", "validation", '
                                              '"production", "change", "validation_rank", "production_rank", '
                                              '"rank_change"}]} or {"validation_evaluation", "reason"}. '
                                              '"labels" is present for a production evaluation uploaded without '
                                              'its target (columns.prediction_id is set): performance and fairness '
                                              'cover the K labelled rows, drift all N; while K is 0, "overall", '
                                              '"groups" and "fairness" are absent (pending labels) and no '
                                              'performance threshold is checked.')
    status_note = serializers.SerializerMethodField(
        help_text="Why a queued or running evaluation is not moving (no worker, broker down, worker died); "
                  "empty while all is well.")
    explanation_attempts = serializers.IntegerField(
        read_only=True, help_text="How many times a worker started the explanation of these metrics (counted from 0 "
                                  "again when they are recomputed or the explanation is asked for again); at "
                                  "PORTAL_TASK_MAX_ATTEMPTS without a result it is given up.")

    class Meta:
        model = Evaluation
        fields = ["id", "model_version", "model", "kind", "status", "status_note", "error", "warnings", "row_count",
                  "metrics",
                  "filename", "file_format", "sha256", "size_bytes", "source_uri", "columns", "positive_label",
                  "period_start",
                  "period_end", "attempts", "explanation_attempts", "created_by", "created_at", "started_at",
                  "finished_at"]
        read_only_fields = fields

    def get_status_note(self, evaluation: Evaluation) -> str:
        return selectors.evaluation_status_note(evaluation)


class EvaluationListSerializer(EvaluationSerializer):
    """An evaluation in a list: everything but its metrics, which can run to megabytes (ask for one evaluation)."""

    class Meta(EvaluationSerializer.Meta):
        fields = [name for name in EvaluationSerializer.Meta.fields if name != "metrics"]
        read_only_fields = fields


class LabelUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, help_text="CSV, JSON Lines or Parquet with two columns: the "
                                 "evaluation's prediction-id column and its target column (e.g. prediction_id,y_true). "
                                 "Every id must be one of the evaluation's and not labelled before; nothing is stored "
                                 "if any row is refused.")


class LabelBatchSerializer(serializers.ModelSerializer):
    evaluation = serializers.PrimaryKeyRelatedField(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    evaluation_status = serializers.CharField(source="evaluation.status", read_only=True,
                                              help_text="queued: the evaluation is recomputed with these labels.")

    class Meta:
        model = LabelBatch
        fields = ["id", "evaluation", "evaluation_status", "filename", "file_format", "sha256", "size_bytes",
                  "row_count", "created_by", "created_at"]
        read_only_fields = fields


class ReferenceUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The version's training features: CSV, JSON Lines or Parquet.")


class ReferenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReferenceData
        fields = ["id", "version", "filename", "sha256", "row_count", "columns", "created_at"]
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.slug", read_only=True)

    class Meta:
        model = Alert
        fields = ["id", "model", "version", "metric", "value", "threshold", "severity", "status", "message",
                  "evaluation", "window", "created_at", "acknowledged_at", "resolved_at"]
        read_only_fields = fields


class MetricWindowSerializer(serializers.ModelSerializer):
    class Meta:
        model = MetricWindow
        fields = ["id", "version", "cadence", "window_start", "window_end", "row_count", "metrics", "health",
                  "computed_at"]
        read_only_fields = fields


class MetricWindowListSerializer(MetricWindowSerializer):
    """A window in a list: its overall metrics only. Per-group and drift documents grow with the groups and
    features of every evaluation in the window; ask for one window to read them."""

    overall = serializers.JSONField(read_only=True, allow_null=True, source="overall_metrics",
                                    help_text="The window's overall metrics, e.g. {\"accuracy\": 0.91}.")

    class Meta(MetricWindowSerializer.Meta):
        fields = [name for name in MetricWindowSerializer.Meta.fields if name != "metrics"] + ["overall"]
        read_only_fields = fields
