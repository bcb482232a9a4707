from django.core.paginator import Paginator
from django.shortcuts import redirect
from django.views import View
from django.views.generic import TemplateView

from apps.core.params import query_int
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability
from apps.notifications.models import Notification
from apps.notifications.services import notification_mark_read


class NotificationListView(RoleRequiredMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "notifications/list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        queryset = Notification.objects.filter(recipient=self.request.user)
        context["page_obj"] = Paginator(queryset, 50).get_page(self.request.GET.get("page"))
        context["notifications"] = context["page_obj"].object_list
        return context


class NotificationMarkReadView(RoleRequiredMixin, View):
    capability = Capability.VIEW_PORTFOLIO
    http_method_names = ["post"]

    def post(self, request):
        notification_mark_read(user=request.user, notification_id=query_int(request.POST, "id"))
        return redirect("notifications:list")
