from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework import serializers

from apps.inventory.models import ModelVersion
from apps.reviews.models import ChecklistAnswer, ChecklistVerdict, Review, ReviewDecision


class AnswerSerializer(serializers.ModelSerializer):
    item = serializers.IntegerField(source="item_id", read_only=True)
    checklist = serializers.CharField(source="item.checklist", read_only=True)
    key = serializers.CharField(source="item.key", read_only=True)
    text = serializers.CharField(source="item.text", read_only=True)
    evidence_file = serializers.SerializerMethodField(help_text="Download link of the evidence file, if any.")
    # Declared because read-only model fields lose allow_blank: an unanswered item has "" for both.
    answer = serializers.ChoiceField(choices=ChecklistAnswer.Answer.choices, read_only=True, allow_blank=True)
    evidence_link = serializers.URLField(read_only=True, allow_blank=True, help_text="Link to the evidence, or empty.")

    class Meta:
        model = ChecklistAnswer
        fields = ["id", "item", "checklist", "key", "text", "answer", "evidence", "evidence_link", "evidence_file",
                  "evidence_sha256", "reviewer_comment"]
        read_only_fields = fields

    def get_evidence_file(self, answer) -> str | None:
        if not answer.evidence_file:
            return None
        url = reverse("reviews:evidence", kwargs={"pk": answer.review_id, "answer_id": answer.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class VerdictSerializer(serializers.ModelSerializer):
    key = serializers.CharField(source="item.key", read_only=True)

    class Meta:
        model = ChecklistVerdict
        fields = ["item", "key", "verdict", "reason"]
        read_only_fields = fields


class DecisionSerializer(serializers.ModelSerializer):
    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True)
    verdicts = VerdictSerializer(many=True, read_only=True,
                                 help_text="What the reviewer confirmed or disputed of each item's evidence.")

    class Meta:
        model = ReviewDecision
        fields = ["id", "reviewer", "decision", "comment", "content_hash", "created_at", "verdicts"]
        read_only_fields = fields


class ReviewSerializer(serializers.ModelSerializer):
    version = serializers.PrimaryKeyRelatedField(read_only=True)
    version_label = serializers.CharField(source="version.version", read_only=True)
    model = serializers.CharField(source="version.model.slug", read_only=True)
    approvals = serializers.IntegerField(read_only=True, help_text="Distinct reviewers who approved this round.")
    required_approvals = serializers.IntegerField(
        read_only=True, help_text="Approvals the policy demanded when the round opened (history).")
    required_approvals_now = serializers.IntegerField(
        read_only=True, help_text="Approvals the model's current tier and policy demand: what the gate checks.")
    submitted_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    owner_acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    assignees = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    page = serializers.SerializerMethodField(help_text="The review's page in the portal.")

    class Meta:
        model = Review
        fields = ["id", "version", "version_label", "model", "round", "state", "checklists", "required_approvals",
                  "required_approvals_now", "approvals", "policy_label", "content_hash", "created_by", "created_at",
                  "submitted_by", "submitted_at", "decided_at", "owner_acknowledged_by", "owner_acknowledged_at",
                  "assignees", "page"]
        read_only_fields = fields

    def get_page(self, review) -> str:
        request = self.context.get("request")
        url = review.get_absolute_url()
        return request.build_absolute_uri(url) if request else url


class ReviewDetailSerializer(ReviewSerializer):
    answers = AnswerSerializer(many=True, read_only=True)
    decisions = DecisionSerializer(many=True, read_only=True)

    class Meta(ReviewSerializer.Meta):
        fields = [*ReviewSerializer.Meta.fields, "answers", "decisions"]
        read_only_fields = fields


class StartSerializer(serializers.Serializer):
    version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all(),
                                                 help_text="Id of the model version to review.")


class AnswerInputSerializer(serializers.Serializer):
    item = serializers.IntegerField(help_text="Checklist item id (``answers[].item`` of the review).")
    answer = serializers.ChoiceField(choices=ChecklistAnswer.Answer.choices, allow_blank=True, default="")
    evidence = serializers.CharField(allow_blank=True, default="", help_text="Replaces the item's evidence text.")
    evidence_link = serializers.URLField(allow_blank=True, default="", max_length=500)
    evidence_file = serializers.FileField(required=False, help_text="Multipart upload; hashed into the reviewed "
                                                                    "content.")


class VerdictInputSerializer(serializers.Serializer):
    item = serializers.IntegerField(help_text="Checklist item id (``answers[].item``, or the owner-acknowledged item).")
    verdict = serializers.ChoiceField(choices=ChecklistVerdict.Verdict.choices)
    reason = serializers.CharField(allow_blank=True, default="", help_text="Required to dispute.")


class DecideSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=ReviewDecision.Decision.choices)
    verdicts = VerdictInputSerializer(many=True, required=False, default=list,
                                      help_text="Confirm or dispute items' evidence; disputing rules out approving.")
    comment = serializers.CharField(allow_blank=True, default="",
                                    help_text="Required to request changes or reject.")
    seen_hash = serializers.CharField(required=False, allow_blank=True,
                                      help_text="The review's content_hash you read; a different one means 409.")

    def validate_verdicts(self, value) -> dict[int, tuple[str, str]]:
        items = [v["item"] for v in value]
        if len(items) != len(set(items)):
            raise serializers.ValidationError("One verdict per item.")
        return {v["item"]: (v["verdict"], v["reason"]) for v in value}


class AssignSerializer(serializers.Serializer):
    reviewer = serializers.SlugRelatedField(slug_field="username",
                                            queryset=get_user_model().objects.filter(is_active=True))


class AcknowledgeSerializer(serializers.Serializer):
    confirm = serializers.BooleanField(help_text="true: you, the accountable owner, take responsibility.")

    def validate_confirm(self, value):
        if not value:
            raise serializers.ValidationError("Send true to acknowledge responsibility.")
        return value


class WithdrawSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Why the round stops (audited).")
