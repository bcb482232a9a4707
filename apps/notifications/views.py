from django.shortcuts import redirect
from django.views import View
from django.views.generic import TemplateView

from apps.core.params import query_int
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability
from apps.core.views_mixins import HtmxListMixin
from apps.notifications.models import Notification
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
