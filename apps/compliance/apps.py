from django.apps import AppConfig
from django.urls import reverse

from apps.inventory import panels as inventory_panels
from apps.reviews import evidence_sources


def compliance_link(model, versions) -> dict:
    """The model page links to the model's compliance view (no query: the view computes it when opened)."""
    return {"compliance_url": reverse("compliance:model", kwargs={"slug": model.slug})}


class ComplianceConfig(AppConfig):
    """Frameworks as data, each model's classification, and its controls judged against the portal's evidence."""

    name = "apps.compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        inventory_panels.register(compliance_link)
        # Imported here: it reads this app's models, which exist only once the app registry is ready.
        from apps.compliance.evidence import review_evidence

        evidence_sources.register(review_evidence)
