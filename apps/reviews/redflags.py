"""Review red flags: live versions without a valid approval, and overrides of the production gate."""

from django.db.models import Exists, OuterRef, Q

from apps.inventory.models import ModelVersion, Stage
from apps.inventory.redflags import HIGH, MEDIUM, Source, register, within
from apps.reviews import transitions as t
from apps.reviews.models import GateOverride, Review

UNAPPROVED = "In production without valid approval"
OVERRIDDEN = "Production gate overridden"


@register
class ProductionWithoutApproval(Source):
    kind = UNAPPROVED
    severity = HIGH
    model = "model"
    order = ("version",)
    related = ("model",)

    def rows(self, models):
        reviews = Review.objects.filter(version=OuterRef("pk"))
        return (ModelVersion.objects.filter(stage=Stage.PRODUCTION)
                .exclude(Exists(reviews.filter(state=t.APPROVED))).filter(within(models, "model"))
                .annotate(expired=Exists(reviews.filter(state=t.EXPIRED))))

    def detail(self, version) -> str:
        why = ("its approval expired when the reviewed artefact or data changed" if version.expired
               else "it was never approved")
        return f"Version {version.version} runs in production without a valid approval: {why}."

    def url(self, version) -> str:
        return version.get_absolute_url()


@register
class GateOverridden(Source):
    """The latest override of each production version."""

    kind = OVERRIDDEN
    severity = MEDIUM
    model = "version__model"
    order = ("actor__username", "version__version")
    related = ("version__model", "actor")

    def rows(self, models):
        later = GateOverride.objects.filter(version=OuterRef("version")).filter(
            Q(created_at__gt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"), pk__gt=OuterRef("pk")))
        # EXISTS rather than a join on the version: SQLite then reads the (few) overrides, not every version.
        in_production = ModelVersion.objects.filter(pk=OuterRef("version"), stage=Stage.PRODUCTION)
        return GateOverride.objects.filter(Exists(in_production)).exclude(Exists(later)).filter(
            within(models, "version__model"))

    def detail(self, override) -> str:
        return (f"{override.actor.username} let {override.version.version} through on "
                f"{override.created_at:%Y-%m-%d}: {override.reason[:160]}")

    def url(self, override) -> str:
        return override.version.get_absolute_url()
