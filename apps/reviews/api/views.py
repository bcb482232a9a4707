"""Reviews API: read every round; act on one through the same services as the pages.

Each action validates its body with a serializer, calls one service and answers with the review as a
GET would show it. Refusals come back as ``{"detail", "field"}``: 400 invalid, 403 not allowed (role,
four-eyes rule, not the accountable owner), 409 illegal transition or stale content.
"""

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.roles import Capability
from apps.inventory.api.serializers import ErrorSerializer
from apps.reviews import selectors, services
from apps.reviews.api import serializers as s
from apps.reviews.models import ChecklistAnswer, ReviewDecision

# What each write needs. The services check the rest (four-eyes rule, ownership, state).
ACTION_CAPABILITIES = {
    "create": Capability.OPEN_REVIEW, "answers": Capability.OPEN_REVIEW, "submit": Capability.OPEN_REVIEW,
    "withdraw": Capability.WITHDRAW_REVIEW, "decide": Capability.DECIDE_REVIEW,
    "assign": Capability.ASSIGN_REVIEWER, "acknowledge": Capability.ACKNOWLEDGE_REVIEW,
}
ERRORS = {
    400: OpenApiResponse(description='Invalid input: `{"<field>": ["message"]}`, or `{"detail": ..., "field": ...}` '
                                     "when a rule of the portal refuses it."),
    403: OpenApiResponse(ErrorSerializer, description="Your role, the four-eyes rule or ownership forbids it."),
    404: OpenApiResponse(description="No such review."),
    409: OpenApiResponse(ErrorSerializer, description="Illegal transition from the review's state, or the "
                                                      "reviewed content changed."),
}


def _action_schema(summary: str, request=None, ok_status: int = 200):
    return extend_schema(summary=summary, request=request, responses={ok_status: s.ReviewDetailSerializer, **ERRORS})


@extend_schema_view(
    list=extend_schema(summary="List review rounds (filters: state, version, model slug, q)"),
    retrieve=extend_schema(summary="Get one review round with its answers and decisions",
                           responses={200: s.ReviewDetailSerializer, 404: ERRORS[404]}),
    create=_action_schema("Open a review round of a version (data scientists, admins)", s.StartSerializer, 201),
)
class ReviewViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    read_capability = Capability.VIEW_PORTFOLIO
    filterset_class = selectors.ReviewFilter
    search_fields = ["version__model__name", "version__version"]
    ordering_fields = ["created_at", "updated_at", "submitted_at", "decided_at"]

    @property
    def write_capability(self) -> Capability | None:
        return ACTION_CAPABILITIES.get(self.action)

    def get_queryset(self):
        queryset = selectors.reviews().prefetch_related("assignees")
        if self.action == "list":
            return queryset
        return queryset.prefetch_related(
            Prefetch("answers", queryset=ChecklistAnswer.objects.select_related("item").order_by(
                "item__checklist", "item__order", "item__key")),
            Prefetch("decisions", queryset=ReviewDecision.objects.select_related("reviewer")),
            "decisions__verdicts__item")

    def get_serializer_class(self):
        return s.ReviewSerializer if self.action == "list" else s.ReviewDetailSerializer

    def _body(self, serializer_class) -> dict:
        body = serializer_class(data=self.request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        return dict(body.validated_data)

    def _respond(self, review, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=review.pk)
        return Response(s.ReviewDetailSerializer(fresh, context=self.get_serializer_context()).data,
                        status=status_code)

    def create(self, request, *args, **kwargs):
        review = services.review_start(actor=request.user, **self._body(s.StartSerializer))
        return self._respond(review, status.HTTP_201_CREATED)

    @_action_schema("Answer one checklist item of a draft (replaces its answer, evidence and link)",
                    s.AnswerInputSerializer)
    @action(detail=True, methods=["post"])
    def answers(self, request, pk=None):
        body = self._body(s.AnswerInputSerializer)
        review = self.get_object()
        services.review_answer(actor=request.user, review=review, item_id=body.pop("item"), **body)
        return self._respond(review)

    @_action_schema("Submit a draft for review: freezes the answers and the content hash")
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return self._respond(services.review_submit(actor=request.user, review=self.get_object()))

    @_action_schema("Approve, request changes or reject (reviewers other than the authors)", s.DecideSerializer)
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        body = self._body(s.DecideSerializer)
        review = self.get_object()
        services.review_decide(actor=request.user, review=review, decision=body["decision"],
                               comment=body["comment"], seen_hash=body.get("seen_hash") or None,
                               verdicts=body.get("verdicts") or {})
        return self._respond(review)

    @_action_schema("Assign a reviewer (by username) who has no part in the version", s.AssignSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        body = self._body(s.AssignSerializer)
        return self._respond(services.review_assign(actor=request.user, review=self.get_object(),
                                                    reviewer=body["reviewer"]))

    @_action_schema("The model's accountable owner acknowledges responsibility", s.AcknowledgeSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        self._body(s.AcknowledgeSerializer)
        return self._respond(services.review_acknowledge(actor=request.user, review=self.get_object()))

    @_action_schema("Withdraw an open round (its opener, submitter or an admin)", s.WithdrawSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        body = self._body(s.WithdrawSerializer)
        return self._respond(services.review_withdraw(actor=request.user, review=self.get_object(),
                                                      reason=body["reason"]))
