"""Use-case intake API: list and propose, read and edit a draft, submit, decide, withdraw."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from apps.compliance import evaluation as ev
from apps.compliance import selectors_intake as selectors
from apps.compliance import services_intake as services
from apps.compliance.filters_intake import UseCaseFilter
from apps.compliance.models import UseCase
from apps.core.roles import Capability
from apps.inventory.models import BusinessProcess

REFUSALS = {
    400: OpenApiResponse(description='An answer is missing or inconsistent: `{"detail": ..., "field": ...}` or '
                                     '`{"<field>": ["message"]}`.'),
    403: OpenApiResponse(description="Your role may not, or this is someone else's proposal, or you proposed or "
                                     "own it and so may not decide it (four-eyes)."),
    409: OpenApiResponse(description="The use case is not in a state that allows this (e.g. deciding a draft)."),
}


class UseCaseSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True, help_text="UC-<id>: what a model registration names.")
    business_owner = serializers.SlugRelatedField(
        slug_field="username", queryset=UseCase._meta.get_field("business_owner").related_model.objects.filter(
            is_active=True), help_text="Username of the person who would be accountable.")
    business_process = serializers.SlugRelatedField(slug_field="slug", queryset=BusinessProcess.objects.all(),
                                                    help_text="Slug of the business process.")
    eu_category = serializers.ChoiceField(choices=list(ev.EU_CATEGORIES.items()))
    annex_iii_area = serializers.ChoiceField(choices=list(ev.ANNEX_III_AREAS.items()), required=False,
                                             default="none")
    role = serializers.ChoiceField(choices=list(ev.ROLES.items()))
    proposed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    model = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True,
                                         help_text="Slug of the model registered from it, once there is one.")
    tier_derivation = serializers.ListField(child=serializers.CharField(), read_only=True,
                                            help_text="How the preliminary tier was derived, step by step.")

    class Meta:
        model = UseCase
        fields = ["id", "reference", *services.USE_CASE_FIELDS, "preliminary_tier", "tier_derivation",
                  "matrix_version", "state", "proposed_by", "submitted_at", "decided_by", "decided_at",
                  "decision_reason", "model", "registered_at", "created_at", "updated_at"]
        read_only_fields = ["preliminary_tier", "matrix_version", "state", "submitted_at", "decided_at",
                            "decision_reason", "registered_at", "created_at", "updated_at"]


class UseCaseDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=services.DECISION_CHOICES)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000,
                                   help_text="Required to decline.")


class UseCaseWithdrawSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


def _answer(use_case: UseCase, code=status.HTTP_200_OK) -> Response:
    return Response(UseCaseSerializer(selectors.use_cases().get(pk=use_case.pk)).data, status=code)


class UseCaseListView(GenericAPIView):
    read_capability = Capability.VIEW_PORTFOLIO
    write_capability = Capability.PROPOSE_USE_CASE
    serializer_class = UseCaseSerializer
    filterset_class = UseCaseFilter

    def get_queryset(self):
        return selectors.use_cases()

    @extend_schema(summary="List use cases, newest first (filter: q, state, preliminary_tier, eu_category, "
                           "business_unit, registered)", responses={200: UseCaseSerializer(many=True)})
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(UseCaseSerializer(page, many=True).data)

    @extend_schema(summary="Propose a use case (a draft; audited); its preliminary tier is computed",
                   request=UseCaseSerializer, responses={201: UseCaseSerializer, **REFUSALS})
    def post(self, request):
        body = UseCaseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return _answer(services.use_case_propose(actor=request.user, **body.validated_data),
                       status.HTTP_201_CREATED)


class UseCaseDetailView(GenericAPIView):
    read_capability = Capability.VIEW_PORTFOLIO
    write_capability = Capability.PROPOSE_USE_CASE
    serializer_class = UseCaseSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.use_cases()

    @extend_schema(summary="One use case, with how its preliminary tier was derived",
                   responses={200: UseCaseSerializer})
    def get(self, request, pk: int):
        return Response(UseCaseSerializer(get_object_or_404(self.get_queryset(), pk=pk)).data)

    @extend_schema(summary="Change a draft's answers (its proposer or an admin; audited)",
                   request=UseCaseSerializer, responses={200: UseCaseSerializer, **REFUSALS})
    def patch(self, request, pk: int):
        use_case = get_object_or_404(self.get_queryset(), pk=pk)
        body = UseCaseSerializer(use_case, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        if not body.validated_data:
            raise ValidationError({"detail": "Send at least one answer to change."})
        return _answer(services.use_case_update(actor=request.user, use_case=use_case, **body.validated_data))


class _Transition(GenericAPIView):
    read_capability = Capability.VIEW_PORTFOLIO
    serializer_class = UseCaseSerializer
    http_method_names = ["post", "options"]

    def get_queryset(self):
        return selectors.use_cases()

    def use_case(self, pk: int) -> UseCase:
        return get_object_or_404(self.get_queryset(), pk=pk)


class UseCaseSubmitView(_Transition):
    write_capability = Capability.PROPOSE_USE_CASE

    @extend_schema(summary="Submit a draft for a decision; the reviewers are notified (audited)", request=None,
                   responses={200: UseCaseSerializer, **REFUSALS})
    def post(self, request, pk: int):
        return _answer(services.use_case_submit(actor=request.user, use_case=self.use_case(pk)))


class UseCaseDecideView(_Transition):
    write_capability = Capability.DECIDE_USE_CASE
    serializer_class = UseCaseDecisionSerializer

    @extend_schema(summary="Approve or decline a submitted use case (four-eyes; audited; the proposer is "
                           "notified)", request=UseCaseDecisionSerializer,
                   responses={200: UseCaseSerializer, **REFUSALS})
    def post(self, request, pk: int):
        body = UseCaseDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return _answer(services.use_case_decide(actor=request.user, use_case=self.use_case(pk),
                                                **body.validated_data))


class UseCaseWithdrawView(_Transition):
    write_capability = Capability.PROPOSE_USE_CASE
    serializer_class = UseCaseWithdrawSerializer

    @extend_schema(summary="Withdraw a draft or submitted use case (its proposer or an admin; audited)",
                   request=UseCaseWithdrawSerializer, responses={200: UseCaseSerializer, **REFUSALS})
    def post(self, request, pk: int):
        body = UseCaseWithdrawSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return _answer(services.use_case_withdraw(actor=request.user, use_case=self.use_case(pk),
                                                  **body.validated_data))
