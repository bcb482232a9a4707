"""The lineage pages: where a model's data comes from and what it serves, narrowed by unit, process or data set.

A large selection is shipped grouped (one node per business unit, or per process inside a unit), never
as every node, unless the reader asks for every node; a search lists the matching nodes, and a focus
shows one node's neighbourhood, all as plain GET parameters so any view is a link to share.
"""

import re
from urllib.parse import urlencode

from django import forms
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.generic import TemplateView

from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability
from apps.inventory import charts, lineage, lineage_queries, lineage_shape
from apps.inventory.models import STAGE_ORDER, BusinessProcess, BusinessUnit, DataSet, MLModel, Stage

# A selection of more models than this is grouped unless the reader asks for every node.
GROUP_ABOVE = 30
MAX_MATCHES = 25
FOCUS_KEY = re.compile(r"^(dataset|step|model|version|deployment|process):\d+$")
DEFAULT_HOPS = 2
HOPS = [(n, f"{n} step{'s' if n > 1 else ''}") for n in (1, 2, 3, 4, 6, 10)]


class LineageFilterForm(forms.Form):
    business_unit = forms.ModelChoiceField(
        queryset=BusinessUnit.objects.all(), to_field_name="slug", required=False,
        empty_label="All business units", help_text="The live models of one unit.",
    )
    process = forms.ModelChoiceField(
        queryset=BusinessProcess.objects.all(), to_field_name="slug", required=False, label="Business process",
        empty_label="Any process", help_text="The models that serve this process.",
    )
    stage = forms.ChoiceField(
        choices=[("", "Any live stage"), *((s.value, s.label) for s in STAGE_ORDER if s != Stage.RETIRED)],
        required=False, help_text="Only models at this stage.",
    )
    dataset = forms.ModelChoiceField(
        queryset=DataSet.objects.all(), to_field_name="slug", required=False, label="Data set",
        empty_label="Any data set", help_text="Where it comes from and what was trained on it.",
    )
    q = forms.CharField(required=False, max_length=100, label="Find a node",
                        help_text="Part of a name: model, version, data set, process.")
    view = forms.ChoiceField(choices=[("", "Grouped when large"), ("all", "Every node")], required=False,
                             label="Show", help_text=f"Above {GROUP_ABOVE} models the graph is grouped.")
    focus = forms.CharField(required=False, widget=forms.HiddenInput)
    hops = forms.TypedChoiceField(choices=HOPS, coerce=int, required=False, empty_value=DEFAULT_HOPS,
                                  initial=DEFAULT_HOPS, label="Focus depth",
                                  help_text="Steps upstream and downstream of the focused node.")

    def clean_focus(self):
        focus = self.cleaned_data["focus"].strip()
        if focus and not FOCUS_KEY.match(focus):
            raise forms.ValidationError("This is not a node of the lineage graph. Open the graph again and choose "
                                        "“Focus” beside a node.")
        return focus


def _layers(graph, focus_link):
    """The graph's columns for the list under it: (title, [(node, its focus link or "")])."""
    return [(title, [(node, focus_link(node.key) if FOCUS_KEY.match(node.key) else "") for node in nodes])
            for title, nodes in graph.layers()]


def _focus_in_portfolio(key: str) -> str:
    return f"{reverse('inventory:lineage')}?{urlencode({'focus': key, 'hops': DEFAULT_HOPS})}"


class ModelLineageView(RoleRequiredMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "inventory/lineage.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        model = get_object_or_404(MLModel, slug=self.kwargs["slug"])
        graph = lineage_queries.lineage_for_model(model=model)
        context.update(model=model, graph=graph, subject=model.name, layers=_layers(graph, _focus_in_portfolio),
                       chart=charts.lineage_chart(graph, title=f"Lineage of {model.name}"))
        return context


class LineageView(RoleRequiredMixin, TemplateView):
    """Portfolio lineage, narrowed by ``?dataset=``, else ``?process=``, else ``?business_unit=`` (slugs) and
    ``?stage=``; ``?q=`` finds nodes, ``?focus=<node key>&hops=N`` shows one node's neighbourhood,
    ``?view=all`` every node of a large selection."""

    capability = Capability.VIEW_PORTFOLIO
    template_name = "inventory/lineage.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = LineageFilterForm(self.request.GET or None)
        context["form"] = form
        if form.is_bound and not form.is_valid():
            context.update(graph=None, subject="")
            return context
        data = form.cleaned_data if form.is_bound else {}
        selection, subject = self._selection(data)
        graph = selection
        matches = lineage_shape.find(graph, data.get("q", ""))
        models = lineage_shape.model_count(graph)
        grouped_by, focused = "", None
        if data.get("focus"):
            if data["focus"] in graph:
                focused = graph.node(data["focus"])
                graph = lineage_shape.neighbourhood(graph, focused.key, hops=data["hops"])
                subject = f"{focused.label} ({data['hops']} steps around it)"
            else:
                form.add_error("focus", "This node is not in the current selection: clear the filters or focus "
                                        "on a node shown below.")
        elif models > GROUP_ABOVE and data.get("view") != "all":
            # Inside one unit its processes are the groups; otherwise (portfolio, process, data set) its units.
            inside_unit = data.get("business_unit") and not (data.get("process") or data.get("dataset"))
            grouped_by = lineage_shape.BY_PROCESS if inside_unit else lineage_shape.BY_UNIT
            graph = lineage_shape.group(graph, by=grouped_by, names=self._group_names(grouped_by, graph))
        # A grouped or focused graph still warns about the cycles and the depth limit of the whole selection.
        graph.cycles, graph.truncated = selection.cycles, selection.truncated
        highlight = {n.key for n in matches} | ({focused.key} if focused else set())
        context.update(
            graph=graph, subject=subject, grouped_by=grouped_by, focused=focused, model_total=models,
            matches=[(n, self._link(focus=n.key, view="")) for n in matches[:MAX_MATCHES]],
            match_total=len(matches), group_above=GROUP_ABOVE,
            all_url=self._link(view="all", focus=""), grouped_url=self._link(view="", focus=""),
            layers=_layers(graph, lambda key: self._link(focus=key)),
            chart=charts.lineage_chart(graph, title=f"Lineage of {subject}", highlight=highlight),
        )
        return context

    @staticmethod
    def _selection(data):
        stage = data.get("stage", "")
        if data.get("dataset"):
            return lineage_queries.lineage_for_dataset(dataset=data["dataset"]), str(data["dataset"])
        if data.get("process"):
            return lineage_queries.lineage_for_process(process=data["process"], stage=stage), data["process"].name
        unit = data.get("business_unit")
        graph = lineage_queries.lineage_for_portfolio(business_unit=unit, stage=stage)
        return graph, unit.name if unit else "the whole portfolio"

    def _group_names(self, by: str, graph) -> dict[str, lineage_shape.GroupName]:
        if by == lineage_shape.BY_UNIT:
            return {slug: lineage_shape.GroupName(name, self._link(business_unit=slug, view="", q=""))
                    for slug, name in lineage_queries.unit_names().items()}
        processes = lineage_queries.process_names(keys=[n.key for n in graph.nodes if n.kind == lineage.PROCESS])
        return {key: lineage_shape.GroupName(name, self._link(process=slug, view="", q=""))
                for key, (name, slug) in processes.items()}

    def _link(self, **changes) -> str:
        """This page with the current parameters, some changed (empty values are left out of the URL)."""
        params = {name: self.request.GET.get(name, "") for name in LineageFilterForm.base_fields}
        params.update(changes)
        if params.get("focus"):
            params["hops"] = params.get("hops") or DEFAULT_HOPS
        else:
            params.pop("hops", None)
        query = urlencode({k: v for k, v in params.items() if v})
        return f"{reverse('inventory:lineage')}?{query}" if query else reverse("inventory:lineage")
