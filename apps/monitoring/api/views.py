"""Monitoring API: evaluation uploads (the contract of the client), results, alerts and metric windows."""

from django.db.models import F
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.schema import DetailSerializer
from apps.core.params import query_int
from apps.core.roles import Capability
from apps.inventory.models import ModelVersion
from apps.monitoring import selectors, services
from apps.monitoring.api import serializers as s
from apps.monitoring.models import Alert, Evaluation, MetricWindow

REJECTED = OpenApiResponse(s.UploadErrorSerializer, description="The file was refused; nothing was stored. "
                           "`problems` names each column and the first offending rows.")
IDEMPOTENCY = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
                               description="At most 255 characters. Replaying an upload with the same key, file "
                               "and options returns the first evaluation; another file or other options are a 409.")


@extend_schema_view(
    list=extend_schema(summary="List evaluations (filter: model_version, kind, status); metrics are on each "
                               "evaluation's own answer"),
    retrieve=extend_schema(summary="An evaluation's status, error, row count and metrics"),
)
class EvaluationViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.EvaluationSerializer
    parser_classes = [MultiPartParser, FormParser]
    read_capability = Capability.VIEW_PORTFOLIO
    write_capability = Capability.UPLOAD_EVALUATION
    filterset_fields = {"kind": ["exact"], "status": ["exact"]}

    def get_serializer_class(self):
        return s.EvaluationListSerializer if self.action == "list" else s.EvaluationSerializer

    def filter_queryset(self, queryset):
        # A list never loads the metrics documents it does not show.
        queryset = super().filter_queryset(queryset)
        return queryset.defer("metrics") if self.action == "list" else queryset

    def get_queryset(self):
        queryset = selectors.with_label_arrivals(
            Evaluation.objects.select_related("version__model", "created_by").order_by("-created_at"))
        version = query_int(self.request.query_params, "model_version")
        return queryset if version is None else queryset.filter(version_id=version)

    @extend_schema(summary="Upload an evaluation file; metrics are computed by a worker",
                   request={"multipart/form-data": s.EvaluationUploadSerializer}, parameters=[IDEMPOTENCY],
                   responses={201: s.EvaluationSerializer, 200: s.EvaluationSerializer, 400: REJECTED,
                              403: OpenApiResponse(description="Only data scientists and admins upload.")})
    def create(self, request, *args, **kwargs):
        body = s.EvaluationUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        upload = data["file"]
        evaluation, created = services.evaluation_upload(
            actor=request.user, version=data["model_version"], data=upload.read(), filename=upload.name,
            kind=data["kind"], sensitive_features=data["sensitive_features"], positive_label=data["positive_label"],
            columns={"target": data["target_column"], "prediction": data["prediction_column"],
                     "score": data["score_column"], "timestamp": data["timestamp_column"]},
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            prediction_id_column=data["prediction_id_column"])
        response = Response(s.EvaluationSerializer(evaluation).data,
                            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
        response["Location"] = f"/api/v1/evaluations/{evaluation.pk}/"
        if not created:
            response["Idempotent-Replayed"] = "true"
        return response


    @extend_schema(summary="Register an evaluation of a Parquet data set that stays where it is (by path or "
                           "s3:// URL, and SHA-256); a worker reads it in place",
                   description="A path must be a file under PORTAL_DATA_ROOTS; an s3://bucket/key URL an object "
                               "in PORTAL_DATA_BUCKETS, read with the portal's object-store credentials. Only the "
                               "footer is read here. The worker pins the object (ETag, VersionId), checks its "
                               "SHA-256 and reads it in batches by ranged GETs with If-Match: an object replaced "
                               "meanwhile fails the evaluation (\"the object ... changed since it was registered\").",
                   request=s.EvaluationReferenceSerializer, responses={
                       201: s.EvaluationSerializer,
                       400: OpenApiResponse(description="Registration by reference is off (PORTAL_DATA_ROOTS, or "
                                                        "for s3:// URLs PORTAL_DATA_BUCKETS, is empty), or the path "
                                                        "or key is outside the allowed folders or buckets, missing, "
                                                        "not Parquet, or lacks a named column."),
                       403: OpenApiResponse(description="Only the model's team (data scientists) and admins.")})
    @action(detail=False, methods=["post"], url_path="by-reference", parser_classes=[JSONParser])
    def by_reference(self, request):
        body = s.EvaluationReferenceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        evaluation = services.evaluation_register(
            actor=request.user, version=data["model_version"], path=data["path"], sha256=data["sha256"],
            kind=data["kind"], sensitive_features=data["sensitive_features"], positive_label=data["positive_label"],
            columns={"target": data["target_column"], "prediction": data["prediction_column"],
                     "score": data["score_column"], "timestamp": data["timestamp_column"]})
        response = Response(s.EvaluationSerializer(evaluation).data, status=status.HTTP_201_CREATED)
        response["Location"] = f"/api/v1/evaluations/{evaluation.pk}/"
        return response

    @extend_schema(summary="Add the outcomes of a production evaluation's predictions (late labels); the worker "
                           "recomputes its performance, fairness and label coverage, and the windows it overlaps",
                   request={"multipart/form-data": s.LabelUploadSerializer},
                   responses={201: s.LabelBatchSerializer, 400: REJECTED,
                              409: OpenApiResponse(description="The evaluation was uploaded with its outcomes.")})
    @action(detail=True, methods=["post"])
    def labels(self, request, pk=None):
        body = s.LabelUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        batch = services.evaluation_labels_add(actor=request.user, evaluation=self.get_object(), data=upload.read(),
                                               filename=upload.name)
        batch.evaluation.refresh_from_db(fields=["status"])
        return Response(s.LabelBatchSerializer(batch).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Ask again for a failed explanation of an evaluation's outputs; a worker computes it",
                   description="For a done evaluation whose explanation failed (an error, or given up after its "
                               "workers stopped PORTAL_TASK_MAX_ATTEMPTS times): the explanation is pending again, "
                               "with its `explanation_attempts` counted from 0, and a worker stores it in "
                               "`metrics.explanations`: poll the evaluation until that one's `status` is no longer "
                               "\"pending\". Like an upload, a write to the model: its team's data scientists and "
                               "admins.",
                   request=None, responses={
                       202: s.EvaluationSerializer,
                       403: OpenApiResponse(DetailSerializer, description="Only data scientists of the model's "
                                                                          "team and admins."),
                       409: OpenApiResponse(DetailSerializer, description="The explanation is not failed: it is "
                                                                          "being computed or stored, the evaluation "
                                                                          "is not done, or it has none.")})
    @action(detail=True, methods=["post"])
    def explain(self, request, pk=None):
        evaluation = services.evaluation_explanation_retry(actor=request.user, evaluation=self.get_object())
        return Response(s.EvaluationSerializer(evaluation).data, status=status.HTTP_202_ACCEPTED)


class ReferenceUploadView(APIView):
    parser_classes = [MultiPartParser, FormParser]
    read_capability = Capability.VIEW_PORTFOLIO
    write_capability = Capability.UPLOAD_EVALUATION

    @extend_schema(summary="Upload a version's reference data (training features) for drift",
                   request={"multipart/form-data": s.ReferenceUploadSerializer},
                   responses={201: s.ReferenceSerializer, 400: REJECTED}, operation_id="model_versions_reference")
    def post(self, request, pk: int):
        version = get_object_or_404(ModelVersion, pk=pk)
        body = s.ReferenceUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        reference = services.reference_upload(actor=request.user, version=version, data=upload.read(),
                                              filename=upload.name)
        return Response(s.ReferenceSerializer(reference).data, status=status.HTTP_201_CREATED)


@extend_schema_view(list=extend_schema(summary="List alerts (filter: status, severity, model slug)"),
                    retrieve=extend_schema(summary="One alert"))
class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.AlertSerializer
    read_capability = Capability.VIEW_PORTFOLIO
    write_capability = Capability.TRIAGE_ALERT
    filterset_fields = {"status": ["exact"], "severity": ["exact"]}

    def get_queryset(self):
        queryset = Alert.objects.select_related("model").order_by("-created_at")
        model = self.request.query_params.get("model")
        return queryset.filter(model__slug=model) if model else queryset

    @extend_schema(summary="Acknowledge an alert", request=None, responses={200: s.AlertSerializer})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        return Response(s.AlertSerializer(services.alert_acknowledge(actor=request.user, alert=self.get_object())).data)

    @extend_schema(summary="Resolve an alert", request=None, responses={200: s.AlertSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        return Response(s.AlertSerializer(services.alert_resolve(actor=request.user, alert=self.get_object())).data)


@extend_schema_view(list=extend_schema(summary="Metric time series: one row per version and window, with its overall "
                                               "metrics; per-group and drift metrics are on each window's own answer"),
                    retrieve=extend_schema(summary="One metric window, with all its metrics"))
class MetricWindowViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.MetricWindowSerializer
    read_capability = Capability.VIEW_PORTFOLIO
    filterset_fields = {"version": ["exact"], "cadence": ["exact"]}
    queryset = MetricWindow.objects.order_by("version", "window_start")

    def get_serializer_class(self):
        return s.MetricWindowListSerializer if self.action == "list" else s.MetricWindowSerializer

    def filter_queryset(self, queryset):
        # The database extracts the overall metrics; the whole document never leaves it for a list.
        queryset = super().filter_queryset(queryset)
        if self.action == "list":
            return queryset.defer("metrics").annotate(overall_metrics=F("metrics__overall"))
        return queryset
