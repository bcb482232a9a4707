"""Review pages: the work queues, one review with its forms, a version's rounds, and the sign-off report.

Every POST validates a form and calls one service; a DomainError comes back as a message on the
page with its status (403 refused, 409 wrong state, 400 otherwise) and nothing is saved.
"""

import os
from dataclasses import dataclass, field

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django.views.generic import TemplateView

from apps.core.errors import DomainError
from apps.core.permissions import RoleRequiredMixin
from apps.core.roles import Capability, Role, may, user_roles
from apps.inventory.models import ModelVersion, Stage
from apps.inventory.selectors import gate_blockers
from apps.reviews import evidence, forms, report, selectors, services
from apps.reviews import transitions as t
from apps.reviews.models import OWNER_ACKNOWLEDGED, STATE_CHOICES, ChecklistAnswer, Review
from apps.risk.selectors import obligations_for

PAGE_SIZE = 20
VERSIONS_PAGE_SIZE = 10
CLOSED_FOR_ACKNOWLEDGEMENT = (t.WITHDRAWN, t.REJECTED, t.EXPIRED)
# Which context flag shows each form's section on the review page.
FORM_SECTIONS = {"answers_form": "can_answer", "decision_form": "can_decide", "assign_form": "can_assign",
                 "acknowledge_form": "can_acknowledge", "withdraw_form": "can_withdraw"}


def _status(exc: DomainError) -> int:
    return exc.status_code if exc.status_code in (403, 409) else 400


def refusal(reason: str) -> str:
    """The four-eyes message, worded exactly as the service words it."""
    return services.four_eyes_refusal(reason)


# --- Work queues ------------------------------------------------------------------------------

@dataclass
class Queue:
    key: str
    title: str
    empty: str
    page: Page
    kind: str = "reviews"
    rows: list = field(default_factory=list)

    @property
    def page_param(self) -> str:
        return f"{self.key}_page"


def _queue(request, *, key: str, title: str, empty: str, items, kind: str = "reviews",
           per_page: int = PAGE_SIZE) -> Queue:
    """One paginated list of the index page; each list has its own page parameter (``<key>_page``)."""
    page = Paginator(items, per_page).get_page(request.GET.get(f"{key}_page"))
    rows = list(page.object_list)
    if kind == "versions":
        rows = [{"version": v, "problems": gate_blockers(v)} for v in rows]
    return Queue(key=key, title=title, empty=empty, page=page, kind=kind, rows=rows)


class IndexView(RoleRequiredMixin, TemplateView):
    """What each person has to do: reviewers' queues, data scientists' rounds and blockers, executives' overview."""

    capability = Capability.VIEW_PORTFOLIO
    template_name = "reviews/index.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        request, user = self.request, self.request.user
        roles = user_roles(user)
        filters = request.GET
        q, state = filters.get("q", "").strip(), filters.get("state", "")

        def reviews(queryset):
            return selectors.filtered(queryset, filters).qs

        queues = []
        if may(user, Capability.DECIDE_REVIEW):
            decisions = selectors.decisions_by(user)
            if q:
                decisions = decisions.filter(review__version__model__name__icontains=q)
            if state in t.STATES:
                decisions = decisions.filter(review__state=state)
            queues += [
                _queue(request, key="assigned", title="Assigned to me", items=reviews(selectors.assigned_to(user)),
                       empty="No open review is assigned to you."),
                _queue(request, key="waiting", title="Waiting for a reviewer",
                       items=reviews(selectors.awaiting_decision(user)),
                       empty="No submitted review is waiting for you. Reviews of versions you worked on are "
                             "left to other reviewers."),
                _queue(request, key="decided", title="Decided by me", items=decisions, kind="decisions",
                       empty="You have not decided on any review yet."),
            ]
        if may(user, Capability.OPEN_REVIEW):
            queues += [
                _queue(request, key="mine", title="My reviews", items=reviews(selectors.opened_or_submitted_by(user)),
                       empty="You have not opened a review yet. Open one from a version's review page."),
                _queue(request, key="blocks", title="What blocks my versions", kind="versions",
                       items=selectors.versions_of(user, q=q), per_page=VERSIONS_PAGE_SIZE,
                       empty="You have no live version (registered by you or of a model you technically own)."),
            ]
        if Role.EXECUTIVE in roles:
            queues.append(_queue(request, key="open", title="All open reviews", items=reviews(selectors.open_reviews()),
                                 empty="No review is open."))
        filtered = bool(q or state)
        context.update(queues=queues, state_choices=STATE_CHOICES, q=q, state=state, filtered=filtered,
                       nothing_yet=bool(queues) and not filtered and not any(queue.rows for queue in queues))
        return context


# --- One review -------------------------------------------------------------------------------

def _load(pk) -> Review:
    try:
        return selectors.review_detail(int(pk))
    except Review.DoesNotExist:
        raise Http404("No such review.") from None


def detail_context(request, review: Review, **bound_forms) -> dict:
    """Everything the review page shows, and which of its forms this person may use."""
    user = request.user
    version, model = review.version, review.version.model
    conflicted = services.conflicted_users(review)
    answers = list(review.answers.all())
    decisions = list(review.decisions.all())
    obligations = obligations_for(model)
    approval = services.approval_status(review, obligations=obligations, conflicted=conflicted)
    # An approved round the current policy no longer justifies takes the approvals it lacks.
    decidable = review.state in (t.SUBMITTED, t.IN_REVIEW) or (review.state == t.APPROVED and approval.reopenable)
    is_reviewer = may(user, Capability.DECIDE_REVIEW)
    my_decision = next((d for d in decisions if d.reviewer_id == user.pk), None)
    conflict = conflicted.get(user.pk) if is_reviewer and decidable and my_decision is None else None
    live_hash = services.current_hash(review) if review.content_hash else ""
    found = evidence.gather(review, obligations=obligations)
    items = services.checklist_items(review, answers)
    context = {
        "evidence": found, "checklist": _checklist(items, answers, decisions, found),
        "review": review, "version": version, "model": model, "obligations": obligations,
        "answers": answers, "decisions": decisions,
        "approvals": approval.approvals, "approval": approval,
        "approval_problems": approval.problems() if review.state in (t.SUBMITTED, t.IN_REVIEW, t.APPROVED) else [],
        "allowed_actions": [a.replace("_", " ") for a in t.allowed_actions(review.state)],
        "rounds": selectors.rounds_of(version),
        "my_decision": my_decision,
        "conflict_refusal": refusal(conflict) if conflict else "",
        "content_changed": bool(review.content_hash) and live_hash != review.content_hash,
        "can_answer": review.state == t.DRAFT and may(user, Capability.OPEN_REVIEW),
        "can_decide": decidable and is_reviewer and not conflict and my_decision is None,
        "can_assign": (review.is_open or (review.state == t.APPROVED and approval.reopenable))
        and may(user, Capability.ASSIGN_REVIEWER),
        "can_acknowledge": (may(user, Capability.ACKNOWLEDGE_REVIEW, review) and review.owner_acknowledged_at is None
                            and review.state not in CLOSED_FOR_ACKNOWLEDGEMENT),
        "can_withdraw": review.is_open and may(user, Capability.WITHDRAW_REVIEW, review),
    }
    defaults = {
        "answers_form": lambda: forms.AnswersForm(answers=answers) if context["can_answer"] else None,
        "decision_form": lambda: forms.DecisionForm(initial={"seen_hash": review.content_hash},
                                                    items=items),
        "assign_form": lambda: forms.AssignForm(reviewers=selectors.assignable_reviewers(review, conflicted))
        if context["can_assign"] else None,
        "acknowledge_form": forms.AcknowledgeForm,
        "withdraw_form": forms.WithdrawForm,
    }
    for name, make in defaults.items():
        context[name] = bound_forms.get(name) or make()
    if context["answers_form"] is not None:
        context["answers_form"].links = found.links
    if context["can_decide"]:
        verdict_fields = context["decision_form"].verdict_fields()
        for group in context["checklist"]:
            for row in group["rows"]:
                row["fields"] = verdict_fields.get(row["item"].pk)
    if context["can_assign"] and bound_forms.get("assign_form") is not None:
        bound_forms["assign_form"].fields["reviewer"].queryset = selectors.assignable_reviewers(review, conflicted)
    # A refused form whose section this person does not see: its messages go on top of the page.
    context["refusals"] = [
        message for name, form in bound_forms.items()
        if form is not None and not context[FORM_SECTIONS[name]]
        for messages_ in form.errors.values() for message in messages_
    ]
    return context


def _checklist(items: list, answers: list, decisions: list, found: evidence.Evidence) -> list[dict]:
    """The checklist table: per item its answer (the owner's acknowledgement for that item), the evidence the
    portal holds for it, and each reviewer's verdict; grouped by checklist."""
    by_item = {answer.item_id: answer for answer in answers}
    verdicts: dict[int, list] = {}
    for decision in decisions:
        for verdict in decision.verdicts.all():
            verdicts.setdefault(verdict.item_id, []).append((decision.reviewer, verdict))
    groups: dict[str, dict] = {}
    for item in items:
        answer = by_item.get(item.pk)
        if item.key == OWNER_ACKNOWLEDGED:
            answer = None  # the owner's acknowledgement answers it, whatever a round opened earlier stored
        group = groups.setdefault(item.checklist, {"checklist": item.get_checklist_display(), "rows": []})
        group["rows"].append({"item": item, "answer": answer, "owner_item": item.key == OWNER_ACKNOWLEDGED,
                              "links": found.links.get(item.key, []), "verdicts": verdicts.get(item.pk, [])})
    return list(groups.values())


def render_detail(request, pk, *, status: int = 200, **bound_forms) -> HttpResponse:
    review = _load(pk)
    return render(request, "reviews/detail.html", detail_context(request, review, **bound_forms), status=status)


class ReviewDetailView(RoleRequiredMixin, View):
    capability = Capability.VIEW_PORTFOLIO

    def get(self, request, pk):
        return render_detail(request, pk)


class ReviewActionView(RoleRequiredMixin, View):
    """POST one form to one service; on refusal show the review page again with the message and its status."""

    http_method_names = ["post"]
    form_class = None
    form_name = ""

    def make_form(self, request, review):
        return self.form_class(request.POST)

    def perform(self, form, review) -> str:
        """Call the service; return the success message."""
        raise NotImplementedError

    def add_error(self, form, exc: DomainError) -> None:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)

    def post(self, request, pk):
        review = get_object_or_404(Review, pk=pk)
        form = self.make_form(request, review)
        status = 400
        if form.is_valid():
            try:
                message = self.perform(form, review)
            except DomainError as exc:
                self.add_error(form, exc)
                status = _status(exc)
            else:
                messages.success(request, message)
                return redirect(review)
        return render_detail(request, pk, status=status, **{self.form_name: form})


class AnswersView(ReviewActionView):
    """Save the answers of a draft (all or nothing), then optionally submit it for review."""

    capability = Capability.OPEN_REVIEW
    form_name = "answers_form"

    def make_form(self, request, review):
        answers = ChecklistAnswer.objects.filter(review=review).select_related("item")
        return forms.AnswersForm(request.POST, request.FILES, answers=answers)

    def post(self, request, pk):
        review = get_object_or_404(Review, pk=pk)
        form = self.make_form(request, review)
        if not form.is_valid():
            return render_detail(request, pk, status=400, answers_form=form)
        item_id = None
        try:
            with services.evidence_discarded_on_error() as stored, transaction.atomic():
                for values in form.changed_items():
                    item_id = values["item_id"]
                    row = services.review_answer(actor=request.user, review=review, **values)
                    if values["evidence_file"] is not None:
                        stored.append(row.evidence_file.name)
        except DomainError as exc:
            form.add_error(form.field_for(item_id, exc.field), exc.message)
            return render_detail(request, pk, status=_status(exc), answers_form=form)
        if "submit" not in request.POST:
            messages.success(request, "Answers saved. Submit the review when every item is answered.")
            return redirect(review)
        try:
            services.review_submit(actor=request.user, review=review)
        except DomainError as exc:
            messages.warning(request, "Your answers were saved; the review was not submitted.")
            form.add_error(None, exc.message)
            return render_detail(request, pk, status=_status(exc), answers_form=form)
        messages.success(request, "Submitted for review. Reviewers other than you will decide.")
        return redirect(review)


class DecideView(ReviewActionView):
    capability = Capability.DECIDE_REVIEW
    form_name = "decision_form"

    def make_form(self, request, review):
        answers = ChecklistAnswer.objects.filter(review=review).select_related("item")
        return forms.DecisionForm(request.POST, items=services.checklist_items(review, answers))

    def perform(self, form, review):
        data = form.cleaned_data
        services.review_decide(actor=self.request.user, review=review, decision=data["decision"],
                               comment=data["comment"], seen_hash=data["seen_hash"] or None,
                               verdicts=form.verdicts())
        review.refresh_from_db(fields=["state"])
        return f"Your decision is recorded; the review is now {review.get_state_display().lower()}."


class AssignView(ReviewActionView):
    capability = Capability.ASSIGN_REVIEWER
    form_class = forms.AssignForm
    form_name = "assign_form"

    def perform(self, form, review):
        reviewer = form.cleaned_data["reviewer"]
        services.review_assign(actor=self.request.user, review=review, reviewer=reviewer)
        return f"{reviewer.get_username()} is assigned to this review."


class AcknowledgeView(ReviewActionView):
    """Every role may reach it; the service admits only the model's accountable owner."""

    capability = Capability.ACKNOWLEDGE_REVIEW
    form_class = forms.AcknowledgeForm
    form_name = "acknowledge_form"

    def perform(self, form, review):
        services.review_acknowledge(actor=self.request.user, review=review)
        return "Your acknowledgement of responsibility is recorded."


class WithdrawView(ReviewActionView):
    capability = Capability.WITHDRAW_REVIEW
    form_class = forms.WithdrawForm
    form_name = "withdraw_form"

    def perform(self, form, review):
        services.review_withdraw(actor=self.request.user, review=review, reason=form.cleaned_data["reason"])
        return "The review was withdrawn. Start a new round from the version's review page when ready."


class EvidenceView(RoleRequiredMixin, View):
    """An evidence file, always as a download (never rendered in the portal's origin)."""

    capability = Capability.VIEW_PORTFOLIO

    def get(self, request, pk, answer_id):
        answer = get_object_or_404(ChecklistAnswer, pk=answer_id, review_id=pk)
        if not answer.evidence_file:
            raise Http404("This answer has no evidence file.")
        try:
            handle = answer.evidence_file.open("rb")
        except FileNotFoundError:
            raise Http404("The evidence file is missing from storage.") from None
        return FileResponse(handle, as_attachment=True, filename=os.path.basename(answer.evidence_file.name),
                            content_type="application/octet-stream")


# --- A version's rounds -------------------------------------------------------------------------

def version_context(request, version: ModelVersion, **extra) -> dict:
    rounds = list(selectors.rounds_of(version))
    open_round = next((r for r in rounds if r.is_open), None)
    return {
        "version": version, "model": version.model, "rounds": rounds, "open_round": open_round,
        "problems": gate_blockers(version), "obligations": obligations_for(version.model),
        "can_start": (may(request.user, Capability.OPEN_REVIEW, version.model) and version.stage != Stage.RETIRED
                      and open_round is None),
        **extra,
    }


def _version(version_id) -> ModelVersion:
    return get_object_or_404(ModelVersion.objects.select_related("model"), pk=version_id)


class VersionReviewsView(RoleRequiredMixin, TemplateView):
    capability = Capability.VIEW_PORTFOLIO
    template_name = "reviews/version.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **version_context(self.request, _version(kwargs["version_id"]))}


class StartView(RoleRequiredMixin, View):
    capability = Capability.OPEN_REVIEW
    http_method_names = ["post"]

    def post(self, request, version_id):
        version = _version(version_id)
        try:
            review = services.review_start(actor=request.user, version=version)
        except DomainError as exc:
            context = version_context(request, version, start_error=exc.message)
            return render(request, "reviews/version.html", context, status=_status(exc))
        messages.success(request, f"Round {review.round} opened. Answer every checklist item, then submit it.")
        return redirect(review)


# --- Sign-off report ------------------------------------------------------------------------------

class ReportView(RoleRequiredMixin, View):
    """The auditors' record of one round: Markdown download or printable HTML."""

    capability = Capability.VIEW_PORTFOLIO

    def get(self, request, pk):
        fmt = request.GET.get("format", "html")
        if fmt not in ("html", "md"):
            return HttpResponseBadRequest("Unknown format; use ?format=md or ?format=html.")
        data = report.build(_load(pk))
        if fmt == "md":
            response = HttpResponse(report.to_markdown(data), content_type="text/markdown; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{data["filename"]}.md"'
            return response
        return render(request, "reviews/report.html", {"report": data, "review": data["review"]})
