from rest_framework import serializers

from apps.notifications import webhooks
from apps.notifications.models import WebhookDelivery, WebhookSubscription


class WebhookSerializer(serializers.ModelSerializer):
    """A subscription as read back: never its secret."""

    events = serializers.ListField(child=serializers.ChoiceField(choices=sorted(webhooks.EVENT_NAMES)),
                                   allow_empty=False, help_text="The events this URL receives.")
    url = serializers.CharField(max_length=500, help_text="http(s); internal addresses are refused.")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    failed_count = serializers.IntegerField(read_only=True, help_text="Deliveries that gave up.")

    class Meta:
        model = WebhookSubscription
        fields = ["id", "name", "url", "events", "created_by", "created_at", "failed_count"]
        read_only_fields = ["id", "created_by", "created_at", "failed_count"]


class WebhookCreatedSerializer(WebhookSerializer):
    """The answer to the creation, the only one that holds the signing secret."""

    secret = serializers.CharField(source="plain_secret", read_only=True,
                                   help_text="Signs every delivery. Shown this once.")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    subscription = serializers.PrimaryKeyRelatedField(read_only=True)
    log = serializers.JSONField(read_only=True, help_text="Every attempt: at, response_code, duration_ms, error.")
    payload = serializers.JSONField(read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "subscription", "event", "status", "attempts", "response_code", "duration_ms", "error",
                  "next_attempt_at", "delivered_at", "created_at", "log", "payload"]
        read_only_fields = fields
