"""Review red flags: live versions without a valid approval, and overrides of the production gate."""

from apps.portfolio.redflags import HIGH, MEDIUM, Source, register, within
from apps.reviews.selectors import latest_overrides_in_production, production_versions_without_approval

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
        return production_versions_without_approval().filter(within(models, "model"))

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
        return latest_overrides_in_production().filter(within(models, "version__model"))

    def detail(self, override) -> str:
        return (f"{override.actor.username} let {override.version.version} through on "
                f"{override.created_at:%Y-%m-%d}: {override.reason[:160]}")

    def url(self, override) -> str:
        return override.version.get_absolute_url()
