from django.views.generic import TemplateView

from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import ALL_ROLES


class IndexView(RoleRequiredMixin, TemplateView):
    allowed_roles = ALL_ROLES
    template_name = "reviews/index.html"
