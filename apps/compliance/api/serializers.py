from django.urls import reverse
from rest_framework import serializers

from apps.compliance import evaluation as ev
from apps.compliance.models import Classification, Control, DocumentKind, FindingControl, GeneratedDocument


class ControlSerializer(serializers.ModelSerializer):
    class Meta:
        model = Control
        fields = ["id", "code", "title", "summary", "reference", "evidence", "eu_categories", "roles", "tiers"]


class FrameworkSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    version = serializers.CharField(allow_null=True)
    source = serializers.CharField(allow_null=True)
    controls = ControlSerializer(many=True)


class ClassificationSerializer(serializers.ModelSerializer):
    """The classification questionnaire. Saving it replaces the answers; the audit trail keeps the old ones."""

    eu_category = serializers.ChoiceField(choices=list(ev.EU_CATEGORIES.items()))
    annex_iii_area = serializers.ChoiceField(choices=list(ev.ANNEX_III_AREAS.items()))
    role = serializers.ChoiceField(choices=list(ev.ROLES.items()))
    rationale = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    classified_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Classification
        fields = ["eu_category", "annex_iii_area", "role", "rationale", "classified_by", "updated_at"]
        read_only_fields = ["classified_by", "updated_at"]


class EvidenceSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=list(ev.EVIDENCE_KINDS.items()))
    label = serializers.CharField()
    status = serializers.ChoiceField(choices=ev.STATUSES)
    note = serializers.CharField()
    at = serializers.DateTimeField(allow_null=True)
    url = serializers.CharField(help_text="The page where this evidence is seen and fixed.")
    fix = serializers.CharField(help_text="What would satisfy it; empty when satisfied.")


class ControlResultSerializer(serializers.Serializer):
    framework = serializers.CharField()
    framework_version = serializers.CharField()
    control_id = serializers.IntegerField()
    code = serializers.CharField()
    title = serializers.CharField()
    reference = serializers.CharField()
    status = serializers.ChoiceField(choices=ev.STATUSES)
    evidence = EvidenceSerializer(many=True)
    fixes = serializers.ListField(child=serializers.CharField())


class CoverageSerializer(serializers.Serializer):
    models = serializers.IntegerField()
    applicable = serializers.IntegerField()
    satisfied = serializers.IntegerField()
    partial = serializers.IntegerField()
    missing = serializers.IntegerField()
    percent = serializers.IntegerField(allow_null=True, help_text="Satisfied share of the applicable controls.")


class ModelComplianceSerializer(serializers.Serializer):
    model = serializers.CharField(help_text="The model's slug.")
    name = serializers.CharField()
    business_unit = serializers.CharField()
    tier = serializers.CharField(allow_null=True)
    classification = ClassificationSerializer(allow_null=True)
    coverage = CoverageSerializer()
    controls = ControlResultSerializer(many=True)


class GroupCoverageSerializer(CoverageSerializer):
    key = serializers.CharField()
    name = serializers.CharField()


class PortfolioCoverageSerializer(serializers.Serializer):
    total = CoverageSerializer()
    by_framework = GroupCoverageSerializer(many=True)
    by_business_unit = GroupCoverageSerializer(many=True)


def evidence_data(evidence: ev.Evidence, links: dict) -> dict:
    return {"kind": evidence.kind, "label": evidence.label, "status": evidence.status, "note": evidence.note,
            "at": evidence.at, "url": links.get(evidence.link, ""), "fix": evidence.fix}


def model_compliance_data(view) -> dict:
    model = view.model
    classification = getattr(model, "classification", None)
    return {
        "model": model.slug, "name": model.name, "business_unit": model.team.business_unit.name,
        "tier": view.facts.tier,
        "classification": ClassificationSerializer(classification).data if classification else None,
        "coverage": view.coverage.as_dict(),
        "controls": [{"framework": r.control.framework, "framework_version": r.control.version,
                      "control_id": r.control.pk, "code": r.control.code, "title": r.control.title,
                      "reference": r.control.reference, "status": r.status,
                      "evidence": [evidence_data(e, view.links) for e in r.evidence], "fixes": r.fixes}
                     for r in view.results],
    }


def portfolio_data(portfolio) -> dict:
    return {
        "total": portfolio.total.as_dict(),
        "by_framework": [{"key": code, "name": portfolio.framework_names.get(code, code), **c.as_dict()}
                         for code, c in portfolio.by_framework.items()],
        "by_business_unit": [{"key": slug, "name": portfolio.unit_names[slug], **c.as_dict()}
                             for slug, c in portfolio.by_business_unit.items()],
    }


class GeneratedDocumentSerializer(serializers.ModelSerializer):
    """A generated document: its number per version and kind, stated timestamp, SHA-256 of each file, downloads."""

    model = serializers.CharField(source="version.model.slug", read_only=True)
    version = serializers.CharField(source="version.version", read_only=True)
    version_id = serializers.IntegerField(read_only=True)
    generated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    reviews = serializers.PrimaryKeyRelatedField(many=True, read_only=True,
                                                 help_text="Review rounds it is attached to as evidence.")
    html_url = serializers.SerializerMethodField()
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = GeneratedDocument
        fields = ["id", "model", "version", "version_id", "kind", "number", "reference", "generated_at", "generated_by",
                  "html_sha256", "pdf_sha256", "pages", "reviews", "html_url", "pdf_url"]

    def _url(self, document, fmt: str) -> str:
        return reverse(f"api-compliance-document-{fmt}", kwargs={"pk": document.pk})

    def get_html_url(self, document) -> str:
        return self._url(document, "html")

    def get_pdf_url(self, document) -> str:
        return self._url(document, "pdf")


class DocumentGenerateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DocumentKind.choices)
class FindingControlSerializer(serializers.ModelSerializer):
    framework = serializers.CharField(source="control.framework_version.framework.code")
    framework_version = serializers.CharField(source="control.framework_version.version")
    control_id = serializers.IntegerField(source="control.pk")
    code = serializers.CharField(source="control.code")
    title = serializers.CharField(source="control.title")
    reference = serializers.CharField(source="control.reference")
    linked_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = FindingControl
        fields = ["framework", "framework_version", "control_id", "code", "title", "reference", "linked_by",
                  "created_at"]


class FindingControlsWriteSerializer(serializers.Serializer):
    controls = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Control.objects.select_related("framework_version__framework"),
        help_text="Ids of the controls (of frameworks in force) the finding concerns; replaces the links.")
