"""Monitoring pages: thin views over ``selectors`` (reads), ``services`` (writes) and ``compare`` (pure)."""

from functools import cached_property

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views import View
from django.views.generic import FormView, TemplateView

from apps.core.errors import DomainError
from apps.core.params import query_int
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability, may, require
from apps.core.views_mixins import HtmxListMixin, is_htmx
from apps.inventory.gates import GateRefused
from apps.inventory.models import MLModel
from apps.inventory.selectors import stored_governance
from apps.monitoring import charts, compare, forms, selectors, services
from apps.monitoring.models import Alert, Evaluation

PAGE_SIZE = 50


def _form_error(form, exc: DomainError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


class IndexView(RoleRequiredMixin, HtmxListMixin, TemplateView):
    """Health of every model in production, then open alerts and recent evaluations."""

    capability = Capability.VIEW_PORTFOLIO
    template_name = "monitoring/index.html"
    partial_template_name = "monitoring/partials/health_table.html"
    object_list_name = "models"
    paginate_by = PAGE_SIZE

    def get_filterset(self):
        return selectors.health_overview(self.request.GET)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        selectors.attach_cadence(context["models"])
        context["can_upload"] = may(self.request.user, Capability.UPLOAD_EVALUATION)
        if not is_htmx(self.request):
            context.update(open_alerts=selectors.open_alerts(), open_alert_count=selectors.open_alert_count(),
                           evaluations=selectors.recent_evaluations())
        return context


# ---------------------------------------------------------------- uploads


class UploadView(RoleRequiredMixin, FormView):
    """Upload an evaluation file; a rejected file is listed problem by problem and nothing is stored."""

    capability = Capability.UPLOAD_EVALUATION
    template_name = "monitoring/upload.html"
    form_class = forms.EvaluationUploadForm

    def get_initial(self):
        version = query_int(self.request.GET, "version")
        return {} if version is None else {"version": version}

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user, "q": self.request.GET.get("q", "").strip()}

    def get_context_data(self, **kwargs):
        kwargs.setdefault("problems", [])
        return {**super().get_context_data(**kwargs), "q": self.request.GET.get("q", "").strip(),
                "part_size": settings.PORTAL_UPLOAD_PART_BYTES}

    def form_valid(self, form):
        try:
            evaluation, _ = services.evaluation_upload(actor=self.request.user, **form.service_arguments())
        except services.UploadRejected as exc:
            form.add_error(None, "The file was rejected and nothing was stored. Fix the problems listed above and "
                                 "choose the file again.")
            return self.render_to_response(self.get_context_data(form=form, problems=exc.problems), status=400)
        except DomainError as exc:
            _form_error(form, exc)
            return self.render_to_response(self.get_context_data(form=form), status=exc.status_code)
        messages.success(self.request, f"{evaluation.filename} was uploaded ({evaluation.row_count:,} rows); "
                                       "its metrics are computed in the background.")
        return HttpResponseRedirect(evaluation.get_absolute_url())

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


class UploadPreviewView(RoleRequiredMixin, View):
    """The file's header and first rows with each column's role; stores nothing. htmx gets the partial."""

    capability = Capability.UPLOAD_EVALUATION
    http_method_names = ["post"]

    def post(self, request):
        form = forms.EvaluationUploadForm(request.POST, request.FILES, preview=True, user=request.user)
        preview = None
        if form.is_valid():
            upload = form.cleaned_data["file"]
            preview = selectors.upload_preview(upload.read(), filename=upload.name, mapping=form.columns(),
                                               sensitive=form.cleaned_data["sensitive_features"])
        status = 200 if preview is not None else 400
        if is_htmx(request):
            return render(request, "monitoring/partials/preview.html", {"preview": preview, "form": form},
                          status=status)
        return render(request, "monitoring/upload.html", {"form": form, "preview": preview, "problems": [],
                                                          "part_size": settings.PORTAL_UPLOAD_PART_BYTES,
                                                          "reselect_file": True}, status=status)


class ReferenceUploadView(RoleRequiredMixin, FormView):
    capability = Capability.UPLOAD_EVALUATION
    template_name = "monitoring/reference_upload.html"
    form_class = forms.ReferenceUploadForm

    def get_initial(self):
        version = query_int(self.request.GET, "version")
        return {} if version is None else {"version": version}

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user, "q": self.request.GET.get("q", "").strip()}

    def get_context_data(self, **kwargs):
        kwargs.setdefault("problems", [])
        return {**super().get_context_data(**kwargs), "q": self.request.GET.get("q", "").strip(),
                "part_size": settings.PORTAL_UPLOAD_PART_BYTES}

    def form_valid(self, form):
        version, upload = form.cleaned_data["version"], form.cleaned_data["file"]
        try:
            reference = services.reference_upload(actor=self.request.user, version=version, data=upload.read(),
                                                  filename=upload.name)
        except services.UploadRejected as exc:
            form.add_error(None, "The file was rejected and nothing was stored.")
            return self.render_to_response(self.get_context_data(form=form, problems=exc.problems), status=400)
        except DomainError as exc:
            _form_error(form, exc)
            return self.render_to_response(self.get_context_data(form=form), status=exc.status_code)
        messages.success(self.request, f"Reference data for {version} was stored ({reference.row_count:,} rows, "
                                       f"{len(reference.columns)} columns). Later evaluations are compared with it.")
        return HttpResponseRedirect(reverse("monitoring:model", kwargs={"slug": version.model.slug}))

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


# ---------------------------------------------------------------- evaluations


class EvaluationDetailView(RoleRequiredMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "monitoring/evaluation_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        evaluation = selectors.evaluation_detail(pk=kwargs["pk"])
        version = evaluation.version
        policy, thresholds = selectors.policy_rules(version.model)
        report = selectors.evaluation_report(evaluation.metrics, rules=thresholds.rules,
                                             baseline=version.validation_metrics)
        metrics = evaluation.metrics or {}
        figures = [charts.group_chart(attribute, groups, index=n)
                   for n, (attribute, groups) in enumerate((metrics.get("groups") or {}).items())]
        if metrics.get("drift"):
            figures.append(charts.drift_chart(metrics["drift"], thresholds.rules.get("psi_max")))
        explanation = _explanation_context(self.request, evaluation)
        if explanation["explanation"] and explanation["explanation"].done:
            found = metrics["explanations"]
            figures.append(charts.importance_chart(found["importances"], unit=found["importance_unit"]))
        coverage = selectors.label_coverage(evaluation)
        may_label = coverage is not None and may(self.request.user, Capability.UPLOAD_EVALUATION, version.model)
        context.setdefault("label_form", forms.LabelUploadForm() if may_label else None)
        context.setdefault("label_problems", [])
        context["part_size"] = settings.PORTAL_UPLOAD_PART_BYTES  # a label file over it goes in parts
        context.update(explanation)
        context.update(evaluation=evaluation, version=version, model=version.model, report=report, policy=policy,
                       skipped_thresholds=thresholds.skipped, label_coverage=coverage,
                       labels_pending=coverage is not None and not metrics.get("overall"),
                       charts=figures, alerts=selectors.evaluation_alerts(evaluation),
                       status_note=selectors.evaluation_status_note(evaluation),
                       alerted=evaluation.kind == Evaluation.Kind.PRODUCTION)
        return context


def _explanation_context(request, evaluation: Evaluation) -> dict:
    """What the explanation panel (``partials/explanation.html``) shows, on the page and when it is polled."""
    explanation = selectors.explanation_report(evaluation.metrics)
    may_retry = selectors.explanation_failed(evaluation) and may(request.user, Capability.UPLOAD_EVALUATION,
                                                                 evaluation.version.model)
    return {"explanation": explanation, "explanation_followed": selectors.explanation_followed(evaluation),
            "may_retry_explanation": may_retry}


class _EvaluationWriteView(EvaluationDetailView):
    """A form posted from the evaluation page by someone who may upload the model's evaluations; a refusal is shown
    on the page."""

    capability = Capability.UPLOAD_EVALUATION
    http_method_names = ["post"]

    @cached_property
    def evaluation(self) -> Evaluation:
        return selectors.evaluation_detail(pk=self.kwargs["pk"])

    def check_object_permission(self, request) -> None:
        require(request.user, Capability.UPLOAD_EVALUATION, self.evaluation.version.model)


class EvaluationLabelsView(_EvaluationWriteView):
    """Add late labels from the evaluation page; a refused file is listed problem by problem on it."""

    def post(self, request, pk: int):
        form = forms.LabelUploadForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(pk=pk, label_form=form), status=400)
        upload = form.cleaned_data["file"]
        try:
            batch = services.evaluation_labels_add(actor=request.user, evaluation=self.evaluation,
                                                   data=upload.read(), filename=upload.name)
        except services.UploadRejected as exc:
            form.add_error(None, "The label file was rejected and nothing was stored. Fix the problems listed and "
                                 "choose the file again.")
            return self.render_to_response(self.get_context_data(pk=pk, label_form=form,
                                                                 label_problems=exc.problems), status=400)
        except DomainError as exc:
            _form_error(form, exc)
            return self.render_to_response(self.get_context_data(pk=pk, label_form=form), status=exc.status_code)
        messages.success(request, f"{batch.row_count:,} label{'s' if batch.row_count != 1 else ''} from "
                                  f"{batch.filename} were added; performance and fairness are recomputed in the "
                                  "background.")
        return HttpResponseRedirect(self.evaluation.get_absolute_url())


class EvaluationStatusView(RoleRequiredMixin, View):
    """The status partial polled by htmx every 2 s; once the computation ends, htmx reloads the page."""

    capability = Capability.VIEW_PORTFOLIO

    def get(self, request, pk: int):
        evaluation = get_object_or_404(Evaluation.objects.only("pk", "status", "error", "started_at", "finished_at",
                                                               "created_at", "attempts", "enqueued_at",
                                                               "heartbeat_at"), pk=pk)
        response = render(request, "monitoring/partials/evaluation_status.html",
                          {"evaluation": evaluation, "status_note": selectors.evaluation_status_note(evaluation)})
        finished = evaluation.status in (Evaluation.Status.DONE, Evaluation.Status.FAILED)
        if finished and is_htmx(request):
            response["HX-Refresh"] = "true"  # the metrics sections appear with the full page
        patch_vary_headers(response, ["HX-Request"])
        return response


class EvaluationExplanationView(RoleRequiredMixin, View):
    """The explanation panel, polled by htmx every 2 s while the explanation is pending.

    A failed explanation is swapped in with its reason, which ends the polling. A stored one reloads the page
    instead: its importance chart is drawn with the page's charts (charts.js draws on load; htmx runs no scripts).
    So does an evaluation being recomputed meanwhile (late labels), whose page then follows its status panel.
    """

    capability = Capability.VIEW_PORTFOLIO

    def get(self, request, pk: int):
        evaluation = selectors.evaluation_detail(pk=pk)
        context = {"evaluation": evaluation, **_explanation_context(request, evaluation)}
        response = render(request, "monitoring/partials/explanation.html", context)
        if is_htmx(request) and not context["explanation_followed"] and not selectors.explanation_failed(evaluation):
            response["HX-Refresh"] = "true"
        patch_vary_headers(response, ["HX-Request"])
        return response


class EvaluationExplanationRetryView(_EvaluationWriteView):
    """Ask again for a failed explanation (given up after its workers died, or an error) from the evaluation page;
    one that is not failed (any more) gets the page with the refusal (409)."""

    def post(self, request, pk: int):
        try:
            services.evaluation_explanation_retry(actor=request.user, evaluation=self.evaluation)
        except DomainError as exc:
            messages.error(request, exc.message)
            return self.render_to_response(self.get_context_data(pk=pk), status=exc.status_code)
        messages.success(request, "The explanation is computed again in the background; this page shows it when it "
                                  "is ready.")
        return HttpResponseRedirect(self.evaluation.get_absolute_url() + "#explanations")


# ---------------------------------------------------------------- one model


def _series_label(window) -> str:
    return f"{window.version.version} ({window.cadence})"


def _window_table(windows, task_type: str) -> tuple[list[str], list]:
    """Column titles and (window, formatted key metrics) rows, newest first."""
    keys = charts.KEY_METRICS.get(task_type, charts.KEY_METRICS["binary"])
    rows = [(w, [selectors.fmt(charts.key_metric(w.metrics or {}, key)) for key, _ in keys]) for w in reversed(windows)]
    return [title for _, title in keys], rows


class ModelMonitoringView(RoleRequiredMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "monitoring/model.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        data = selectors.model_monitoring(slug=kwargs["slug"])
        policy = data.obligations.policy
        window_columns, window_rows = _window_table(data.windows, data.model.task_type)
        context.update(
            data=data, model=data.model, obligations=data.obligations, policy=policy,
            charts=charts.window_charts(data.windows, task_type=data.model.task_type,
                                        rules=data.obligations.thresholds.rules,
                                        series_label=_series_label) if data.windows else [],
            window_columns=window_columns, window_rows=window_rows,
            can_upload=may(self.request.user, Capability.UPLOAD_EVALUATION),
            resolved_shown=selectors.RESOLVED_SHOWN,
        )
        return context


# ---------------------------------------------------------------- alerts


class AlertDetailView(RoleRequiredMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "monitoring/alert_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(alert=selectors.alert_detail(pk=kwargs["pk"]),
                       can_handle=may(self.request.user, Capability.TRIAGE_ALERT))
        return context


class AlertActionView(RoleRequiredMixin, View):
    """POST: acknowledge or resolve an alert. Executives are refused; an alert already there gets a 409 page."""

    capability = Capability.TRIAGE_ALERT
    http_method_names = ["post"]
    action = ""
    ACTIONS = {"acknowledge": (services.alert_acknowledge, "acknowledged"),
               "resolve": (services.alert_resolve, "resolved")}

    def post(self, request, pk: int):
        alert = get_object_or_404(Alert, pk=pk)
        service, done = self.ACTIONS[self.action]
        try:
            service(actor=request.user, alert=alert)
        except DomainError as exc:
            return render(request, "monitoring/alert_detail.html",
                          {"alert": selectors.alert_detail(pk=pk), "can_handle": True, "action_error": exc.message},
                          status=exc.status_code)
        messages.success(request, f"The alert was {done}.")
        return HttpResponseRedirect(alert.get_absolute_url())


# ---------------------------------------------------------------- champion versus challenger


class CompareView(RoleRequiredMixin, FormView):
    """One file with both versions' predictions, compared within the request (at most 50,000 rows)."""

    capability = Capability.VIEW_PORTFOLIO
    post_capability = Capability.COMPARE_VERSIONS
    template_name = "monitoring/compare.html"
    form_class = forms.CompareForm

    @cached_property
    def model(self) -> MLModel:
        return get_object_or_404(MLModel.objects.select_related("team"), slug=self.kwargs["slug"])

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "model": self.model}

    def get_initial(self):
        initial = {}
        champion = services.champion_of(self.model)
        if champion:
            initial["champion"] = champion
        challenger = query_int(self.request.GET, "challenger")
        if challenger is not None:
            initial["challenger"] = challenger
        return initial

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = context["form"]
        context.update(model=self.model, can_write=may(self.request.user, Capability.COMPARE_VERSIONS),
                       problems=form.problems, has_champion=form.fields["champion"].queryset.exists(),
                       max_rows=f"{forms.COMPARE_MAX_ROWS:,}")
        return context

    def form_valid(self, form):
        parsed = form.parsed
        result = compare.compare(parsed["y_true"], parsed["champion_pred"], parsed["challenger_pred"],
                                 parsed["champion_score"], parsed["challenger_score"], sensitive=parsed["sensitive"])
        champion, challenger = form.cleaned_data["champion"], form.cleaned_data["challenger"]
        chart = charts.comparison_chart(result, champion=f"Champion {champion.version}",
                                        challenger=f"Challenger {challenger.version}")
        return self.render_to_response(self.get_context_data(
            form=form, result=result, chart=chart, champion=champion, challenger=challenger,
            warnings=parsed["warnings"], scored=parsed["scored"], mcnemar_p=selectors.fmt(result["mcnemar"]["p_value"]),
            promote_form=forms.PromoteForm(initial={"challenger": challenger.pk, "champion": champion.pk},
                                           model=self.model)))

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


class PromoteView(RoleRequiredMixin, View):
    """POST: make the challenger the champion (``services.champion_promote``); the production gate applies.

    The form carries the champion the person compared with: if it changed meanwhile, nothing is promoted (409).
    """

    capability = Capability.EDIT_MODEL
    http_method_names = ["post"]

    def post(self, request, slug: str):
        model = get_object_or_404(MLModel, slug=slug)
        form = forms.PromoteForm(request.POST, model=model)
        if not form.is_valid():
            return self._refused(request, model, None, "Choose a version of this model to promote.", 400)
        challenger = form.cleaned_data["challenger"]
        try:
            _, replaced = services.champion_promote(actor=request.user, model=model, challenger=challenger,
                                                    expected_champion=form.cleaned_data["champion"])
        except DomainError as exc:
            return self._refused(request, model, challenger, exc.message, exc.status_code,
                                 gate_refusal=exc if isinstance(exc, GateRefused) else None)
        moved = ", ".join(str(version.version) for version in replaced)
        messages.success(request, f"{challenger} is now the champion, in production."
                         + (f" Moved to staging for a rollback: {moved}; retire its production deployments "
                            "once traffic has moved." if moved else ""))
        return HttpResponseRedirect(reverse("monitoring:model", kwargs={"slug": model.slug}))

    @staticmethod
    def _refused(request, model, challenger, message: str, status: int, gate_refusal=None) -> HttpResponse:
        context = {"model": model, "challenger": challenger, "message": message, "gate_refusal": gate_refusal}
        if gate_refusal is not None:
            context.update(refused_version=challenger, refused_state=stored_governance(challenger))
        return render(request, "monitoring/promote_refused.html", context, status=status)
