from django.contrib.auth import get_user_model
from rest_framework import serializers

from apps.inventory.models import MLModel
from apps.risk.models import (
    LEVEL_CHOICES,
    GovernancePolicy,
    Mitigation,
    RiskAssessment,
    RiskMatrix,
    RiskRating,
    Tier,
)
from apps.risk.policy_schema import CHECKLISTS, EXAMPLE, METRICS
from apps.risk.scoring import REGULATED_DOMAINS, RISKS


class MitigationSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(is_active=True), required=False,
        allow_null=True)

    class Meta:
        model = Mitigation
        fields = ["id", "action", "owner", "due_date", "status"]
        read_only_fields = ["id"]


class RatingSerializer(serializers.ModelSerializer):
    probability = serializers.ChoiceField(choices=LEVEL_CHOICES, help_text="1 (rare) to 5 (almost certain)")
    impact = serializers.ChoiceField(choices=LEVEL_CHOICES, help_text="1 (negligible) to 5 (severe)")
    mitigations = MitigationSerializer(many=True, required=False)
    severity = serializers.ChoiceField(choices=Tier.choices, read_only=True, allow_blank=True,
                                       help_text="Empty until the assessment is submitted and scored.")

    class Meta:
        model = RiskRating
        fields = ["risk", "probability", "impact", "severity", "rationale", "mitigations"]
        read_only_fields = ["severity"]


class AssessmentSerializer(serializers.ModelSerializer):
    model = serializers.SlugRelatedField(slug_field="slug", queryset=MLModel.objects.all())
    ratings = RatingSerializer(many=True)
    regulated_domain = serializers.ChoiceField(choices=list(REGULATED_DOMAINS.items()), required=False)
    submitted_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    # Empty until the draft is submitted and scored.
    base_tier = serializers.ChoiceField(choices=Tier.choices, read_only=True, allow_blank=True)
    tier = serializers.ChoiceField(choices=Tier.choices, read_only=True, allow_blank=True)
    matrix_version = serializers.IntegerField(source="matrix.version", read_only=True, allow_null=True)
    policy = serializers.StringRelatedField(read_only=True, allow_null=True,
                                            help_text="The policy the tier was scored under; null for a draft.")

    class Meta:
        model = RiskAssessment
        fields = ["id", "model", "status", "exposure", "automation_level", "personal_data", "people_affected",
                  "regulated_domain", "eu_ai_act_category", "summary", "ratings", "base_tier", "tier", "escalations",
                  "matrix_version", "policy", "reassessment_due", "supersedes", "created_by", "created_at",
                  "submitted_by", "submitted_at"]
        read_only_fields = ["status", "base_tier", "tier", "escalations", "reassessment_due", "supersedes",
                            "created_at", "submitted_at"]

    def validate_ratings(self, value):
        keys = [r["risk"] for r in value]
        if len(keys) != len(set(keys)):
            raise serializers.ValidationError("Each risk may be rated once.")
        unknown = set(keys) - set(RISKS)
        if unknown:
            raise serializers.ValidationError(f"Unknown risks: {', '.join(sorted(unknown))}.")
        return value

    def ratings_payload(self) -> dict:
        return {r["risk"]: {"probability": r["probability"], "impact": r["impact"], "rationale": r.get("rationale", ""),
                            "mitigations": r.get("mitigations", [])}
                for r in self.validated_data["ratings"]}

    def context_payload(self) -> dict:
        names = ("exposure", "automation_level", "personal_data", "people_affected", "regulated_domain",
                 "eu_ai_act_category", "summary")
        return {n: self.validated_data[n] for n in names if n in self.validated_data}


class SubmitSerializer(serializers.Serializer):
    based_on = serializers.IntegerField(
        required=False, allow_null=True,
        help_text="Id of the current assessment you started from (null if the model had none); a newer one means 409.")


class PolicySerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    note = serializers.CharField(write_only=True, help_text="Why the policy changes (audited).")

    class Meta:
        model = GovernancePolicy
        fields = ["id", "tier", "version", "required_approvals", "checklists", "monitoring_cadence",
                  "metric_thresholds", "reassessment_days", "finding_blocks_from", "note", "created_by", "created_at"]
        read_only_fields = ["id", "version", "created_by", "created_at"]
        # Validated by ``policy_publish`` against ``apps.risk.policy_schema``; a refusal names the key.
        extra_kwargs = {
            "checklists": {"help_text": f"At least one of: {', '.join(CHECKLISTS)}."},
            "finding_blocks_from": {"help_text": "The least severe open validation finding that holds the production "
                                                 "gate; left out, the tier keeps its current value."},
            "metric_thresholds": {"help_text": "Metric name and direction to a number in the metric's range, e.g. "
                                               f"{EXAMPLE}; metrics: {', '.join(sorted(METRICS))}."},
        }


class MatrixSerializer(serializers.ModelSerializer):
    class Meta:
        model = RiskMatrix
        fields = ["version", "config", "note", "created_at"]
        read_only_fields = fields
