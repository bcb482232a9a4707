from django.apps import AppConfig
from django.urls import reverse

from apps.inventory import intake as inventory_intake
from apps.inventory import panels as inventory_panels
from apps.reviews import evidence_sources


def compliance_link(model, versions) -> dict:
    """The model page links to the model's compliance view (no query: the view computes it when opened)."""
    return {"compliance_url": reverse("compliance:model", kwargs={"slug": model.slug})}


def use_case_panel(model, versions) -> dict:
    """The model page links back to the use case it was registered from."""
    use_case = getattr(model, "use_case", None)
    return {"use_case": use_case}


class ComplianceConfig(AppConfig):
    """Frameworks as data, each model's classification, and its controls judged against the portal's evidence."""

    name = "apps.compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        from apps.compliance import services_intake

        inventory_panels.register(compliance_link)
        inventory_panels.register(use_case_panel)
        inventory_intake.register(inventory_intake.Provider(
            resolve=services_intake.resolve_for_registration, prefill=services_intake.prefill,
            link=services_intake.use_case_link, choices=services_intake.registration_choices,
            initial=services_intake.registration_initial,
            help_text="The approved use case this model comes from: it fills the purpose, owner and business "
                      "process left empty here, and its classification becomes the model's."))
        # Imported here: it reads this app's models, which exist only once the app registry is ready.
        from apps.compliance.evidence import review_evidence

        evidence_sources.register(review_evidence)
