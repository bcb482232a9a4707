"""The evidence the portal already holds for a review round, shown beside its checklist.

Each source returns sections (a titled template with its context) and, per checklist item key, links to the
records that bear on the item, so every item arrives pre-filled with what exists and the reviewer confirms
or disputes it. The inventory's and the risk app's evidence is read here; apps above the reviews (monitoring)
register their source in ``AppConfig.ready``, as the production gate's checks are registered. A source costs
a constant number of queries, whatever the data.
"""

from django.urls import reverse

from apps.inventory.models import Deployment
from apps.inventory.selectors import stored_governance
from apps.reviews.evidence_sources import SOURCES, Evidence, Link, Section
from apps.reviews.models import OWNER_ACKNOWLEDGED, Review
from apps.risk.selectors import Obligations, current_assessment


def gather(review: Review, *, obligations: Obligations) -> Evidence:
    evidence = Evidence()
    for source in [governance_evidence, risk_evidence, *SOURCES, provenance_evidence, environment_evidence]:
        evidence.merge(source(review, obligations=obligations))
    owner = review.version.model.accountable_owner
    if review.owner_acknowledged_at:
        evidence.add(OWNER_ACKNOWLEDGED, Link(
            f"Acknowledged by {review.owner_acknowledged_by or owner}", "#acknowledgement",
            review.owner_acknowledged_at.strftime("%Y-%m-%d %H:%M")))
    else:
        evidence.add(OWNER_ACKNOWLEDGED, Link(f"Awaiting {owner}'s acknowledgement", "#acknowledgement",
                                              "only the accountable owner records it"))
    return evidence


# --- Sources below the reviews app -----------------------------------------------------------------------------

def governance_evidence(review: Review, *, obligations: Obligations) -> Evidence:
    """The version's stored governance state and its reasons, with the page that fixes each."""
    state = stored_governance(review.version)
    return Evidence(sections=[Section("governance", "Governance state of this version",
                                      "reviews/evidence/governance.html", {"state": state})])


def risk_evidence(review: Review, *, obligations: Obligations) -> Evidence:
    """The current risk assessment (its ratings are on its page) beside the obligations of its tier."""
    model = review.version.model
    assessment = current_assessment(model) if obligations.assessed else None
    evidence = Evidence(sections=[Section("risk", "Risk assessment", "reviews/evidence/risk.html",
                                          {"assessment": assessment})])
    risk_url = reverse("risk:model", kwargs={"slug": model.slug})
    if obligations.policy is not None:
        evidence.add("monitoring_plan", Link(
            f"Tier {obligations.tier or 'not assessed'}: {obligations.policy.get_monitoring_cadence_display()} "
            "monitoring", risk_url, "what the policy demands"))
    if assessment is not None:
        evidence.add("purpose_matches_intent", Link(f"Risk assessment, tier {assessment.tier}", risk_url))
    return evidence


def provenance_evidence(review: Review, *, obligations: Obligations) -> Evidence:
    """Where the training data comes from, on what legal basis, and the lineage from it to the deployments."""
    version, model = review.version, review.version.model
    datasets = list(version.training_datasets.all())
    processes = list(model.business_processes.all())
    evidence = Evidence(sections=[Section("provenance", "Training data and lineage", "reviews/evidence/provenance.html",
                                          {"datasets": datasets, "processes": processes})])
    lineage = Link("Lineage of the model", reverse("inventory:model-lineage", kwargs={"slug": model.slug}),
                   "raw data → pipeline → version → deployment")
    for dataset in datasets:
        link = Link(str(dataset), dataset.get_absolute_url(),
                    f"{dataset.source_system or 'source not recorded'}; {dataset.get_legal_basis_display()}")
        evidence.add("compliant_data_sources", link)
        evidence.add("data_usage_declared", link)
    if not datasets:
        evidence.add("compliant_data_sources", Link("No training data set is recorded", version.get_absolute_url()))
    evidence.add("data_usage_declared", lineage)
    evidence.add("lineage_complete", lineage)
    for process in processes:
        evidence.add("processes_declared", Link(process.name, process.get_absolute_url()))
    if not processes:
        evidence.add("processes_declared", Link("No business process is linked", model.get_absolute_url()))
    card = reverse("portfolio:model-card", kwargs={"slug": model.slug, "version": version.version})
    evidence.add("uses_documented", Link("Model card: intended and out-of-scope uses", card,
                                         "recorded" if model.intended_use and model.out_of_scope_uses
                                         else "incomplete: the model lacks intended or out-of-scope uses"))
    evidence.add("explainable", Link(f"{version.algorithm or 'algorithm not recorded'} · "
                                     f"{version.framework or 'framework not recorded'}", version.get_absolute_url(),
                                     "the version's artefact and method"))
    evidence.add("rollback_plan", Link("Versions and deployments of the model", model.get_absolute_url()))
    return evidence


def environment_evidence(review: Review, *, obligations: Obligations) -> Evidence:
    """The environment the version was validated in beside the ones its active deployments run in."""
    version = review.version
    deployments = list(Deployment.objects.filter(version=version, retired_at__isnull=True)
                       .order_by("environment", "pk"))
    mismatched = [d for d in deployments if d.environment_mismatch]
    evidence = Evidence(sections=[Section("environment", "Environment fidelity", "reviews/evidence/environment.html",
                                          {"deployments": deployments, "mismatched": mismatched})])
    note = (f"{len(mismatched)} of {len(deployments)} deployment{'s' * (len(deployments) != 1)} differ"
            if mismatched else "validated environment recorded" if version.validated_environment
            else "no validated environment recorded")
    evidence.add("rollback_plan", Link("Deployments of this version", version.get_absolute_url() + "#deployments",
                                       note))
    return evidence
