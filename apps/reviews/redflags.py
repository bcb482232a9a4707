"""Review red flags: live versions without a valid approval, and overrides of the production gate."""

from django.db.models import Exists, OuterRef

from apps.inventory.models import ModelVersion, Stage
from apps.inventory.redflags import HIGH, MEDIUM, RedFlag, register
from apps.reviews import transitions as t
from apps.reviews.models import GateOverride, Review

UNAPPROVED = "In production without valid approval"
OVERRIDDEN = "Production gate overridden"


@register
def production_without_approval(models):
    reviews = Review.objects.filter(version=OuterRef("pk"))
    versions = (ModelVersion.objects.filter(model__in=models, stage=Stage.PRODUCTION)
                .exclude(Exists(reviews.filter(state=t.APPROVED)))
                .annotate(expired=Exists(reviews.filter(state=t.EXPIRED)))
                .select_related("model"))
    for version in versions:
        why = ("its approval expired when the reviewed artefact or data changed" if version.expired
               else "it was never approved")
        yield RedFlag(HIGH, version.model.name, UNAPPROVED,
                      f"Version {version.version} runs in production without a valid approval: {why}.",
                      version.get_absolute_url())


@register
def gate_overridden(models):
    overrides = (GateOverride.objects.filter(version__model__in=models, version__stage=Stage.PRODUCTION)
                 .select_related("version__model", "actor").order_by("-created_at"))
    seen = set()
    for override in overrides:
        if override.version_id in seen:
            continue
        seen.add(override.version_id)
        yield RedFlag(MEDIUM, override.version.model.name, OVERRIDDEN,
                      f"{override.actor.username} let {override.version.version} through on "
                      f"{override.created_at:%Y-%m-%d}: {override.reason[:160]}",
                      override.version.get_absolute_url())
