from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework import serializers

from apps.findings import rules
from apps.findings.models import Finding, Incident, IncidentEntry
from apps.inventory.models import MLModel, ModelVersion


class PersonField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "username")
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", get_user_model().objects.filter(is_active=True))
        super().__init__(**kwargs)


class FindingSerializer(serializers.ModelSerializer):
    version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all(),
                                                 help_text="Id of the model version it was found in.")
    model = serializers.CharField(source="version.model.slug", read_only=True)
    version_label = serializers.CharField(source="version.version", read_only=True)
    owner = PersonField(help_text="Username of the person who remediates it.")
    raised_by = PersonField(read_only=True, allow_null=True)
    closed_by = PersonField(read_only=True, allow_null=True)
    severity = serializers.ChoiceField(choices=list(rules.SEVERITY_LABELS.items()))
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = Finding
        fields = ["id", "version", "model", "version_label", "title", "description", "severity", "status", "owner",
                  "due_date", "remediation", "raised_by", "closing_note", "closed_by", "closed_at", "created_at",
                  "updated_at", "url"]
        read_only_fields = ["status", "closing_note", "closed_by", "closed_at", "created_at", "updated_at"]


class FindingUpdateSerializer(FindingSerializer):
    class Meta(FindingSerializer.Meta):
        read_only_fields = [*FindingSerializer.Meta.read_only_fields, "version"]


class StatusMoveSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="Finding: open, remediating, closed. Incident: open, contained, closed.")
    note = serializers.CharField(required=False, allow_blank=True, default="",
                                 help_text=f"Required to close (at least {rules.MIN_NOTE} characters).")


class IncidentEntrySerializer(serializers.ModelSerializer):
    author = PersonField(read_only=True, allow_null=True)

    class Meta:
        model = IncidentEntry
        fields = ["at", "text", "author", "created_at"]
        read_only_fields = ["author", "created_at"]


class IncidentSerializer(serializers.ModelSerializer):
    model = serializers.SlugRelatedField(slug_field="slug", queryset=MLModel.objects.all())
    version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all(), required=False, allow_null=True)
    serious_kind = serializers.ChoiceField(choices=list(rules.SERIOUS_KINDS.items()), required=False,
                                           allow_blank=True, default="")
    report_deadline = serializers.DateField(read_only=True, allow_null=True,
                                            help_text="The last day the authority's report may arrive (serious "
                                                      "incidents only).")
    report_state = serializers.SerializerMethodField()
    opened_by = PersonField(read_only=True, allow_null=True)
    closed_by = PersonField(read_only=True, allow_null=True)
    entries = IncidentEntrySerializer(many=True, read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = Incident
        fields = ["id", "model", "version", "title", "description", "impact", "root_cause", "corrective_actions",
                  "status", "occurred_at", "aware_at", "serious_kind", "report_deadline", "report_state",
                  "reported_at", "report_reference", "opened_by", "closed_by", "closed_at", "entries", "created_at",
                  "updated_at", "url"]
        read_only_fields = ["status", "closed_by", "closed_at", "created_at", "updated_at"]

    def get_report_state(self, incident) -> str:
        return incident.report_state(timezone.localdate())


class IncidentUpdateSerializer(IncidentSerializer):
    class Meta(IncidentSerializer.Meta):
        read_only_fields = [*IncidentSerializer.Meta.read_only_fields, "model"]
