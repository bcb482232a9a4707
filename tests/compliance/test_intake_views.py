"""Use-case pages: list, detail, and the forms that move a proposal from draft to a model."""

import pytest
from django.urls import reverse

from apps.compliance.models import UseCase
from apps.core.models import AuditEvent
from apps.inventory.models import MLModel
from tests.compliance.factories import UseCaseFactory
from tests.inventory.factories import BusinessProcessFactory, BusinessUnitFactory, TeamFactory

pytestmark = pytest.mark.django_db


def form_answers(owner, process, **changes) -> dict:
    return {"title": "Retail credit scoring", "purpose": "Score loan applicants.", "intended_use": "",
            "business_owner": owner.pk, "business_process": process.pk, "eu_category": "high_risk",
            "annex_iii_area": "essential_services", "role": "provider", "rationale": "", "exposure": "customer_facing",
            "automation_level": "human_reviews", "people_affected": 0, "screening_probability": 2,
            "screening_impact": 2, **changes}


def test_the_list_filters_and_searches(client_as):
    retail = BusinessUnitFactory(name="Retail", slug="retail")
    UseCaseFactory(title="Credit scoring", business_process__business_unit=retail)
    UseCaseFactory(title="Chat assistant", state="declined", eu_category="limited", annex_iii_area="none")
    client = client_as("executive")
    listed = lambda **q: [u.title for u in client.get(reverse("intake:index"), q).context["use_cases"]]  # noqa: E731
    assert sorted(listed()) == ["Chat assistant", "Credit scoring"]
    assert listed(state="declined") == ["Chat assistant"]
    assert listed(business_unit="retail") == ["Credit scoring"]
    assert listed(q="scoring") == ["Credit scoring"]
    assert listed(q=f"UC-{UseCase.objects.get(title='Chat assistant').pk}") == ["Chat assistant"]


def test_the_list_paginates(client_as):
    UseCaseFactory.create_batch(3)
    response = client_as("executive").get(reverse("intake:index"), {"per_page": 2})
    assert len(response.context["use_cases"]) == 2 and response.context["page_obj"].paginator.num_pages == 2


def test_the_empty_list_invites_a_proposal_only_to_those_who_may(client_as):
    assert b"Propose the first one" in client_as("data_scientist").get(reverse("intake:index")).content
    content = client_as("executive").get(reverse("intake:index")).content
    assert b"No use cases yet" in content and b"Propose the first one" not in content


def test_a_scientist_proposes_edits_and_submits_and_sees_the_tier_derived(client_as, make_user):
    client = client_as("data_scientist")
    owner, process = make_user("executive"), BusinessProcessFactory()
    response = client.post(reverse("intake:propose"), form_answers(owner, process), follow=True)
    use_case = UseCase.objects.get()
    assert response.redirect_chain[-1][0] == use_case.get_absolute_url()
    content = response.content.decode()
    assert "How the preliminary tier was derived" in content
    assert "EU AI Act high-risk (Annex III (5)" in content and "Preliminary tier: high." in content
    client.post(reverse("intake:edit", args=[use_case.pk]), form_answers(owner, process, title="Retail credit"))
    client.post(reverse("intake:submit", args=[use_case.pk]))
    use_case.refresh_from_db()
    assert (use_case.title, use_case.state) == ("Retail credit", "submitted")
    assert [e.action for e in AuditEvent.objects.filter(object_type="compliance.usecase").order_by("seq")] == [
        "use_case.proposed", "use_case.updated", "use_case.submitted"]


def test_the_form_names_the_field_of_an_inconsistent_answer(client_as, make_user):
    response = client_as("data_scientist").post(reverse("intake:propose"), form_answers(
        make_user(), BusinessProcessFactory(), annex_iii_area="none"))
    assert response.status_code == 400
    assert "Annex III area or as a safety component" in " ".join(response.context["form"].errors["annex_iii_area"])
    assert not UseCase.objects.exists()


def test_another_scientist_cannot_edit_someone_elses_draft(client_as):
    use_case = UseCaseFactory(state="draft")
    response = client_as("data_scientist").get(reverse("intake:edit", args=[use_case.pk]))
    assert response.status_code == 403 and b"proposed this use case" in response.content


def test_a_reviewer_declines_with_a_reason_and_the_page_shows_it(client_as):
    use_case = UseCaseFactory(state="submitted")
    client = client_as("reviewer")
    detail = client.get(use_case.get_absolute_url()).content.decode()
    assert reverse("intake:decide", args=[use_case.pk]) in detail
    refused = client.post(reverse("intake:decide", args=[use_case.pk]), {"decision": "decline", "reason": ""})
    assert refused.status_code == 400 and "Say why" in " ".join(refused.context["form"].errors["reason"])
    client.post(reverse("intake:decide", args=[use_case.pk]), {"decision": "decline", "reason": "No data."})
    page = client.get(use_case.get_absolute_url()).content.decode()
    assert "Declined by" in page and "No data." in page


def test_the_proposer_is_not_offered_the_decision_and_is_refused_it(client_as):
    client = client_as("admin")
    use_case = UseCaseFactory(state="submitted", proposed_by=client.user)
    assert reverse("intake:decide", args=[use_case.pk]) not in client.get(use_case.get_absolute_url()).content.decode()
    response = client.get(reverse("intake:decide", args=[use_case.pk]))
    assert response.status_code == 403 and b"four-eyes" in response.content


def test_the_proposer_withdraws_a_draft(client_as):
    client = client_as("data_scientist")
    use_case = UseCaseFactory(state="draft", proposed_by=client.user)
    client.post(reverse("intake:withdraw", args=[use_case.pk]), {"reason": "Duplicate."})
    use_case.refresh_from_db()
    assert use_case.state == "withdrawn"


def test_an_approved_use_case_offers_registration_prefilled(client_as):
    use_case = UseCaseFactory(title="Retail credit")
    client = client_as("data_scientist")
    register_url = f"{reverse('inventory:model-create')}?use_case={use_case.pk}"
    assert register_url in client.get(use_case.get_absolute_url()).content.decode()
    form = client.get(register_url).context["form"]
    assert form.initial["use_case"] == str(use_case.pk) and form.initial["name"] == "Retail credit"
    assert form.initial["purpose"] == use_case.purpose and form.initial["accountable_owner"] == use_case.business_owner


def test_registering_without_a_use_case_is_refused_on_the_form(client_as):
    client = client_as("data_scientist")
    team = TeamFactory(members=[client.user])
    response = client.post(reverse("inventory:model-create"), {
        "name": "Shadow model", "purpose": "p", "accountable_owner": client.user.pk, "team": team.pk,
        "exposure": "internal", "automation_level": "human_decides", "task_type": "binary"})
    assert "use_case" in response.context["form"].errors and not MLModel.objects.exists()


def test_the_model_page_links_back_to_its_use_case(client_as):
    client = client_as("data_scientist")
    use_case = UseCaseFactory()
    team = TeamFactory(members=[client.user])
    client.post(reverse("inventory:model-create"), {
        "use_case": use_case.pk, "name": "Credit", "purpose": use_case.purpose,
        "accountable_owner": use_case.business_owner.pk, "team": team.pk, "exposure": "internal",
        "automation_level": "human_decides", "task_type": "binary"})
    model = MLModel.objects.get()
    page = client.get(model.get_absolute_url()).content.decode()
    assert use_case.get_absolute_url() in page and "Registered from the approved use case" in page
    listed = client.get(reverse("intake:index")).content.decode()
    assert model.get_absolute_url() in listed
