"""Webhooks API, for admins: subscriptions (the secret is in the creation's answer only) and the delivery log."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.roles import Capability
from apps.notifications import selectors, services
from apps.notifications.api import serializers as s
from apps.notifications.filters import WebhookDeliveryFilter, WebhookFilter

ERRORS = {400: OpenApiResponse(description="Invalid input; the body names the field (an internal or non-http "
                                           "URL, an unknown event)."),
          403: OpenApiResponse(description="Only admins manage webhooks.")}


@extend_schema_view(
    list=extend_schema(summary="List webhooks (filter: q, event)"),
    retrieve=extend_schema(summary="Get one webhook (never its secret)"),
    create=extend_schema(summary="Create a webhook; the answer holds its signing secret, shown this once",
                         request=s.WebhookSerializer, responses={201: s.WebhookCreatedSerializer, **ERRORS}),
    destroy=extend_schema(summary="Delete a webhook and its delivery log", responses={204: None, **ERRORS}),
)
class WebhookViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.WebhookSerializer
    read_capability = Capability.MANAGE_WEBHOOKS
    write_capability = Capability.MANAGE_WEBHOOKS
    filterset_class = WebhookFilter
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        return selectors.webhook_subscriptions()

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook = services.webhook_create(actor=request.user, **serializer.validated_data)
        fresh = self.get_queryset().get(pk=webhook.pk)
        fresh.plain_secret = webhook.plain_secret  # shown this once; the row holds it sealed
        return Response(s.WebhookCreatedSerializer(fresh).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        services.webhook_delete(actor=request.user, subscription=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Send a test ping; its outcome appears in the delivery log", request=None,
                   responses={201: s.WebhookDeliverySerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def ping(self, request, pk=None):
        delivery = services.webhook_ping(actor=request.user, subscription=self.get_object())
        delivery.refresh_from_db()
        return Response(s.WebhookDeliverySerializer(delivery).data, status=status.HTTP_201_CREATED)


@extend_schema_view(list=extend_schema(summary="The delivery log, newest first (filter: webhook, status, event)"),
                    retrieve=extend_schema(summary="One delivery with every attempt"))
class WebhookDeliveryViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.WebhookDeliverySerializer
    read_capability = Capability.MANAGE_WEBHOOKS
    filterset_class = WebhookDeliveryFilter
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return selectors.webhook_deliveries()
