"""MLflow servers API, for admins: connect, test, sync on demand, the sync log and the open conflicts."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.errors import DomainError, PermissionDeniedError
from apps.core.roles import Capability
from apps.integrations import selectors, services
from apps.integrations.api import serializers as s
from apps.integrations.models import MlflowServer

ERRORS = {400: OpenApiResponse(description="Invalid input; the body names the field."),
          403: OpenApiResponse(description="Only admins connect and sync MLflow servers."),
          409: OpenApiResponse(description="A sync of this server is already queued or running.")}


@extend_schema_view(
    list=extend_schema(summary="List connected MLflow servers (never their credentials)"),
    retrieve=extend_schema(summary="Get one MLflow server"),
    create=extend_schema(summary="Connect an MLflow server", responses={201: s.MlflowServerSerializer, **ERRORS}),
    destroy=extend_schema(summary="Disconnect a server (its models stay in the inventory)",
                          responses={204: None, **ERRORS}),
)
class MlflowServerViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.MlflowServerSerializer
    read_capability = Capability.MANAGE_INTEGRATIONS
    write_capability = Capability.MANAGE_INTEGRATIONS
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        return selectors.servers()

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        server = services.server_create(actor=request.user, **serializer.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=server.pk)).data,
                        status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        services.server_delete(actor=request.user, server=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Queue a sync now (the new run); follow it in the sync log", request=None,
                   responses={201: s.SyncRunSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        run = services.sync_request(actor=request.user, server=self.get_object())
        run.refresh_from_db()
        return Response(s.SyncRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Test the connection (one read of the registry); ok false says why it failed",
                   request=None, responses={200: s.TestResultSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        server = self.get_object()
        try:
            return Response({"ok": True, "detail": services.server_test(actor=request.user, server=server)})
        except PermissionDeniedError:
            raise
        except DomainError as exc:
            return Response({"ok": False, "detail": exc.message})

    @extend_schema(summary="Fields changed both in the portal and in MLflow (the portal's value is kept)",
                   responses={200: s.SyncConflictSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def conflicts(self, request, pk=None):
        rows = selectors.open_conflicts(self.get_object())
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.SyncConflictSerializer(page, many=True).data)


@extend_schema_view(list=extend_schema(summary="The sync log, newest first (filter: ?server=<id>)"),
                    retrieve=extend_schema(summary="One sync run: counts and errors"))
class SyncRunViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.SyncRunSerializer
    read_capability = Capability.MANAGE_INTEGRATIONS
    ordering_fields = ["created_at"]

    def get_queryset(self):
        server = self.request.query_params.get("server", "")
        if server.isdigit():
            return selectors.runs(server=MlflowServer(pk=int(server)))
        return selectors.runs()
