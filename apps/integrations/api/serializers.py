from django.contrib.auth import get_user_model
from rest_framework import serializers

from apps.integrations.models import MlflowServer, SyncConflict, SyncRun
from apps.inventory.models import Team


class MlflowServerSerializer(serializers.ModelSerializer):
    """A server as read back: where its credential comes from, never the credential."""

    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(),
                                        help_text="Team (slug) of the models the sync registers.")
    owner = serializers.SlugRelatedField(slug_field="username",
                                         queryset=get_user_model().objects.filter(is_active=True),
                                         help_text="Accountable owner (username) of the models the sync registers.")
    credential = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=500,
                                       help_text="A token, or user:password for basic. Stored, never shown back.")
    credential_source = serializers.CharField(read_only=True)
    open_conflicts = serializers.IntegerField(read_only=True)

    class Meta:
        model = MlflowServer
        fields = ["id", "name", "key", "url", "auth", "credential_env", "credential", "credential_source", "team",
                  "owner", "enabled", "page_size", "open_conflicts", "created_at"]
        read_only_fields = ["id", "key", "credential_source", "open_conflicts", "created_at"]
        extra_kwargs = {"name": {"validators": []}}


class SyncRunSerializer(serializers.ModelSerializer):
    server = serializers.PrimaryKeyRelatedField(read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    counts = serializers.JSONField(read_only=True, help_text="models_seen, versions_created, tags_written, ...")
    errors = serializers.JSONField(read_only=True)

    class Meta:
        model = SyncRun
        fields = ["id", "server", "status", "trigger", "requested_by", "pages", "counts", "errors", "resumed_from",
                  "created_at", "started_at", "finished_at"]
        read_only_fields = fields


class SyncConflictSerializer(serializers.ModelSerializer):
    version = serializers.SerializerMethodField()
    portal_value = serializers.JSONField(read_only=True)
    mlflow_value = serializers.JSONField(read_only=True)

    class Meta:
        model = SyncConflict
        fields = ["id", "version", "field", "portal_value", "mlflow_value", "first_seen_at", "last_seen_at"]
        read_only_fields = fields

    def get_version(self, conflict) -> str:
        return conflict.version.get_absolute_url()


class TestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="Whether the registry answered.")
    detail = serializers.CharField(help_text="What was found, or why it failed and what to check.")
