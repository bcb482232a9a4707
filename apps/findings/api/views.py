"""Findings and incidents API: lists with the pages' filters, details, and writes through the services."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.roles import Capability
from apps.findings import selectors, services
from apps.findings.api import serializers as s
from apps.findings.filters import FindingFilter, IncidentFilter

ERRORS = {400: OpenApiResponse(description="Invalid input; the body names the field."),
          403: OpenApiResponse(description="Your role cannot do this, or not on this object.")}


@extend_schema_view(
    list=extend_schema(summary="List validation findings (filters: q, status, open, severity, model, owner, overdue)"),
    retrieve=extend_schema(summary="Get one finding"),
    create=extend_schema(summary="Raise a finding against a model version (reviewers, admins)",
                         responses={201: s.FindingSerializer, **ERRORS}),
    partial_update=extend_schema(summary="Change a finding; its owner and the model's team change only the "
                                         "remediation", request=s.FindingUpdateSerializer,
                                 responses={200: s.FindingSerializer, **ERRORS}),
)
class FindingViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.FindingSerializer
    filterset_class = FindingFilter
    read_capability = Capability.VIEW_PORTFOLIO
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.findings_list().order_by("-created_at", "-pk")

    @property
    def write_capability(self) -> Capability:
        return Capability.RAISE_FINDING if self.action == "create" else Capability.REMEDIATE_FINDING

    def get_serializer_class(self):
        return s.FindingUpdateSerializer if self.action == "partial_update" else s.FindingSerializer

    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        finding = services.finding_raise(actor=request.user, **body.validated_data)
        return Response(s.FindingSerializer(selectors.finding_detail(finding.pk)).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        body = self.get_serializer(self.get_object(), data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        finding = services.finding_update(actor=request.user, finding=self.get_object(), **body.validated_data)
        return Response(s.FindingSerializer(selectors.finding_detail(finding.pk)).data)

    @extend_schema(summary="Move a finding: open, remediating, closed (closing: a note, and not by its owner)",
                   request=s.StatusMoveSerializer, responses={200: s.FindingSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        body = s.StatusMoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        finding = services.finding_transition(actor=request.user, finding=self.get_object(), **body.validated_data)
        return Response(s.FindingSerializer(selectors.finding_detail(finding.pk)).data)


@extend_schema_view(
    list=extend_schema(summary="List incidents (filters: q, status, serious, model)"),
    retrieve=extend_schema(summary="Get one incident with its timeline and reporting deadline"),
    create=extend_schema(summary="Record an incident of a model", responses={201: s.IncidentSerializer, **ERRORS}),
    partial_update=extend_schema(summary="Change what is known of an incident", request=s.IncidentUpdateSerializer,
                                 responses={200: s.IncidentSerializer, **ERRORS}),
)
class IncidentViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.IncidentSerializer
    filterset_class = IncidentFilter
    read_capability = Capability.VIEW_PORTFOLIO
    write_capability = Capability.RECORD_INCIDENT
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.incidents_list().prefetch_related("entries__author").order_by("-aware_at", "-pk")

    def get_serializer_class(self):
        return s.IncidentUpdateSerializer if self.action == "partial_update" else s.IncidentSerializer

    def _data(self, incident) -> dict:
        return s.IncidentSerializer(self.get_queryset().get(pk=incident.pk)).data

    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = services.incident_open(actor=request.user, **body.validated_data)
        return Response(self._data(incident), status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        body = self.get_serializer(self.get_object(), data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        incident = services.incident_update(actor=request.user, incident=self.get_object(), **body.validated_data)
        return Response(self._data(incident))

    @extend_schema(summary="Add a dated entry to the incident's timeline", request=s.IncidentEntrySerializer,
                   responses={201: s.IncidentSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def entries(self, request, pk=None):
        body = s.IncidentEntrySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = self.get_object()
        services.incident_add_entry(actor=request.user, incident=incident, **body.validated_data)
        return Response(self._data(incident), status=status.HTTP_201_CREATED)

    @extend_schema(summary="Move an incident: open, contained, closed (closing: reviewers and admins, once root "
                           "cause, corrective actions and any owed report are recorded)",
                   request=s.StatusMoveSerializer, responses={200: s.IncidentSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        body = s.StatusMoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = services.incident_transition(actor=request.user, incident=self.get_object(),
                                                **body.validated_data)
        return Response(self._data(incident))
