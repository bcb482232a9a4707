import csv

from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import FormView, TemplateView

from apps.compliance import evaluation as ev
from apps.compliance import selectors, services
from apps.compliance.forms import ClassificationForm, DocumentAttachForm, DocumentGenerateForm, FindingControlsForm
from apps.compliance.models import Classification, GeneratedDocument
from apps.core.csvsafe import safe_row
from apps.core.errors import DomainError, PermissionDeniedError
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability, may, require
from apps.core.views_mixins import HtmxListMixin
from apps.findings.selectors import findings_list
from apps.inventory.models import MLModel
from apps.risk.selectors import current_assessment


class PortfolioView(RoleRequiredMixin, HtmxListMixin, TemplateView):
    """Coverage of the filtered models by framework and by business unit, for executives, above the models."""

    capability = Capability.VIEW_PORTFOLIO
    template_name = "compliance/portfolio.html"
    partial_template_name = "compliance/partials/portfolio_results.html"
    object_list_name = "models"

    def get_filterset(self):
        return selectors.filtered_models(self.request.GET)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        portfolio = selectors.portfolio_compliance(list(context["filter"].qs))
        views = {view.model.pk: view for view in portfolio.models}
        context.update(portfolio=portfolio, rows=[views[m.pk] for m in context["models"]],
                       query=self.request.GET.urlencode())
        return context


class ExportView(RoleRequiredMixin, TemplateView):
    """One row per applicable control of each filtered model: its status, evidence and what would satisfy it."""

    capability = Capability.VIEW_PORTFOLIO

    def get(self, request, *args, **kwargs):
        models = list(selectors.filtered_models(request.GET).qs)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="compliance.csv"'
        writer = csv.writer(response)
        writer.writerow(["model", "business_unit", "framework", "framework_version", "control", "reference", "title",
                         "status", "evidence", "evidence_dates", "what_would_satisfy_it"])
        for view in selectors.compliance_of(models):
            model = view.model
            for result in view.results:
                c = result.control
                writer.writerow(safe_row([
                    model.name, model.team.business_unit.name, c.framework, c.version, c.code, c.reference, c.title,
                    result.status, " | ".join(f"{e.label}: {e.status}: {e.note}" for e in result.evidence),
                    " | ".join(f"{e.kind}={e.at:%Y-%m-%d}" for e in result.evidence if e.at),
                    " | ".join(result.fixes)]))
        return response


class ModelComplianceView(RoleRequiredMixin, TemplateView):
    """Each control that applies to one model, with its status, the evidence linked and dated, and the fix."""

    capability = Capability.VIEW_PORTFOLIO
    template_name = "compliance/model.html"

    def get_context_data(self, **kwargs):
        model = get_object_or_404(selectors.models_for_compliance(), slug=kwargs["slug"])
        view = selectors.model_compliance(model)
        names = selectors.framework_names()
        return super().get_context_data(
            model=model, view=view, coverage=view.coverage, frameworks=[
                (names.get(code, code), results) for code, results in view.by_framework().items()],
            classification=view.facts.classification, stored=getattr(model, "classification", None),
            can_classify=may(self.request.user, Capability.CLASSIFY_MODEL, model), **kwargs)


class ClassifyView(RoleRequiredMixin, FormView):
    """The classification questionnaire of one model; prefilled from the current risk assessment's category."""

    capability = Capability.CLASSIFY_MODEL
    template_name = "compliance/classify.html"
    form_class = ClassificationForm

    def dispatch(self, request, *args, **kwargs):
        self.model = get_object_or_404(MLModel.objects.select_related("team"), slug=kwargs["slug"])
        return super().dispatch(request, *args, **kwargs)

    def check_object_permission(self, request) -> None:
        require(request.user, Capability.CLASSIFY_MODEL, self.model)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = Classification.objects.filter(model=self.model).first()
        return kwargs

    def get_initial(self):
        assessment = current_assessment(self.model)
        if assessment is not None and assessment.eu_ai_act_category:
            return {"eu_category": assessment.eu_ai_act_category}
        return {}

    def get_context_data(self, **kwargs):
        return super().get_context_data(model=self.model, **kwargs)

    def form_valid(self, form):
        try:
            services.classification_save(actor=self.request.user, model=self.model, **{
                name: form.cleaned_data[name] for name in services.CLASSIFICATION_FIELDS})
        except (DomainError, PermissionDeniedError) as exc:
            form.add_error(getattr(exc, "field", None) if isinstance(exc, DomainError) else None, exc.message)
            response = self.form_invalid(form)
            response.status_code = 403 if isinstance(exc, PermissionDeniedError) else 400
            return response
        messages.success(self.request, f"Classification of {self.model} saved; the controls that apply follow it.")
        return redirect("compliance:model", slug=self.model.slug)


class FrameworkListView(RoleRequiredMixin, TemplateView):
    """The frameworks in force, with every control, its reference and the evidence that satisfies it."""

    capability = Capability.VIEW_PORTFOLIO
    template_name = "compliance/frameworks.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(frameworks=selectors.frameworks_in_force(), kinds=ev.EVIDENCE_KINDS,
                                        categories=ev.EU_CATEGORIES, areas=ev.ANNEX_III_AREAS, **kwargs)


class DocumentsView(RoleRequiredMixin, TemplateView):
    """A version's generated documents (number, hash, date, who; HTML and PDF); the model's team, reviewers and
    admins generate the next one and attach one to an open review round (POST)."""

    capability = Capability.VIEW_PORTFOLIO
    post_capability = Capability.GENERATE_DOCUMENT
    template_name = "compliance/documents.html"

    def dispatch(self, request, *args, **kwargs):
        self.version = selectors.version_for_documents(slug=kwargs["slug"], version=kwargs["version"])
        return super().dispatch(request, *args, **kwargs)

    def check_object_permission(self, request) -> None:
        if request.method == "POST":
            require(request.user, Capability.GENERATE_DOCUMENT, self.version.model)

    def get_context_data(self, form=None, attach_form=None, **kwargs):
        version = self.version
        reviews = selectors.open_reviews_of(version)
        context = super().get_context_data(**kwargs)
        context.update(  # the URL's "version" is the label; the context's is the row
            version=version, model=version.model, documents=selectors.documents_of(version),
            form=form or DocumentGenerateForm(), attach_form=attach_form or DocumentAttachForm(reviews=reviews),
            has_open_reviews=reviews.exists(),
            can_generate=may(self.request.user, Capability.GENERATE_DOCUMENT, version.model))
        return context

    def post(self, request, *args, **kwargs):
        if "document" in request.POST:
            return self._attach(request)
        form = DocumentGenerateForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        try:
            document = services.document_generate(actor=request.user, version=self.version,
                                                  kind=form.cleaned_data["kind"])
        except DomainError as exc:
            form.add_error("kind", exc.message)
            return self.render_to_response(self.get_context_data(form=form), status=400)
        messages.success(request, f"{document} generated; SHA-256 of the PDF {document.pdf_sha256}.")
        return redirect("compliance:documents", slug=self.version.model.slug, version=self.version.version)

    def _attach(self, request):
        document = get_object_or_404(GeneratedDocument, pk=request.POST.get("document"), version=self.version)
        form = DocumentAttachForm(request.POST, reviews=selectors.open_reviews_of(self.version))
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(attach_form=form), status=400)
        review = form.cleaned_data["review"]
        try:
            services.document_attach(actor=request.user, document=document, review=review)
        except DomainError as exc:
            form.add_error("review", exc.message)
            return self.render_to_response(self.get_context_data(attach_form=form), status=400)
        messages.success(request, f"{document} attached to review round {review.round} as evidence.")
        return redirect("compliance:documents", slug=self.version.model.slug, version=self.version.version)


FORMATS = {"html": ("html", "text/html; charset=utf-8"), "pdf": ("pdf", "application/pdf")}


def document_response(document: GeneratedDocument, fmt: str) -> FileResponse:
    """The stored bytes of ``document`` as a download, named after its reference, with its hash in a header."""
    field_name, content_type = FORMATS[fmt]
    stored = getattr(document, field_name)
    response = FileResponse(stored.open("rb"), as_attachment=True, filename=f"{document.reference}.{fmt}",
                            content_type=content_type)
    response["X-Content-SHA256"] = getattr(document, f"{field_name}_sha256")
    return response


class DocumentDownloadView(RoleRequiredMixin, View):
    """The stored HTML or PDF of a generated document; every role reads them."""

    capability = Capability.VIEW_PORTFOLIO
    http_method_names = ["get", "head", "options"]

    def get(self, request, pk: int, fmt: str):
        if fmt not in FORMATS:
            raise Http404("Choose html or pdf.")
        return document_response(selectors.document_detail(pk), fmt)
class FindingControlsView(RoleRequiredMixin, FormView):
    """The controls a validation finding concerns; reviewers and admins change the links."""

    capability = Capability.VIEW_PORTFOLIO
    post_capability = Capability.RAISE_FINDING
    template_name = "compliance/finding_controls.html"

    def dispatch(self, request, *args, **kwargs):
        self.finding = get_object_or_404(findings_list(), pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_form(self, form_class=None):
        return FindingControlsForm(**self.get_form_kwargs(), queryset=selectors.linkable_controls(self.finding))

    def get_initial(self):
        return {"controls": [link.control_id for link in selectors.controls_of_finding(self.finding)]}

    def get_context_data(self, **kwargs):
        return super().get_context_data(finding=self.finding, links=selectors.controls_of_finding(self.finding),
                                        can_link=self.finding.is_open and may(self.request.user,
                                                                              Capability.RAISE_FINDING), **kwargs)

    def form_valid(self, form):
        try:
            services.finding_controls_set(actor=self.request.user, finding=self.finding,
                                          controls=list(form.cleaned_data["controls"]))
        except DomainError as exc:
            form.add_error("controls" if exc.field == "controls" else None, exc.message)
            return self.render_to_response(self.get_context_data(form=form), status=exc.status_code)
        messages.success(self.request, "Controls of the finding saved.")
        return redirect("compliance:finding-controls", pk=self.finding.pk)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)
