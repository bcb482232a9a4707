import csv

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.generic import FormView, TemplateView

from apps.core.csvsafe import safe_row
from apps.core.errors import DomainError
from apps.core.params import query_int
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability, may
from apps.core.views_mixins import HtmxListMixin, is_htmx
from apps.inventory.models import MLModel
from apps.risk import selectors, services
from apps.risk.forms import AssessmentForm, MatrixForm, PolicyForm
from apps.risk.models import RiskAssessment
from apps.risk.scoring import (
    IMPACT_LEVELS,
    LEVELS,
    PROBABILITY_LEVELS,
    RISKS,
    TIERS,
    Context,
    MatrixError,
    compute_tier,
    severity,
)

PAGE_SIZE = 50


def matrix_rows(config: dict, marks: dict | None = None) -> list[dict]:
    """The 5x5 matrix, probability 5 at the top, each cell with its severity and the risks placed in it."""
    marks = marks or {}
    return [
        {"probability": p, "label": PROBABILITY_LEVELS[p][0],
         "cells": [{"impact": i, "severity": config["grid"][p - 1][i - 1], "marks": marks.get((p, i), [])}
                   for i in range(1, 6)]}
        for p in range(5, 0, -1)
    ]


def _matrix_context(config: dict, marks: dict | None = None) -> dict:
    return {"matrix_rows": matrix_rows(config, marks), "impact_levels": IMPACT_LEVELS,
            "probability_levels": PROBABILITY_LEVELS}


def _level(value) -> int | None:
    try:
        level = int(value)
    except (TypeError, ValueError):
        return None
    return level if level in LEVELS else None


def tier_preview(values, config: dict) -> dict:
    """What the ratings typed so far give, by the matrix in force: each rated risk's severity, placed in its
    cell, and the tier once all four are rated, with the context's escalations. ``values``: the form's data
    (or its initial values). Nothing is stored; the submitted assessment is scored again by the service."""
    rated, marks = {}, {}
    for key, (label, _) in RISKS.items():
        probability, impact = _level(values.get(f"{key}_probability")), _level(values.get(f"{key}_impact"))
        if probability and impact:
            rated[key] = (probability, impact)
            marks.setdefault((probability, impact), []).append(label)
    severities = {RISKS[key][0]: severity(config, *pair) for key, pair in rated.items()}
    result = None
    if len(rated) == len(RISKS):
        try:
            people = int(values.get("people_affected") or 0)
        except (TypeError, ValueError):
            people = 0
        context = Context(exposure=values.get("exposure") or "internal",
                          automation_level=values.get("automation_level") or "human_decides",
                          personal_data=values.get("personal_data") in (True, "on", "true", "1"),
                          people_affected=people, regulated_domain=values.get("regulated_domain") or "none")
        try:
            result = compute_tier(config, rated, context)
        except MatrixError:
            result = None
    return {"preview": result, "preview_severities": severities, "unrated": len(RISKS) - len(rated),
            **_matrix_context(config, marks)}


class RegisterView(RoleRequiredMixin, HtmxListMixin, TemplateView):
    """Every open risk and its mitigations across the portfolio."""

    capability = Capability.VIEW_PORTFOLIO
    template_name = "risk/register.html"
    partial_template_name = "risk/partials/register_table.html"
    object_list_name = "rows"
    paginate_by = PAGE_SIZE

    def get_filterset(self):
        return selectors.register_rows(filters=self.request.GET)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "query": self.request.GET.urlencode()}


class RegisterExportView(RoleRequiredMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO

    def get(self, request, *args, **kwargs):
        filterset = selectors.register_rows(filters=request.GET)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="risk-register.csv"'
        writer = csv.writer(response)
        writer.writerow(["model", "business_unit", "model_tier", "risk", "probability", "impact", "severity",
                         "rationale", "mitigation", "mitigation_owner", "mitigation_due", "mitigation_status",
                         "reassessment_due"])
        for rating in filterset.qs:
            model = rating.assessment.model
            base = [model.name, model.team.business_unit.name, rating.assessment.tier, rating.get_risk_display(),
                    rating.probability, rating.impact, rating.severity, rating.rationale]
            tail = [rating.assessment.reassessment_due]
            mitigations = list(rating.mitigations.all()) or [None]
            for m in mitigations:
                middle = ([m.action, m.owner.username if m.owner else "", m.due_date or "", m.get_status_display()]
                          if m else ["", "", "", ""])
                writer.writerow(safe_row([*base, *middle, *tail]))
        return response


class ModelRiskView(RoleRequiredMixin, TemplateView):
    """A model's current tier, its obligations, its assessment history and what changed between two."""

    capability = Capability.VIEW_PORTFOLIO
    template_name = "risk/model.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        model = get_object_or_404(MLModel.objects.select_related("team__business_unit", "accountable_owner"),
                                  slug=self.kwargs["slug"])
        history = list(selectors.assessment_history(model))
        context.update(model=model, history=history, drafts=selectors.drafts_for(model),
                       obligations=selectors.obligations_for(model),
                       open_triggers=model.reassessment_triggers.filter(resolved_by__isnull=True),
                       can_draft=may(self.request.user, Capability.DRAFT_ASSESSMENT))
        context["comparison"] = self._compare(history)
        return context

    def _compare(self, history):
        by_id = {a.pk: a for a in history}
        a_id, b_id = query_int(self.request.GET, "a"), query_int(self.request.GET, "b")
        if a_id is not None and b_id is not None:
            a, b = by_id.get(a_id), by_id.get(b_id)
        else:
            a, b = (history[1], history[0]) if len(history) >= 2 else (None, None)
        if not a or not b:
            return None
        ra = {r.risk: r for r in a.ratings.all()}
        rb = {r.risk: r for r in b.ratings.all()}
        rows = []
        for key, (label, _) in RISKS.items():
            left, right = _rating_text(ra.get(key)), _rating_text(rb.get(key))
            rows.append({"label": label, "a": left, "b": right, "changed": left != right})
        for name in ("tier", "exposure", "automation_level", "personal_data", "people_affected", "regulated_domain",
                     "eu_ai_act_category"):
            va, vb = getattr(a, name), getattr(b, name)
            rows.append({"label": name.replace("_", " ").capitalize(), "a": va, "b": vb, "changed": va != vb})
        return {"a": a, "b": b, "rows": rows}


def _rating_text(rating) -> str:
    if rating is None:
        return "not rated"
    text = f"P{rating.probability} × I{rating.impact} = {rating.severity}"
    return f"{text}: {rating.rationale}" if rating.rationale else text


class AssessView(RoleRequiredMixin, FormView):
    """Draft (reviewers, data scientists) or submit (reviewers) a risk assessment of one model."""

    capability = Capability.DRAFT_ASSESSMENT
    template_name = "risk/assess.html"
    form_class = AssessmentForm

    def dispatch(self, request, *args, **kwargs):
        self.model = get_object_or_404(MLModel, slug=kwargs["slug"])
        self.draft = None
        draft_id = query_int(request.GET, "draft") or query_int(request.POST, "draft")
        if draft_id is not None:
            self.draft = get_object_or_404(RiskAssessment, pk=draft_id, model=self.model,
                                           status=RiskAssessment.Status.DRAFT)
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        current = selectors.current_assessment(self.model)
        initial = AssessmentForm.initial_from(self.draft or current, self.model)
        initial["based_on"] = current.pk if current else None
        return initial

    def get(self, request, *args, **kwargs):
        # htmx asks for the tier preview as the ratings change; without JavaScript the page shows it on load.
        if is_htmx(request) and request.GET.get("preview"):
            matrix = selectors.current_matrix()
            return render(request, "risk/partials/tier_preview.html",
                          {"matrix": matrix, **tier_preview(request.GET, matrix.config)})
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        matrix = selectors.current_matrix()
        form = context["form"]
        values = form.data if form.is_bound else {**form.initial, **{k: f.initial for k, f in form.fields.items()
                                                                      if k not in form.initial}}
        context.update(model=self.model, draft=self.draft, current=selectors.current_assessment(self.model),
                       can_submit=may(self.request.user, Capability.SUBMIT_ASSESSMENT), matrix=matrix,
                       policies=selectors.current_policies(), tiers=TIERS, **tier_preview(values, matrix.config))
        return context

    def form_valid(self, form):
        submit = "submit" in self.request.POST
        try:
            draft = services.assessment_save_draft(actor=self.request.user, model=self.model, ratings=form.ratings(),
                                                   draft=self.draft, **form.context_values())
        except DomainError as exc:
            return self._error(form, exc)
        if not submit:
            messages.success(self.request, "Draft saved. A reviewer can submit it.")
            return redirect(f"{self.request.path}?draft={draft.pk}")
        try:
            assessment = services.assessment_submit(actor=self.request.user, assessment=draft,
                                                    based_on_id=form.cleaned_data.get("based_on"))
        except DomainError as exc:
            self.draft = draft
            messages.warning(self.request, "Your answers were kept as a draft.")
            return self._error(form, exc)
        messages.success(self.request, f"Assessment submitted: tier {assessment.tier}. "
                                       f"Re-assessment due {assessment.reassessment_due:%Y-%m-%d}.")
        return redirect(assessment.get_absolute_url())

    def _error(self, form, exc: DomainError):
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        response = self.form_invalid(form)
        response.status_code = exc.status_code if exc.status_code in (403, 409) else 400
        return response


class AssessmentDetailView(RoleRequiredMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "risk/assessment_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        assessment = get_object_or_404(
            RiskAssessment.objects.select_related("model", "matrix", "policy", "submitted_by", "created_by")
            .prefetch_related("ratings__mitigations__owner"), pk=self.kwargs["pk"])
        ratings = list(assessment.ratings.all())
        marks: dict = {}
        for rating in ratings:
            marks.setdefault((rating.probability, rating.impact), []).append(RISKS[rating.risk][0])
        config = (assessment.matrix or selectors.current_matrix()).config
        context.update(assessment=assessment, ratings=ratings, **_matrix_context(config, marks))
        return context


class PolicyListView(RoleRequiredMixin, TemplateView):
    """The governance each tier demands, the matrix in force, and their version history."""

    capability = Capability.VIEW_PORTFOLIO
    template_name = "risk/policies.html"

    def get_context_data(self, **kwargs):
        from apps.risk.models import GovernancePolicy, RiskMatrix

        context = super().get_context_data(**kwargs)
        current = selectors.current_policies()
        matrix = selectors.current_matrix()
        context.update(policies=[current[t] for t in TIERS if t in current], matrix=matrix,
                       history=GovernancePolicy.objects.select_related("created_by").order_by("tier", "-version"),
                       matrices=RiskMatrix.objects.select_related("created_by")[:10],
                       can_publish=may(self.request.user, Capability.PUBLISH_POLICY), **_matrix_context(matrix.config))
        return context


class PolicyEditView(RoleRequiredMixin, FormView):
    capability = Capability.PUBLISH_POLICY
    template_name = "risk/policy_form.html"
    form_class = PolicyForm

    def dispatch(self, request, *args, **kwargs):
        if kwargs["tier"] not in TIERS:
            return HttpResponseBadRequest("Unknown tier.")
        self.current = selectors.policy_for_tier(kwargs["tier"])
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = self.current
        return kwargs

    def get_context_data(self, **kwargs):
        return super().get_context_data(tier=self.kwargs["tier"], current=self.current, **kwargs)

    def form_valid(self, form):
        values = {f: form.cleaned_data[f] for f in PolicyForm.Meta.fields}
        try:
            policy = services.policy_publish(actor=self.request.user, tier=self.kwargs["tier"],
                                             note=form.cleaned_data["note"], **values)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return self.form_invalid(form)
        messages.success(self.request, f"{policy} is now in force. Existing assessments keep their policy version.")
        return redirect("risk:policies")


class MatrixEditView(RoleRequiredMixin, FormView):
    capability = Capability.PUBLISH_POLICY
    template_name = "risk/matrix_form.html"
    form_class = MatrixForm

    def get_initial(self):
        return MatrixForm.initial_from(selectors.current_matrix().config)

    def get_context_data(self, **kwargs):
        return super().get_context_data(matrix=selectors.current_matrix(), **kwargs)

    def form_valid(self, form):
        try:
            matrix = services.matrix_publish(actor=self.request.user, config=form.config(),
                                             note=form.cleaned_data["note"])
        except DomainError as exc:
            form.add_error(None, exc.message)
            return self.form_invalid(form)
        messages.success(self.request, f"{matrix} is in force for new assessments; earlier ones keep their tiers.")
        return redirect("risk:policies")
