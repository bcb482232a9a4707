"""Demo reviews: an approval behind every live version, and reviews in every other state.

``approve`` is called by ``apps.demo.inventory`` before each version goes live (the
production gate demands it). ``seed`` then adds reviews of non-production
versions in the remaining states, and voids one live approval with an artefact
hotfix so the dashboard shows a production model without a valid approval.
"""

from django.contrib.auth import get_user_model
from django.db import transaction

from apps.core.roles import Role
from apps.inventory import services as inventory
from apps.inventory.models import ModelVersion, Stage
from apps.reviews import services
from apps.reviews import transitions as t
from apps.reviews.models import Review

REVIEWER_NAMES = ("reviewer", "reviewer2", "admin")


def _users():
    users = get_user_model().objects.filter(username__in=REVIEWER_NAMES)
    return {u.username: u for u in users}


def _submitter(version: ModelVersion):
    """A data scientist of the model's team who did not build the version, the demo 'scientist' where they
    are one; the version's author when nobody else is (only the team and the owners open its reviews)."""
    others = (version.model.team.members.filter(is_active=True, groups__name=Role.DATA_SCIENTIST.value)
              .exclude(pk=version.created_by_id).order_by("username"))
    return others.filter(username="scientist").first() or others.first() or version.created_by


def _open(version: ModelVersion, submitter) -> Review:
    review = services.review_start(actor=submitter, version=version)
    for answer in review.answers.select_related("item"):
        services.review_answer(
            actor=submitter, review=review, item_id=answer.item_id, answer="yes",
            evidence=f"{answer.item.guidance} See the model card of {version}.",
            evidence_link=f"https://wiki.example.org/models/{version.model.slug}/{version.version}")
    return review


def approve(version: ModelVersion) -> Review:
    """Open, answer, submit and approve a review of ``version`` with as many reviewers as its tier needs."""
    submitter = _submitter(version)
    review = services.review_submit(actor=submitter, review=_open(version, submitter))
    reviewers = _users()
    conflicted = services.conflicted_users(review)
    for name in REVIEWER_NAMES:
        review.refresh_from_db()
        if review.state == t.APPROVED:
            break
        person = reviewers.get(name)
        if person and person.pk not in conflicted:
            services.review_decide(actor=person, review=review, decision="approve",
                                   comment="Checklists complete; evidence reviewed.")
    owner = version.model.accountable_owner
    if owner.is_active:
        services.review_acknowledge(actor=owner, review=review)
    review.refresh_from_db()
    return review


@transaction.atomic
def seed(*, stdout) -> None:
    if Review.objects.exclude(state=t.APPROVED).exists():
        stdout.write("Reviews demo: already seeded.")
        return
    reviewers = _users()
    candidates = list(ModelVersion.objects.filter(stage__in=[Stage.STAGING, Stage.VALIDATION, Stage.DEVELOPMENT])
                      .exclude(reviews__isnull=False).select_related("model").order_by("pk")[:8])
    scenarios = ["draft", "submitted", "in_review", "changes_requested", "rejected", "withdrawn", "approved",
                 "submitted"]
    for version, scenario in zip(candidates, scenarios, strict=False):
        submitter = _submitter(version)
        review = _open(version, submitter)
        if scenario == "draft":
            continue
        if scenario == "withdrawn":
            services.review_withdraw(actor=submitter, review=review, reason="Retraining on fresher data first.")
            continue
        review = services.review_submit(actor=submitter, review=review)
        services.review_assign(actor=submitter, review=review, reviewer=reviewers["reviewer"])
        if scenario == "in_review":
            services.review_decide(actor=reviewers["reviewer2"], review=review, decision="approve",
                                   comment="Fine by me; waiting for a second reviewer.")
            review.refresh_from_db()
        elif scenario == "changes_requested":
            services.review_decide(actor=reviewers["reviewer"], review=review, decision="request_changes",
                                   comment="Bias evidence covers sex only; add age bands.")
        elif scenario == "rejected":
            services.review_decide(actor=reviewers["reviewer2"], review=review, decision="reject",
                                   comment="Training data lacks a lawful basis for this purpose.")
        elif scenario == "approved":
            for name in REVIEWER_NAMES:
                review.refresh_from_db()
                if review.state == t.APPROVED:
                    break
                services.review_decide(actor=reviewers[name], review=review, decision="approve", comment="OK.")
    _hotfix_after_approval(stdout)
    states = Review.objects.values("state").distinct().count()
    stdout.write(f"Reviews demo: {Review.objects.count()} reviews in {states} states.")


def _hotfix_after_approval(stdout) -> None:
    """A live version whose artefact was patched after sign-off: its approval expires (a dashboard red flag)."""
    version = (ModelVersion.objects.filter(stage=Stage.PRODUCTION, reviews__state=t.APPROVED)
               .select_related("model").order_by("model__name").first())
    if version is None:
        return
    patcher = _submitter(version)
    inventory.version_update(actor=patcher, version=version, artifact_sha256="f" * 64,
                             reason="Hotfix: re-exported the artefact with a patched feature encoder.")
    stdout.write(f"Reviews demo: {version} was patched after approval; its approval expired.")
