"""Risk API: assessments (drafted by reviewers and data scientists, submitted by reviewers) and policies."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.roles import Capability
from apps.risk import selectors, services
from apps.risk.api import serializers as s
from apps.risk.models import GovernancePolicy, RiskAssessment, RiskMatrix

ERRORS = {400: OpenApiResponse(description="Invalid input; the body names the field."),
          403: OpenApiResponse(description="Your role cannot do this."),
          409: OpenApiResponse(description="Stale form, already submitted, or retired model.")}


@extend_schema_view(
    list=extend_schema(summary="List risk assessments (filter: model slug, status, tier)"),
    retrieve=extend_schema(summary="Get one risk assessment with its ratings and mitigations"),
    create=extend_schema(summary="Create a draft assessment", responses={201: s.AssessmentSerializer, **ERRORS}),
)
class AssessmentViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.AssessmentSerializer
    read_capability = Capability.VIEW_PORTFOLIO
    filterset_fields = ["status", "tier"]
    ordering_fields = ["submitted_at", "created_at"]

    def get_queryset(self):
        queryset = (RiskAssessment.objects.select_related("model", "matrix", "policy", "created_by", "submitted_by")
                    .prefetch_related("ratings__mitigations__owner").order_by("-created_at"))
        model = self.request.query_params.get("model")
        return queryset.filter(model__slug=model) if model else queryset

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        draft = services.assessment_save_draft(actor=request.user, model=serializer.validated_data["model"],
                                               ratings=serializer.ratings_payload(), **serializer.context_payload())
        return Response(self.get_serializer(self.get_queryset().get(pk=draft.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Submit a draft: score it, freeze it, supersede the current assessment",
                   request=s.SubmitSerializer, responses={200: s.AssessmentSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        body = s.SubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        assessment = services.assessment_submit(actor=request.user, assessment=self.get_object(),
                                                based_on_id=body.validated_data.get("based_on"))
        return Response(self.get_serializer(self.get_queryset().get(pk=assessment.pk)).data)

    @property
    def write_capability(self) -> Capability:
        return Capability.SUBMIT_ASSESSMENT if self.action == "submit" else Capability.DRAFT_ASSESSMENT


@extend_schema_view(
    list=extend_schema(summary="List governance policies, every version (filter: tier)"),
    retrieve=extend_schema(summary="Get one policy version"),
    create=extend_schema(summary="Publish a new version of a tier's policy (admins)",
                         responses={201: s.PolicySerializer, **ERRORS}),
)
class PolicyViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.PolicySerializer
    queryset = GovernancePolicy.objects.select_related("created_by").order_by("tier", "-version")
    read_capability = Capability.VIEW_PORTFOLIO
    write_capability = Capability.PUBLISH_POLICY
    filterset_fields = ["tier"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        policy = services.policy_publish(actor=request.user, tier=data.pop("tier"), note=data.pop("note"), **data)
        return Response(self.get_serializer(policy).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="The policy in force for each tier", responses={200: s.PolicySerializer(many=True)})
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def current(self, request):
        policies = selectors.current_policies()
        return Response(self.get_serializer(list(policies.values()), many=True).data)


@extend_schema_view(list=extend_schema(summary="Risk matrix versions, newest first"),
                    retrieve=extend_schema(summary="One risk matrix version"))
class MatrixViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.MatrixSerializer
    queryset = RiskMatrix.objects.order_by("-version")
    lookup_field = "version"
    read_capability = Capability.VIEW_PORTFOLIO
