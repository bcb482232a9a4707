from rest_framework import generics, viewsets

from apps.core.api.serializers import AuditEventSerializer, MeSerializer
from apps.core.filters import AuditEventFilter
from apps.core.models import AuditEvent
from apps.core.roles import Capability


class MeView(generics.RetrieveAPIView):
    """The authenticated user and their roles."""

    serializer_class = MeSerializer
    read_capability = Capability.VIEW_PORTFOLIO

    def get_object(self):
        return self.request.user


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit trail, newest first. Read-only for everyone: events cannot be changed or deleted."""

    queryset = AuditEvent.objects.order_by("-seq")
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    search_fields = []
    ordering_fields = ["seq", "created_at"]
    read_capability = Capability.VIEW_PORTFOLIO
