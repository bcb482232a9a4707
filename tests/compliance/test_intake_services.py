"""Use-case intake services: each transition, who may make it, and its audit event and notifications."""

import pytest

from apps.compliance import services_intake as services
from apps.compliance.models import Classification, UseCase
from apps.core.errors import ConflictError, DomainError, PermissionDeniedError
from apps.core.models import AuditEvent
from apps.inventory import services as inventory_services
from apps.notifications.models import Notification
from tests.compliance.factories import UseCaseFactory
from tests.inventory.factories import BusinessProcessFactory, MLModelFactory, TeamFactory

pytestmark = pytest.mark.django_db


def answers(**changes) -> dict:
    base = {"title": "Retail credit scoring", "purpose": "Score loan applicants.",
            "intended_use": "Credit officers decide with it.", "business_owner": None,
            "business_process": BusinessProcessFactory(), "eu_category": "high_risk",
            "annex_iii_area": "essential_services", "role": "provider", "rationale": "Annex III (5).",
            "exposure": "customer_facing", "automation_level": "human_reviews", "personal_data": True,
            "people_affected": 5000, "screening_probability": 2, "screening_impact": 3}
    return {**base, **changes}


@pytest.fixture
def proposer(make_user):
    return make_user("data_scientist", username="pat")


@pytest.fixture
def draft(proposer, make_user):
    return services.use_case_propose(actor=proposer, **answers(business_owner=make_user("executive")))


def test_a_proposal_is_a_draft_with_its_tier_derived_and_audited(draft, proposer):
    assert (draft.state, draft.proposed_by, draft.preliminary_tier) == ("draft", proposer, "high")
    # medium screening (2 x 3), +1 customer-facing = high; high-risk floor changes nothing.
    assert draft.tier_derivation[0].startswith("Screening on Risk matrix v1: probability 2 (Unlikely)")
    assert draft.tier_derivation[-1] == "Preliminary tier: high."
    event = AuditEvent.objects.get(action="use_case.proposed")
    assert event.object_id == str(draft.pk) and event.changes["preliminary_tier"] == [None, "high"]


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"eu_category": "high_risk", "annex_iii_area": "none"}, "annex_iii_area", "Annex III area"),
    ({"title": "  "}, "title", "short title"),
    ({"screening_impact": 9}, "screening_impact", "from 1 to 5"),
    ({"role": "user"}, "role", "provider or deployer"),
])
def test_a_proposal_with_a_bad_answer_is_refused_by_field(proposer, make_user, changes, field, words):
    with pytest.raises(DomainError) as refused:
        services.use_case_propose(actor=proposer, **answers(business_owner=make_user(), **changes))
    assert refused.value.field == field and words in refused.value.message
    assert not UseCase.objects.exists()


@pytest.mark.parametrize("role", ["executive", "reviewer"])
def test_roles_that_do_not_build_models_do_not_propose(make_user, role):
    with pytest.raises(PermissionDeniedError):
        services.use_case_propose(actor=make_user(role), **answers(business_owner=make_user()))


def test_editing_a_draft_recomputes_the_tier_and_audits_the_difference(draft, proposer):
    services.use_case_update(actor=proposer, use_case=draft, eu_category="minimal", annex_iii_area="none",
                             exposure="internal")
    draft.refresh_from_db()
    assert draft.preliminary_tier == "medium"
    changes = AuditEvent.objects.get(action="use_case.updated").changes
    assert changes["preliminary_tier"] == ["high", "medium"] and changes["exposure"] == ["customer_facing",
                                                                                         "internal"]


def test_only_the_proposer_or_an_admin_edits_a_draft(draft, make_user):
    with pytest.raises(PermissionDeniedError, match="proposed this use case"):
        services.use_case_update(actor=make_user("data_scientist"), use_case=draft, title="Mine now")
    services.use_case_update(actor=make_user("admin"), use_case=draft, title="Fixed by an admin")
    draft.refresh_from_db()
    assert draft.title == "Fixed by an admin"


def test_submitting_notifies_every_reviewer_but_the_proposer_and_owner(draft, proposer, make_user):
    reviewer, admin = make_user("reviewer"), make_user("admin")
    services.use_case_submit(actor=proposer, use_case=draft)
    draft.refresh_from_db()
    assert draft.state == "submitted" and draft.submitted_at is not None
    notified = set(Notification.objects.filter(kind="use_case_submitted").values_list("recipient__username",
                                                                                      flat=True))
    assert notified == {reviewer.username, admin.username}
    assert AuditEvent.objects.get(action="use_case.submitted").changes == {"state": ["draft", "submitted"]}


@pytest.mark.parametrize("settle", ["decide", "withdraw"])
def test_once_decided_or_withdrawn_no_reviewer_s_inbox_still_asks_for_a_decision(draft, proposer, make_user,
                                                                                 settle):
    reviewer, other = make_user("reviewer"), make_user("reviewer")
    services.use_case_submit(actor=proposer, use_case=draft)
    assert Notification.objects.filter(kind="use_case_submitted", read_at__isnull=True).count() == 2

    if settle == "decide":
        services.use_case_decide(actor=reviewer, use_case=draft, decision="decline", reason="Out of appetite.")
    else:
        services.use_case_withdraw(actor=proposer, use_case=draft, reason="Not needed.")

    assert not Notification.objects.filter(kind="use_case_submitted", read_at__isnull=True).exists()
    assert Notification.objects.filter(kind="use_case_submitted", recipient=other).count() == 1  # kept, read


def test_registering_the_model_settles_the_approval_s_register_the_model_notification(make_user):
    proposer, reviewer = make_user("data_scientist"), make_user("reviewer")
    use_case = services.use_case_propose(actor=proposer, **answers(business_owner=make_user("executive")))
    services.use_case_submit(actor=proposer, use_case=use_case)
    services.use_case_decide(actor=reviewer, use_case=use_case, decision="approve")
    told = Notification.objects.get(recipient=proposer, kind="use_case_decided")
    assert told.read_at is None and told.action == "Register the model"

    services.use_case_link(actor=proposer, source=use_case, model=MLModelFactory())

    told.refresh_from_db()
    assert told.read_at is not None


def test_a_submitted_use_case_is_no_longer_edited(draft, proposer):
    services.use_case_submit(actor=proposer, use_case=draft)
    with pytest.raises(ConflictError, match="only a draft"):
        services.use_case_update(actor=proposer, use_case=draft, title="Late change")


def test_a_reviewer_approves_and_the_proposer_and_owner_are_told(make_user):
    use_case = UseCaseFactory(state="submitted")
    reviewer = make_user("reviewer")
    services.use_case_decide(actor=reviewer, use_case=use_case, decision="approve", reason="Fits the strategy.")
    use_case.refresh_from_db()
    assert (use_case.state, use_case.decided_by, use_case.decision_reason) == ("approved", reviewer,
                                                                               "Fits the strategy.")
    told = set(Notification.objects.filter(kind="use_case_decided").values_list("recipient", flat=True))
    assert told == {use_case.proposed_by_id, use_case.business_owner_id}
    assert AuditEvent.objects.get(action="use_case.approved").reason == "Fits the strategy."


def test_the_proposer_cannot_decide_their_own_use_case(make_user):
    reviewer_who_proposed = make_user("admin")
    use_case = UseCaseFactory(state="submitted", proposed_by=reviewer_who_proposed)
    with pytest.raises(PermissionDeniedError, match="four-eyes"):
        services.use_case_decide(actor=reviewer_who_proposed, use_case=use_case, decision="approve")
    use_case.refresh_from_db()
    assert use_case.state == "submitted"


def test_the_business_owner_cannot_decide_it_either(make_user):
    owner = make_user("reviewer")
    with pytest.raises(PermissionDeniedError, match="four-eyes"):
        services.use_case_decide(actor=owner, use_case=UseCaseFactory(state="submitted", business_owner=owner),
                                 decision="approve")


def test_a_data_scientist_cannot_decide(make_user):
    with pytest.raises(PermissionDeniedError, match="reviewers and admins"):
        services.use_case_decide(actor=make_user("data_scientist"), use_case=UseCaseFactory(state="submitted"),
                                 decision="approve")


def test_declining_needs_a_reason(make_user):
    use_case = UseCaseFactory(state="submitted")
    with pytest.raises(DomainError) as refused:
        services.use_case_decide(actor=make_user("reviewer"), use_case=use_case, decision="decline", reason=" ")
    assert refused.value.field == "reason"
    services.use_case_decide(actor=make_user("reviewer"), use_case=use_case, decision="decline",
                             reason="No business case.")
    use_case.refresh_from_db()
    assert use_case.state == "declined" and AuditEvent.objects.filter(action="use_case.declined").exists()


def test_a_prohibited_practice_cannot_be_approved(make_user):
    use_case = UseCaseFactory(state="submitted", eu_category="prohibited", annex_iii_area="none")
    with pytest.raises(DomainError, match="cannot be approved"):
        services.use_case_decide(actor=make_user("reviewer"), use_case=use_case, decision="approve")


def test_only_a_submitted_use_case_is_decided(make_user):
    with pytest.raises(ConflictError, match="draft"):
        services.use_case_decide(actor=make_user("reviewer"), use_case=UseCaseFactory(state="draft"),
                                 decision="approve")


def test_the_proposer_withdraws_a_submitted_use_case(draft, proposer):
    services.use_case_submit(actor=proposer, use_case=draft)
    services.use_case_withdraw(actor=proposer, use_case=draft, reason="Bought a product instead.")
    draft.refresh_from_db()
    assert draft.state == "withdrawn"
    event = AuditEvent.objects.get(action="use_case.withdrawn")
    assert event.changes == {"state": ["submitted", "withdrawn"]} and event.reason == "Bought a product instead."


def test_an_approved_use_case_is_not_withdrawn(make_user):
    use_case = UseCaseFactory()
    with pytest.raises(ConflictError):
        services.use_case_withdraw(actor=make_user("admin"), use_case=use_case)


# --- Registration from a use case -------------------------------------------------------------------------

def register(actor, **fields):
    return inventory_services.model_register(actor=actor, name="Credit scoring",
                                             team=TeamFactory(members=[actor]), **fields)


def test_a_model_registered_from_a_use_case_takes_its_record(make_user):
    scientist, use_case = make_user("data_scientist"), UseCaseFactory()
    model = register(scientist, use_case=use_case.reference)
    use_case.refresh_from_db()
    assert use_case.model == model and use_case.registered_at is not None
    assert (model.purpose, model.intended_use, model.accountable_owner) == (
        use_case.purpose, use_case.intended_use, use_case.business_owner)
    assert list(model.business_processes.all()) == [use_case.business_process]
    assert (model.exposure, model.automation_level) == ("customer_facing", "human_reviews")
    classification = Classification.objects.get(model=model)
    assert (classification.eu_category, classification.annex_iii_area, classification.role) == (
        "high_risk", "essential_services", "provider")
    assert AuditEvent.objects.get(action="model.classified").reason == f"From use case {use_case.reference}."
    assert AuditEvent.objects.get(action="use_case.registered").changes == {"model": [None, "Credit scoring"]}


def test_what_the_registrant_gives_wins_over_the_use_case(make_user):
    scientist = make_user("data_scientist")
    model = register(scientist, use_case=UseCaseFactory().pk, purpose="Our own words.", exposure="internal")
    assert (model.purpose, model.exposure) == ("Our own words.", "internal")


def test_nothing_reaches_the_inventory_without_a_use_case(make_user):
    with pytest.raises(DomainError) as refused:
        register(make_user("data_scientist"), purpose="p", accountable_owner=make_user())
    assert refused.value.field == "use_case" and "approved use case" in refused.value.message


@pytest.mark.parametrize(("state", "words"), [("submitted", "only an approved"), ("declined", "only an approved"),
                                              ("draft", "only an approved")])
def test_a_use_case_that_is_not_approved_is_refused(make_user, state, words):
    with pytest.raises(DomainError, match=words):
        register(make_user("data_scientist"), use_case=UseCaseFactory(state=state).pk)


def test_a_use_case_becomes_one_model_only(make_user):
    scientist, use_case = make_user("data_scientist"), UseCaseFactory()
    register(scientist, use_case=use_case.pk)
    with pytest.raises(DomainError, match="already the record of the model Credit scoring"):
        register(scientist, use_case=use_case.pk)


def test_an_unknown_use_case_is_named(make_user):
    with pytest.raises(DomainError, match="no use case"):
        register(make_user("data_scientist"), use_case="UC-999999")
    with pytest.raises(DomainError, match="give its number"):
        register(make_user("data_scientist"), use_case="credit")


def test_the_rule_can_be_switched_off(make_user, settings):
    settings.PORTAL_REQUIRE_INTAKE = False
    model = register(make_user("data_scientist"), purpose="Legacy model.", accountable_owner=make_user())
    assert model.pk and not UseCase.objects.exists()
