"""Compliance API: the frameworks in force, a model's compliance and classification, the portfolio coverage, and
the documents generated for a version."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.compliance import selectors, services
from apps.compliance.api import serializers as s
from apps.compliance.models import Classification
from apps.compliance.views import document_response
from apps.core.api.schema import BAD_FILTER, NOT_FOUND
from apps.core.roles import Capability
from apps.findings.selectors import findings_list
from apps.inventory.models import MLModel

FILTERS = [
    OpenApiParameter("q", str, description="Model name or purpose contains"),
    OpenApiParameter("business_unit", str, description="A business unit's slug"),
    OpenApiParameter("eu_category", str, enum=list(s.ev.EU_CATEGORIES)),
    OpenApiParameter("annex_iii_area", str, enum=list(s.ev.ANNEX_III_AREAS)),
    OpenApiParameter("classified", bool),
]


class FrameworkListView(APIView):
    read_capability = Capability.VIEW_PORTFOLIO

    @extend_schema(summary="The frameworks in force, each with its published version's controls",
                   responses={200: s.FrameworkSerializer(many=True)})
    def get(self, request):
        data = []
        for framework in selectors.frameworks_in_force():
            version = framework.published[0] if framework.published else None
            data.append({"code": framework.code, "name": framework.name, "description": framework.description,
                         "version": version.version if version else None, "source": version.source if version else None,
                         "controls": s.ControlSerializer(version.controls.all() if version else [], many=True).data})
        return Response(data)


class CoverageView(APIView):
    read_capability = Capability.VIEW_PORTFOLIO

    @extend_schema(summary="Portfolio coverage by framework and by business unit (the per-model views added up)",
                   parameters=FILTERS, responses={200: s.PortfolioCoverageSerializer, 400: BAD_FILTER})
    def get(self, request):
        filterset = selectors.filtered_models(request.query_params)
        if filterset.is_bound and not filterset.is_valid():
            raise ValidationError(filterset.errors)
        return Response(s.portfolio_data(selectors.portfolio_compliance(list(filterset.qs))))


class ModelComplianceView(APIView):
    read_capability = Capability.VIEW_PORTFOLIO

    @extend_schema(summary="A model's applicable controls with status, evidence (linked, dated) and fixes",
                   responses={200: s.ModelComplianceSerializer, 404: NOT_FOUND})
    def get(self, request, slug: str):
        model = get_object_or_404(selectors.models_for_compliance(), slug=slug)
        return Response(s.model_compliance_data(selectors.model_compliance(model)))


class ClassificationView(APIView):
    read_capability = Capability.VIEW_PORTFOLIO
    write_capability = Capability.CLASSIFY_MODEL
    http_method_names = ["get", "put", "head", "options"]

    def _model(self, slug: str) -> MLModel:
        return get_object_or_404(MLModel.objects.select_related("team"), slug=slug)

    @extend_schema(summary="A model's classification questionnaire",
                   responses={200: s.ClassificationSerializer,
                              404: OpenApiResponse(description="No such model, or it is not classified yet.")})
    def get(self, request, slug: str):
        classification = get_object_or_404(Classification.objects.select_related("classified_by"),
                                           model=self._model(slug))
        return Response(s.ClassificationSerializer(classification).data)

    @extend_schema(summary="Record or change a model's classification (audited)", request=s.ClassificationSerializer,
                   responses={200: s.ClassificationSerializer, 400: OpenApiResponse(
                       description='An answer is missing or inconsistent, by field: `{"<field>": ["message"]}`.')})
    def put(self, request, slug: str):
        model = self._model(slug)
        body = s.ClassificationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        classification = services.classification_save(actor=request.user, model=model, **body.validated_data)
        return Response(s.ClassificationSerializer(classification).data)


class DocumentListView(APIView):
    """A version's generated documents; POST generates the next one of a kind (audited)."""

    read_capability = Capability.VIEW_PORTFOLIO
    write_capability = Capability.GENERATE_DOCUMENT

    @extend_schema(summary="The documents generated for a model version, newest first per kind",
                   responses={200: s.GeneratedDocumentSerializer(many=True), 404: NOT_FOUND})
    def get(self, request, version_id: int):
        found = selectors.version_by_id(version_id)
        return Response(s.GeneratedDocumentSerializer(selectors.documents_of(found), many=True).data)

    @extend_schema(summary="Generate the next Annex IV documentation or SR 11-7 validation report of a version",
                   request=s.DocumentGenerateSerializer,
                   responses={201: s.GeneratedDocumentSerializer, 404: NOT_FOUND, 400: OpenApiResponse(
                       description='The kind is missing or unknown: `{"kind": ["message"]}`.')})
    def post(self, request, version_id: int):
        found = selectors.version_by_id(version_id)
        body = s.DocumentGenerateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        document = services.document_generate(actor=request.user, version=found, kind=body.validated_data["kind"])
        return Response(s.GeneratedDocumentSerializer(document).data, status=201)


class DocumentDownloadView(APIView):
    """The stored bytes of a generated document; ``X-Content-SHA256`` carries their hash."""

    read_capability = Capability.VIEW_PORTFOLIO
    fmt = "pdf"

    @extend_schema(summary="Download a generated document's stored file (PDF or printable HTML)",
                   responses={(200, "application/pdf"): OpenApiTypes.BINARY, (200, "text/html"): OpenApiTypes.STR,
                              404: NOT_FOUND})
    def get(self, request, pk: int):
        return document_response(selectors.document_detail(pk), self.fmt)
class FindingControlsView(APIView):
    read_capability = Capability.VIEW_PORTFOLIO
    write_capability = Capability.RAISE_FINDING
    http_method_names = ["get", "put", "head", "options"]

    @extend_schema(summary="The controls a validation finding concerns",
                   responses={200: s.FindingControlSerializer(many=True), 404: NOT_FOUND})
    def get(self, request, pk: int):
        finding = get_object_or_404(findings_list(), pk=pk)
        return Response(s.FindingControlSerializer(selectors.controls_of_finding(finding), many=True).data)

    @extend_schema(summary="Replace the controls a finding concerns (reviewers and admins; audited)",
                   request=s.FindingControlsWriteSerializer,
                   responses={200: s.FindingControlSerializer(many=True), 404: NOT_FOUND,
                              400: OpenApiResponse(description="A control not in force, or the finding is closed.")})
    def put(self, request, pk: int):
        finding = get_object_or_404(findings_list(), pk=pk)
        body = s.FindingControlsWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        links = services.finding_controls_set(actor=request.user, finding=finding,
                                              controls=body.validated_data["controls"])
        return Response(s.FindingControlSerializer(links, many=True).data)
