"""The lineage pages: where a model's data comes from and what it serves, narrowed by unit, process or data set."""

from django import forms
from django.shortcuts import get_object_or_404
from django.views.generic import TemplateView

from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability
from apps.inventory import charts, lineage_queries
from apps.inventory.models import BusinessProcess, BusinessUnit, DataSet, MLModel


class LineageFilterForm(forms.Form):
    business_unit = forms.ModelChoiceField(
        queryset=BusinessUnit.objects.all(), to_field_name="slug", required=False,
        empty_label="All business units", help_text="The live models of one unit.",
    )
    process = forms.ModelChoiceField(
        queryset=BusinessProcess.objects.all(), to_field_name="slug", required=False, label="Business process",
        empty_label="Any process", help_text="The models that serve this process.",
    )
    dataset = forms.ModelChoiceField(
        queryset=DataSet.objects.all(), to_field_name="slug", required=False, label="Data set",
        empty_label="Any data set", help_text="Where it comes from and what was trained on it.",
    )


class ModelLineageView(RoleRequiredMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "inventory/lineage.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        model = get_object_or_404(MLModel, slug=self.kwargs["slug"])
        graph = lineage_queries.lineage_for_model(model=model)
        context.update(model=model, graph=graph, subject=model.name,
                       chart=charts.lineage_chart(graph, title=f"Lineage of {model.name}"))
        return context


class LineageView(RoleRequiredMixin, TemplateView):
    """Portfolio lineage, narrowed by ``?dataset=``, else ``?process=``, else ``?business_unit=`` (slugs)."""

    capability = Capability.VIEW_PORTFOLIO
    template_name = "inventory/lineage.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = LineageFilterForm(self.request.GET or None)
        data = form.cleaned_data if form.is_valid() else {}
        if form.is_bound and not form.is_valid():
            graph, subject = None, ""
        elif data.get("dataset"):
            graph, subject = lineage_queries.lineage_for_dataset(dataset=data["dataset"]), str(data["dataset"])
        elif data.get("process"):
            graph, subject = lineage_queries.lineage_for_process(process=data["process"]), data["process"].name
        else:
            unit = data.get("business_unit")
            graph = lineage_queries.lineage_for_portfolio(business_unit=unit)
            subject = unit.name if unit else "the whole portfolio"
        context.update(form=form, graph=graph, subject=subject,
                       chart=charts.lineage_chart(graph, title=f"Lineage of {subject}") if graph else None)
        return context
