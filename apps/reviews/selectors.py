"""Reads of the reviews app: the work queues, one review with everything its page shows, and the filter
shared by the queue pages and the API."""

import django_filters
from django.db.models import Case, Count, F, IntegerField, Prefetch, Q, Value, When

from apps.core.filters import IdFilter
from apps.core.models import AuditEvent
from apps.core.roles import Capability, roles_with
from apps.inventory.models import ModelVersion, Stage
from apps.reviews import transitions as t
from apps.reviews.models import STATE_CHOICES, ChecklistAnswer, ChecklistVerdict, Review, ReviewDecision
from apps.risk.selectors import with_required_approvals_now


class ReviewFilter(django_filters.FilterSet):
    """Query parameters: q (model name), state, version (id), model (slug)."""

    q = django_filters.CharFilter(field_name="version__model__name", lookup_expr="icontains", label="Model",
                                  help_text="Part of the model's name")
    state = django_filters.ChoiceFilter(choices=STATE_CHOICES, label="State")
    version = IdFilter(field_name="version_id", label="Version id")
    model = django_filters.CharFilter(field_name="version__model__slug", label="Model (slug)")

    class Meta:
        model = Review
        fields = ["q", "state", "version", "model"]


def _with_approvals(queryset):
    """The approvals so far, and ``required_approvals_now``: what the model's current policy demands."""
    queryset = queryset.annotate(approvals=Count("decisions", filter=Q(decisions__decision="approve"), distinct=True))
    return with_required_approvals_now(queryset, model="version__model")


def reviews():
    """Reviews with what every list shows, and the number of approvals so far against the current requirement."""
    return _with_approvals(Review.objects.select_related("version__model", "submitted_by", "created_by")
                           ).order_by("-updated_at", "-pk")


def filtered(queryset, filters) -> django_filters.FilterSet:
    return ReviewFilter(filters, queryset=queryset)


def assigned_to(user):
    return reviews().filter(assignees=user, state__in=t.OPEN_STATES)


def edited_version_ids(user) -> list[int]:
    ids = (AuditEvent.objects.filter(object_type="inventory.modelversion", actor=user)
           .values_list("object_id", flat=True).distinct())
    return [int(i) for i in ids if i.isdigit()]


def answered_review_ids(user) -> list[int]:
    ids = (AuditEvent.objects.filter(object_type="reviews.review", action="review.answered", actor=user)
           .values_list("object_id", flat=True).distinct())
    return [int(i) for i in ids if i.isdigit()]


def awaiting_decision(user):
    """Submitted or in-review rounds ``user`` may still decide on, and approved rounds of live versions that
    have fewer approvals than the model's current policy demands (deciding reopens them).

    Mirrors ``services.conflicted_users`` as a query (submitter, opener, answerer, version author,
    accountable or technical owner, editor of the version), so the queue never offers what the service
    would refuse.
    """
    short = Q(state=t.APPROVED, approvals__lt=F("required_approvals_now")) & ~Q(version__stage=Stage.RETIRED)
    return (reviews().filter(Q(state__in=(t.SUBMITTED, t.IN_REVIEW)) | short)
            .exclude(submitted_by=user).exclude(created_by=user).exclude(pk__in=answered_review_ids(user))
            .exclude(version__created_by=user)
            .exclude(version__model__accountable_owner=user)
            .exclude(version__model__technical_owners=user)
            .exclude(version_id__in=edited_version_ids(user))
            .exclude(decisions__reviewer=user))


def decisions_by(user):
    return (ReviewDecision.objects.filter(reviewer=user)
            .select_related("review__version__model").order_by("-created_at"))


def opened_or_submitted_by(user):
    """The rounds ``user`` opened or submitted, open ones first."""
    still_open = Case(When(state__in=t.OPEN_STATES, then=Value(0)), default=Value(1), output_field=IntegerField())
    return (reviews().filter(Q(created_by=user) | Q(submitted_by=user))
            .annotate(closed=still_open).order_by("closed", "-updated_at", "-pk"))


def open_reviews():
    return reviews().filter(state__in=t.OPEN_STATES)


def versions_of(user, *, q: str = ""):
    """Live versions ``user`` registered or whose model they technically own."""
    queryset = (ModelVersion.objects.exclude(stage=Stage.RETIRED)
                .filter(Q(created_by=user) | Q(model__technical_owners=user))
                .select_related("model", "governance").distinct().order_by("model__name", "-created_at"))
    return queryset.filter(model__name__icontains=q) if q else queryset


def review_detail(pk: int) -> Review:
    """One review with its version, model, people, answers, decisions and verdicts, and the stored governance
    state, in a constant number of queries."""
    return (Review.objects.select_related(
        "version__model__team__business_unit", "version__model__accountable_owner", "version__created_by",
        "version__governance", "submitted_by", "created_by", "owner_acknowledged_by")
        .prefetch_related(
            Prefetch("answers", queryset=ChecklistAnswer.objects.select_related("item").order_by(
                "item__checklist", "item__order", "item__key")),
            Prefetch("decisions", queryset=ReviewDecision.objects.select_related("reviewer")),
            Prefetch("decisions__verdicts", queryset=ChecklistVerdict.objects.select_related("item")),
            "assignees", "version__training_datasets", "version__model__technical_owners",
            "version__model__business_processes")
        .get(pk=pk))


def rounds_of(version):
    return _with_approvals(Review.objects.filter(version=version).select_related("submitted_by", "created_by")
                           ).order_by("-round")


def assignable_reviewers(review: Review, conflicted: dict[int, str]):
    """Active reviewers and admins who are neither conflicted nor already assigned."""
    from django.contrib.auth import get_user_model

    assigned = [u.pk for u in review.assignees.all()]
    deciders = [role.value for role in roles_with(Capability.DECIDE_REVIEW)]
    return (get_user_model().objects.filter(is_active=True)
            .filter(Q(groups__name__in=deciders) | Q(is_superuser=True))
            .exclude(pk__in=[*conflicted, *assigned]).distinct().order_by("username"))


# --- What the portfolio reads ---------------------------------------------------------------------------------

def latest_review_per_version(model) -> dict[int, Review]:
    """The latest round of review of each of the model's versions, by version id: one query."""
    latest: dict[int, Review] = {}
    for review in Review.objects.filter(version__model=model).order_by("version_id", "-round"):
        latest.setdefault(review.version_id, review)
    return latest
