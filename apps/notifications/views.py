from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import FormView, TemplateView

from apps.core.errors import DomainError
from apps.core.params import query_int
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability
from apps.core.views_mixins import HtmxListMixin
from apps.notifications import selectors, services
from apps.notifications.filters import WebhookDeliveryLogFilter, WebhookFilter
from apps.notifications.forms import WebhookForm
from apps.notifications.models import Notification, WebhookSubscription
from apps.notifications.services import notification_mark_read


class NotificationListView(RoleRequiredMixin, HtmxListMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "notifications/list.html"
    partial_template_name = "notifications/partials/notification_list.html"
    object_list_name = "notifications"

    def get_queryset(self):
        return Notification.objects.filter(recipient=self.request.user)


class NotificationMarkReadView(RoleRequiredMixin, View):
    capability = Capability.VIEW_PORTFOLIO
    http_method_names = ["post"]

    def post(self, request):
        notification_mark_read(user=request.user, notification_id=query_int(request.POST, "id"))
        return redirect("notifications:list")


# --- Webhooks (admins) -------------------------------------------------------------------------------------

class WebhookListView(RoleRequiredMixin, HtmxListMixin, TemplateView):
    capability = Capability.MANAGE_WEBHOOKS
    template_name = "notifications/webhook_list.html"
    partial_template_name = "notifications/partials/webhook_list.html"
    object_list_name = "webhooks"

    def get_filterset(self):
        return WebhookFilter(self.request.GET or None, queryset=selectors.webhook_subscriptions())

    def get_context_data(self, **kwargs):
        return super().get_context_data(action=reverse("notifications:webhooks"), **kwargs)


class WebhookCreateView(RoleRequiredMixin, FormView):
    """The secret is on the answer to the POST that creates the subscription, and nowhere else, ever."""

    capability = Capability.MANAGE_WEBHOOKS
    form_class = WebhookForm
    template_name = "notifications/webhook_form.html"

    def form_valid(self, form):
        try:
            webhook = services.webhook_create(actor=self.request.user, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return self.render_to_response(self.get_context_data(form=form), status=exc.status_code)
        return render(self.request, "notifications/webhook_created.html", {"webhook": webhook}, status=201)


class WebhookObjectMixin(RoleRequiredMixin):
    capability = Capability.MANAGE_WEBHOOKS

    @cached_property
    def webhook(self) -> WebhookSubscription:
        # Looked up after the role and method checks: nobody learns which ids exist.
        return get_object_or_404(WebhookSubscription, pk=self.kwargs["pk"])


class WebhookDetailView(WebhookObjectMixin, HtmxListMixin, TemplateView):
    """A subscription and its delivery log."""

    template_name = "notifications/webhook_detail.html"
    partial_template_name = "notifications/partials/delivery_list.html"
    object_list_name = "deliveries"

    def get_filterset(self):
        return WebhookDeliveryLogFilter(self.request.GET or None,
                                     queryset=selectors.webhook_deliveries(subscription=self.webhook))

    def get_context_data(self, **kwargs):
        return super().get_context_data(webhook=self.webhook, action=self.webhook.get_absolute_url(), **kwargs)


class WebhookPingView(WebhookObjectMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        services.webhook_ping(actor=request.user, subscription=self.webhook)
        messages.success(request, f"A test delivery to {self.webhook.url} is on its way; its answer appears below.")
        return redirect(self.webhook)


class WebhookDeleteView(WebhookObjectMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        services.webhook_delete(actor=request.user, subscription=self.webhook)
        messages.success(request, f"The webhook {self.webhook.name} is deleted; nothing more is sent to it.")
        return redirect("notifications:webhooks")
