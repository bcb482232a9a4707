from django.contrib.auth import get_user_model
from rest_framework import serializers

from apps.core.models import AuditEvent
from apps.core.roles import user_roles


class MeSerializer(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField()

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "first_name", "last_name", "email", "roles"]
        read_only_fields = fields

    def get_roles(self, user) -> list[str]:
        return sorted(role.value for role in user_roles(user))


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id", "seq", "created_at", "actor_username", "action", "object_type", "object_id",
            "object_repr", "changes", "reason", "request_id", "prev_hash", "hash",
        ]
        read_only_fields = fields
