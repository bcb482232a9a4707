"""How every list page behaves, declared once: a FilterSet, a bounded page size and an htmx results partial.

NetBox's ``ObjectListView`` with ``htmx_partial()`` is the model. Four copies of this drifted apart: two
answered a history restore with a fragment (a bare table after the Back button) and sent no ``Vary``, so a
cache could hand the fragment to a full page load.
"""

from django.core.paginator import Paginator
from django.utils.cache import patch_vary_headers

from apps.core.params import query_int


def is_htmx(request) -> bool:
    """Whether the request wants a fragment: htmx sends ``HX-Request``, but a history restore (its cache missed
    after Back) also sends ``HX-History-Restore-Request`` and needs the whole page."""
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


class HtmxPartialMixin:
    """``partial_template_name`` for an htmx request, the page otherwise; ``Vary: HX-Request`` on both."""

    partial_template_name = ""

    def get_template_names(self):
        if self.partial_template_name and is_htmx(self.request):
            return [self.partial_template_name]
        return super().get_template_names()

    def render_to_response(self, context, **kwargs):
        response = super().render_to_response(context, **kwargs)
        patch_vary_headers(response, ["HX-Request"])
        return response


class HtmxListMixin(HtmxPartialMixin):
    """A filtered, paginated list for a ``TemplateView``; the results partial alone for htmx.

    Subclasses return a FilterSet from ``get_filterset()``, or a queryset from ``get_queryset()`` for a list
    without filters. ``?per_page=`` changes the page size up to ``max_paginate_by``; a page number that is not
    one shows the first page and one past the end the last (``Paginator.get_page``).
    """

    paginator_class = Paginator
    paginate_by = 50
    max_paginate_by = 500
    object_list_name = "objects"
    # Parameters that move through the list without narrowing it ("match the filters" ignores them).
    not_filters = frozenset({"page", "per_page", "sort"})

    def get_filterset(self):
        return None

    def get_queryset(self):
        raise NotImplementedError(f"{type(self).__name__} defines neither get_filterset() nor get_queryset().")

    def get_paginate_by(self) -> int:
        per_page = query_int(self.request.GET, "per_page", maximum=self.max_paginate_by)
        return per_page or self.paginate_by

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset = self.get_filterset()
        rows = filterset.qs if filterset is not None else self.get_queryset()
        page = self.paginator_class(rows, self.get_paginate_by()).get_page(self.request.GET.get("page"))
        context.update({
            "filter": filterset,
            "page_obj": page,
            self.object_list_name: page.object_list,
            "filtered": any(value for key, value in self.request.GET.items() if key not in self.not_filters),
            "htmx_results": bool(self.partial_template_name),
        })
        return context
