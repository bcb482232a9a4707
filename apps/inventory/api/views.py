"""The inventory API: thin views over the inventory services.

Every role reads; data scientists and admins write, a model and what hangs off it only when it is their
team's or they own it (``apps.core.roles``). Nothing is deleted through the
API (the inventory keeps its history): versions change stage through ``transition``
and deployments end through ``retire``. Each write validates with a serializer and
then calls one service, which checks the rules and records the audit event; a
refusal comes back as ``{"detail", "field"}`` with status 400, 403 or 409.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.roles import Capability
from apps.inventory import services
from apps.inventory.api import representations
from apps.inventory.api import serializers as s
from apps.inventory.filters import (
    BusinessProcessFilter,
    DataSetFilter,
    DeploymentFilter,
    ModelFilter,
    VersionFilter,
)
from apps.inventory.models import (
    BusinessProcess,
    BusinessUnit,
    DataSet,
    Deployment,
    MLModel,
    ModelVersion,
    PipelineStep,
    Team,
)

BAD_REQUEST = OpenApiResponse(
    description='Invalid input: `{"<field>": ["message"]}`, or `{"detail": ..., "field": ...}` when a rule '
    "of the portal refuses it."
)
FORBIDDEN = OpenApiResponse(
    s.ErrorSerializer, description="Your role may read but not change the inventory, or the model belongs to "
    "another team: only its team's members, its owners and admins change it (the detail says whom to ask).")
CONFLICT = OpenApiResponse(s.ErrorSerializer, description="It already exists or its state does not allow this.")
NOT_FOUND = OpenApiResponse(description="No such object.")


def _write_responses(ok_status: int, body) -> dict:
    return {ok_status: body, 400: BAD_REQUEST, 403: FORBIDDEN, 409: CONFLICT}


def _schema(noun: str, plural: str, serializer, *, update: str | None = None, update_request=None) -> dict:
    """The ``extend_schema_view`` arguments shared by every inventory resource."""
    views = {
        "list": extend_schema(summary=f"List {plural}"),
        "retrieve": extend_schema(summary=f"Get one {noun}", responses={200: serializer, 404: NOT_FOUND}),
        "create": extend_schema(summary=f"Create a {noun}", request=serializer,
                                responses=_write_responses(201, serializer)),
    }
    if update:
        views["partial_update"] = extend_schema(summary=update, request=update_request or serializer,
                                                responses={**_write_responses(200, serializer), 404: NOT_FOUND})
    return views


class InventoryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """List and detail for every role; subclasses add writes that go through a service."""

    read_capability = Capability.VIEW_PORTFOLIO
    write_capability = Capability.EDIT_INVENTORY
    lookup_field = "slug"
    # Serializers for input that differs from the output, by action.
    input_serializers: dict = {}

    def get_serializer_class(self):
        return self.input_serializers.get(self.action, self.serializer_class)

    def validated(self, *, instance=None, partial: bool = False) -> dict:
        serializer = self.get_serializer(instance, data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def respond(self, obj, status_code: int = status.HTTP_200_OK) -> Response:
        """The object as read back through the view's queryset, so the answer matches a GET."""
        fresh = self.get_queryset().get(pk=obj.pk)
        return Response(self.serializer_class(fresh, context=self.get_serializer_context()).data, status=status_code)


class AnsweredFromRows:
    """Lists, details and write answers built by ``representations`` from the columns they show; the
    serializer validates input and documents the answer. ``answers(pks)`` and ``answer_matching(queryset)``
    name the two representation functions."""

    answers = answer_matching = None

    def list(self, request, *args, **kwargs):
        keys = self.paginate_queryset(self.filter_queryset(self.get_queryset()).values_list("pk", flat=True))
        return self.get_paginated_response(self.answers(keys))

    def retrieve(self, request, *args, **kwargs):
        """Straight from the lookup (no instance, no filters: the query string narrows lists only), or 404."""
        lookup = self.lookup_url_kwarg or self.lookup_field
        try:
            answer = self.answer_matching(self.get_queryset().filter(**{self.lookup_field: self.kwargs[lookup]}))
        except (TypeError, ValueError, DjangoValidationError):
            answer = None  # not a valid key (e.g. letters for an id): no such object, as get_object answers
        if answer is None:
            raise Http404
        return Response(answer)

    def respond(self, obj, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(self.answers([obj.pk])[0], status=status_code)


@extend_schema_view(**_schema("business unit", "business units", s.BusinessUnitSerializer))
class BusinessUnitViewSet(InventoryViewSet):
    queryset = BusinessUnit.objects.all()
    serializer_class = s.BusinessUnitSerializer
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at"]

    def create(self, request, *args, **kwargs):
        unit = services.business_unit_create(actor=request.user, **self.validated())
        return self.respond(unit, status.HTTP_201_CREATED)


@extend_schema_view(**_schema("team", "teams", s.TeamSerializer))
class TeamViewSet(InventoryViewSet):
    queryset = Team.objects.select_related("business_unit").prefetch_related("members")
    serializer_class = s.TeamSerializer
    search_fields = ["name", "business_unit__name"]
    ordering_fields = ["name", "created_at"]

    def create(self, request, *args, **kwargs):
        team = services.team_create(actor=request.user, **self.validated())
        return self.respond(team, status.HTTP_201_CREATED)


@extend_schema_view(**_schema("business process", "business processes", s.BusinessProcessSerializer,
                              update="Update a business process"))
class BusinessProcessViewSet(InventoryViewSet):
    queryset = BusinessProcess.objects.select_related("business_unit", "accountable_executive")
    serializer_class = s.BusinessProcessSerializer
    filterset_class = BusinessProcessFilter
    search_fields = ["name", "decision", "description"]
    ordering_fields = ["name", "value_at_stake", "decisions_per_day", "created_at"]

    def create(self, request, *args, **kwargs):
        process = services.process_create(actor=request.user, **self.validated())
        return self.respond(process, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        process = self.get_object()
        process = services.process_update(actor=request.user, process=process,
                                          **self.validated(instance=process, partial=True))
        return self.respond(process)


@extend_schema_view(**_schema("data set", "data sets", s.DataSetSerializer, update="Update a data set's metadata"))
class DataSetViewSet(InventoryViewSet):
    queryset = DataSet.objects.select_related("owner")
    serializer_class = s.DataSetSerializer
    filterset_class = DataSetFilter
    search_fields = ["name", "description", "source_system"]
    ordering_fields = ["name", "version", "created_at"]

    def create(self, request, *args, **kwargs):
        dataset = services.dataset_create(actor=request.user, **self.validated())
        return self.respond(dataset, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        dataset = self.get_object()
        dataset = services.dataset_update(actor=request.user, dataset=dataset,
                                          **self.validated(instance=dataset, partial=True))
        return self.respond(dataset)


@extend_schema_view(**_schema("pipeline step", "pipeline steps", s.PipelineStepSerializer))
class PipelineStepViewSet(InventoryViewSet):
    queryset = PipelineStep.objects.select_related("output").prefetch_related("inputs")
    serializer_class = s.PipelineStepSerializer
    search_fields = ["name", "description", "code_uri"]
    ordering_fields = ["name", "created_at"]

    def create(self, request, *args, **kwargs):
        step = services.pipeline_step_create(actor=request.user, **self.validated())
        return self.respond(step, status.HTTP_201_CREATED)


@extend_schema_view(**_schema("model", "models", s.MLModelSerializer, update="Update a model",
                              update_request=s.MLModelUpdateSerializer))
class MLModelViewSet(AnsweredFromRows, InventoryViewSet):
    """Models with summaries of their versions and active deployments; the stage follows the versions."""

    queryset = MLModel.objects.all()
    serializer_class = s.MLModelSerializer
    input_serializers = {"partial_update": s.MLModelUpdateSerializer}
    filterset_class = ModelFilter
    search_fields = ["name", "purpose", "slug"]
    ordering_fields = ["name", "stage", "updated_at", "created_at"]
    answers = staticmethod(representations.models)
    answer_matching = staticmethod(representations.model_matching)

    @property
    def write_capability(self) -> Capability:
        return Capability.REGISTER_MODEL if self.action == "create" else Capability.EDIT_MODEL

    def create(self, request, *args, **kwargs):
        data = self.validated()
        model = services.model_register(actor=request.user, **data)
        # A use case fills the processes left out: read back what was registered then.
        processes = data.get("business_processes") or list(model.business_processes.all())
        return Response(representations.registered_model(
            model, technical_owners=data.get("technical_owners", ()),
            business_processes=processes, tags=services.tag_names(data.get("tags", ())),
        ), status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        model = self.get_object()
        model = services.model_update(actor=request.user, model=model, **self.validated(instance=model, partial=True))
        return self.respond(model)


@extend_schema_view(**_schema("model version", "model versions", s.ModelVersionSerializer,
                              update="Update a model version", update_request=s.ModelVersionUpdateSerializer))
class ModelVersionViewSet(AnsweredFromRows, InventoryViewSet):
    """Versions with their training data and stage history."""

    queryset = ModelVersion.objects.order_by("-created_at", "-pk")
    serializer_class = s.ModelVersionSerializer
    write_capability = Capability.EDIT_MODEL
    input_serializers = {"partial_update": s.ModelVersionUpdateSerializer, "transition": s.TransitionSerializer}
    lookup_field = "pk"
    filterset_class = VersionFilter
    search_fields = ["version", "model__name", "algorithm", "framework"]
    ordering_fields = ["created_at", "version", "stage"]
    answers = staticmethod(representations.versions)
    answer_matching = staticmethod(representations.version_matching)

    def create(self, request, *args, **kwargs):
        data = self.validated()
        version = services.version_create(actor=request.user, **data)
        return Response(representations.registered_version(
            version, training_datasets=data.get("training_datasets", ())), status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        version = self.get_object()
        version = services.version_update(actor=request.user, version=version,
                                          **self.validated(instance=version, partial=True))
        return self.respond(version)

    @extend_schema(
        summary="Move a version to another lifecycle stage",
        description="Records the transition in the version's history and the audit trail; the model's stage "
        "follows its most advanced live version. A retired version cannot come back.",
        request=s.TransitionSerializer,
        responses={**_write_responses(200, s.ModelVersionSerializer), 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def transition(self, request, *args, **kwargs):
        version = self.get_object()
        data = self.validated()
        version = services.version_transition(actor=request.user, version=version, to_stage=data["stage"],
                                              reason=data["reason"])
        return self.respond(version)


@extend_schema_view(**_schema("deployment", "deployments", s.DeploymentSerializer,
                              update="Record a deployment's new runtime environment",
                              update_request=s.DeploymentRuntimeSerializer))
class DeploymentViewSet(InventoryViewSet):
    """Where versions run. The runtime fingerprint is compared with the version's validated environment."""

    write_capability = Capability.EDIT_MODEL
    queryset = Deployment.objects.select_related("version__model", "business_process", "created_by")
    serializer_class = s.DeploymentSerializer
    input_serializers = {"partial_update": s.DeploymentRuntimeSerializer, "retire": s.RetireSerializer}
    lookup_field = "pk"
    filterset_class = DeploymentFilter
    search_fields = ["target", "version__model__name", "version__version"]
    ordering_fields = ["deployed_at", "environment"]

    def create(self, request, *args, **kwargs):
        deployment = services.deployment_create(actor=request.user, **self.validated())
        return self.respond(deployment, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        deployment = self.get_object()
        # The runtime fingerprint is the only thing that changes after deployment, so it is required.
        deployment = services.deployment_update_runtime(actor=request.user, deployment=deployment,
                                                        **self.validated())
        return self.respond(deployment)

    @extend_schema(
        summary="Retire a deployment",
        description="Marks the deployment as no longer running; it stays in the inventory and its history.",
        request=s.RetireSerializer,
        responses={**_write_responses(200, s.DeploymentSerializer), 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def retire(self, request, *args, **kwargs):
        deployment = self.get_object()
        deployment = services.deployment_retire(actor=request.user, deployment=deployment,
                                                reason=self.validated()["reason"])
        return self.respond(deployment)
