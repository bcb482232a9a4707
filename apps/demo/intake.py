"""Demo use cases: every demo model comes from an approved proposal, as the portal requires; plus one proposal
awaiting a decision and one declined, so the intake's whole path is seen.

The questionnaire of each follows the demo's compliance story (``apps.demo.compliance``): the credit models are
Annex III (5), the CV screening assistant Annex III (4), the clinical models safety components of medical devices
(Annex I); the rest minimal risk. The screening is a plain reading of each model's exposure and automation.
"""

from django.contrib.auth import get_user_model

from apps.compliance import services_intake as intake
from apps.compliance.models import UseCase
from apps.core.roles import Capability, may
from apps.demo.catalogue import CLASSIFICATIONS, ModelSpec

EMPLOYMENT = {"CV screening assistant": "Annex III (4)(a): it filters job applications."}
MEDICAL = "Annex I: software that informs clinical decisions is a medical device; its safety component is high-risk."
MINIMAL = "Not an Annex III area, not a safety component and no transparency duty: minimal risk."


def questionnaire(spec: ModelSpec) -> dict:
    if spec.name in CLASSIFICATIONS:
        category, area, role, rationale = CLASSIFICATIONS[spec.name]
    elif spec.name in EMPLOYMENT:
        category, area, role, rationale = "high_risk", "employment", "provider", EMPLOYMENT[spec.name]
    elif spec.unit == "Health" and spec.name != "Outpatient no-show prediction":
        category, area, role, rationale = "high_risk", "annex_i_product", "provider", MEDICAL
    else:
        category, area, role, rationale = "minimal", "none", "provider", MINIMAL
    return {"eu_category": category, "annex_iii_area": area, "role": role, "rationale": rationale}


def _deciders():
    users = get_user_model().objects
    return [users.get(username="reviewer"), users.get(username="reviewer2")]


def approved_use_case(spec: ModelSpec, *, proposer, owner, process, admin) -> UseCase:
    """Propose, submit and approve the use case ``spec``'s model comes from."""
    proposer = proposer if may(proposer, Capability.PROPOSE_USE_CASE) else admin
    answers = questionnaire(spec)
    use_case = intake.use_case_propose(
        actor=proposer, title=spec.name, purpose=spec.purpose, intended_use=spec.intended_use, business_owner=owner,
        business_process=process, exposure=spec.exposure, automation_level=spec.automation,
        personal_data=False, people_affected=0,
        screening_probability=3 if spec.automation == "fully_automated" else 2,
        screening_impact=4 if answers["eu_category"] == "high_risk" else 3 if spec.exposure != "internal" else 2,
        **answers)
    intake.use_case_submit(actor=proposer, use_case=use_case)
    decider = next(u for u in _deciders() if u.pk not in (proposer.pk, owner.pk))
    return intake.use_case_decide(actor=decider, use_case=use_case, decision="approve",
                                  reason="A clear business case and an accountable owner.")


def seed_proposals(*, users: dict, processes: dict) -> None:
    """One proposal awaiting a decision and one declined, next to the approved ones."""
    scientist, reviewer = users["scientist"], users["reviewer"]
    waiting = intake.use_case_propose(
        actor=scientist, title="Buy-now-pay-later affordability", business_owner=users["executive"],
        purpose="Estimate whether an online shopper can afford a buy-now-pay-later plan at checkout.",
        intended_use="Accept or refer the plan at checkout; a referral goes to a credit officer.",
        business_process=processes["loan-origination"], eu_category="high_risk",
        annex_iii_area="essential_services", role="provider",
        rationale="Annex III (5): it evaluates the creditworthiness of natural persons.",
        exposure="customer_facing", automation_level="human_reviews", personal_data=True, people_affected=250_000,
        screening_probability=3, screening_impact=4)
    intake.use_case_submit(actor=scientist, use_case=waiting)
    declined = intake.use_case_propose(
        actor=scientist, title="Social media creditworthiness signals", business_owner=users["executive"],
        purpose="Score applicants' creditworthiness from their public social media activity.",
        business_process=processes["loan-origination"], eu_category="high_risk",
        annex_iii_area="essential_services", role="provider", rationale="Annex III (5).",
        exposure="customer_facing", automation_level="fully_automated", personal_data=True,
        people_affected=1_000_000, screening_probability=4, screening_impact=5)
    intake.use_case_submit(actor=scientist, use_case=declined)
    intake.use_case_decide(actor=reviewer, use_case=declined, decision="decline",
                           reason="The data has no lawful basis for credit decisions and would not be explainable "
                                  "to applicants; propose a use based on the applicant's own financial data.")
