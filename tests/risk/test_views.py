import copy
import csv
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.core.models import AuditEvent
from apps.risk import services
from apps.risk.defaults import DEFAULT_POLICIES
from apps.risk.models import GovernancePolicy, RiskAssessment
from apps.risk.scoring import RISKS
from tests.inventory.factories import MLModelFactory
from tests.risk.factories import ratings


def form_data(probability=2, impact=2, **extra):
    data = {"exposure": "customer_facing", "automation_level": "human_reviews", "people_affected": 50000,
            "regulated_domain": "credit", "summary": "Scores retail loan applications."}
    for key in RISKS:
        data.update({f"{key}_probability": probability, f"{key}_impact": impact, f"{key}_rationale": "because",
                     f"{key}_mitigation0_status": "open", f"{key}_mitigation1_status": "open"})
    data.update(extra)
    return data


@pytest.fixture
def model(make_user):
    return MLModelFactory(name="Retail credit scoring", exposure="customer_facing",
                          accountable_owner=make_user("executive", username="erin"))


def test_a_reviewer_submits_an_assessment_and_sees_tier_obligations_and_due_date(client_as, model):
    client = client_as("reviewer", username="rita")
    page = client.get(reverse("risk:assess", args=[model.slug]))
    assert page.status_code == 200 and b"risk-matrix" in page.content
    response = client.post(reverse("risk:assess", args=[model.slug]),
                           form_data(wrong_prediction_probability=3, wrong_prediction_impact=4, submit="1"),
                           follow=True)
    assessment = RiskAssessment.objects.get(status="current")
    assert assessment.tier == "critical"
    content = response.content.decode()
    assert "Assessment submitted: tier critical" in content
    assert assessment.reassessment_due.strftime("%Y-%m-%d") in content
    detail = client.get(reverse("risk:model", args=[model.slug])).content.decode()
    assert "Reviewer approvals per version" in detail and "Daily" in detail


def test_the_assessment_form_previews_the_tier_as_ratings_change(client_as, model):
    client = client_as("reviewer")
    url = reverse("risk:assess", args=[model.slug])
    partial = client.get(url, {**form_data(regulated_domain="none", exposure="internal",
                                           automation_level="human_decides"), "preview": "1"},
                         headers={"HX-Request": "true"})
    html = partial.content.decode()
    assert partial.status_code == 200 and html.strip().startswith("<div id=\"tier-preview\"")  # the fragment only
    assert 'tier tier-low">low</span>' in html and "<form" not in html
    escalated = client.get(url, {**form_data(), "preview": "1"}, headers={"HX-Request": "true"}).content.decode()
    assert "used outside the organisation (+1)" in escalated and "regulated domain" in escalated
    assert not RiskAssessment.objects.exists()  # a preview stores nothing


def test_a_partly_rated_form_says_how_many_risks_remain_and_places_the_rated_ones(client_as, model):
    data = {"unavailable_probability": 4, "unavailable_impact": 5, "preview": "1"}
    html = client_as("reviewer").get(reverse("risk:assess", args=[model.slug]), data,
                                     headers={"HX-Request": "true"}).content.decode()
    assert "Rate 3 more risks" in html
    assert '<span class="mark">Model unavailable</span>' in html


def test_without_javascript_the_page_shows_the_preview_beside_the_form_and_submits(client_as, model):
    client = client_as("reviewer")
    page = client.get(reverse("risk:assess", args=[model.slug])).content.decode()
    assert page.index('class="assess-form"') < page.index('id="tier-preview"') < page.index('id="matrix-title"')
    assert "Rate 4 more risks" in page
    response = client.post(reverse("risk:assess", args=[model.slug]), form_data(submit="1"))
    assert response.status_code == 302 and RiskAssessment.objects.filter(status="current").exists()


def test_mitigation_owners_are_chosen_by_name(client_as, model, make_user):
    make_user("data_scientist", username="zed", first_name="Ada", last_name="Lovelace")
    page = client_as("reviewer").get(reverse("risk:assess", args=[model.slug])).content.decode()
    assert '<option value="zed">Ada Lovelace (zed)</option>' in page


def test_a_missing_rating_is_explained_and_kept_as_a_draft(client_as, model):
    client = client_as("reviewer")
    response = client.post(reverse("risk:assess", args=[model.slug]),
                           form_data(skills_loss_probability="", submit="1"))
    assert response.status_code == 400
    assert "unrated risks: Loss of skills" in response.content.decode()
    assert not RiskAssessment.objects.filter(status="current").exists()
    assert RiskAssessment.objects.filter(status="draft").count() == 1


def test_an_out_of_range_value_is_a_form_error(client_as, model):
    response = client_as("reviewer").post(reverse("risk:assess", args=[model.slug]),
                                          form_data(degradation_probability=9, submit="1"))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not RiskAssessment.objects.exists()


def test_a_data_scientist_can_only_save_a_draft(client_as, model):
    client = client_as("data_scientist")
    page = client.get(reverse("risk:assess", args=[model.slug])).content.decode()
    assert "Submit assessment" not in page
    response = client.post(reverse("risk:assess", args=[model.slug]), form_data(submit="1"))
    assert response.status_code == 403
    assert not RiskAssessment.objects.filter(status="current").exists()


def test_a_stale_form_gets_409_and_the_newer_assessment_survives(client_as, make_user, model):
    first = services.assessment_submit(
        actor=None, assessment=services.assessment_save_draft(actor=None, model=model, ratings=ratings()),
        based_on_id=None)
    newer = services.assessment_submit(
        actor=make_user("reviewer", username="ravi"),
        assessment=services.assessment_save_draft(actor=None, model=model, ratings=ratings(3, 3)),
        based_on_id=first.pk)
    response = client_as("reviewer").post(reverse("risk:assess", args=[model.slug]),
                                          form_data(based_on=first.pk, submit="1"))
    assert response.status_code == 409 and "ravi submitted a newer assessment" in response.content.decode()
    assert RiskAssessment.objects.get(status="current") == newer


def test_executives_cannot_post_assessments(client_as, model):
    assert client_as("executive").post(reverse("risk:assess", args=[model.slug]), form_data()).status_code == 403


def test_the_model_page_shows_what_changed_between_assessments(client_as, model):
    first = services.assessment_submit(
        actor=None, assessment=services.assessment_save_draft(actor=None, model=model, ratings=ratings()),
        based_on_id=None)
    second = services.assessment_save_draft(actor=None, model=model, ratings=ratings(degradation=(4, 5)),
                                            summary="drift seen in Q3")
    services.assessment_submit(actor=None, assessment=second, based_on_id=first.pk)
    content = client_as("executive").get(reverse("risk:model", args=[model.slug])).content.decode()
    assert "What changed" in content and "P4 × I5 = critical" in content and "drift seen in Q3" in content


def test_the_register_lists_risks_filters_and_exports_safely(client_as, model):
    services.assessment_submit(
        actor=None,
        assessment=services.assessment_save_draft(
            actor=None, model=model,
            ratings={**ratings(), "degradation": {"probability": 4, "impact": 4, "rationale": "=HYPERLINK(1)",
                                                  "mitigations": [{"action": "weekly drift check"}]}}),
        based_on_id=None)
    client = client_as("executive")
    page = client.get(reverse("risk:index"), {"severity": "high"})
    assert page.context["page_obj"].paginator.count == 1 and b"weekly drift check" in page.content
    cell = client.get(reverse("risk:index"), {"probability": 4, "impact": 4})
    assert cell.context["page_obj"].paginator.count == 1
    export = client.get(reverse("risk:register-export"))
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert len(rows) == 4
    assert {r["rationale"] for r in rows if r["risk"] == "Degradation"} == {"'=HYPERLINK(1)"}


def test_an_admin_publishes_a_new_policy_version_and_it_is_audited(client_as):
    client = client_as("admin")
    response = client.post(reverse("risk:policy-edit", args=["high"]), {
        "required_approvals": 3, "checklists": ["intentionality", "accountability"], "monitoring_cadence": "daily",
        "metric_thresholds": '{"accuracy_min": 0.9}', "reassessment_days": 60, "note": "regulator asked"},
        follow=True)
    assert b"is now in force" in response.content
    assert GovernancePolicy.objects.filter(tier="high").count() == 2
    assert AuditEvent.objects.get(action="governance_policy.published").reason == "regulator asked"


def test_a_policy_form_with_bad_json_names_the_field(client_as):
    response = client_as("admin").post(reverse("risk:policy-edit", args=["high"]), {
        "required_approvals": 2, "monitoring_cadence": "weekly", "metric_thresholds": "[1, 2]",
        "reassessment_days": 60, "note": "x"})
    assert response.status_code == 200 and "Give a JSON object" in response.content.decode()
    assert GovernancePolicy.objects.filter(tier="high").count() == 1


BAD_POLICIES = [
    ({"metric_thresholds": {"accuracy_min": "abc"}}, "metric_thresholds",
     "metric_thresholds.accuracy_min: 'abc' is not a number; expected a number between 0 and 1."),
    ({"metric_thresholds": {"acuracy_min": 0.8}}, "metric_thresholds",
     "metric_thresholds.acuracy_min: unknown metric 'acuracy'; known metrics: accuracy, "),
    ({"metric_thresholds": {"psi_max": -0.2}}, "metric_thresholds",
     "metric_thresholds.psi_max: -0.2 is out of range; expected a number of at least 0."),
    ({"checklists": []}, "checklists",
     "checklists: at least one checklist is required; choose from intentionality, accountability."),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD_POLICIES)
def test_the_policy_form_refuses_a_document_outside_the_schema_and_says_why(client_as, change, field, message):
    data = {"required_approvals": 2, "checklists": ["intentionality", "accountability"],
            "monitoring_cadence": "weekly", "metric_thresholds": {"accuracy_min": 0.8}, "reassessment_days": 60,
            "note": "probe", **change}
    data["metric_thresholds"] = json.dumps(data["metric_thresholds"])
    response = client_as("admin").post(reverse("risk:policy-edit", args=["high"]), data)
    assert response.status_code == 200
    assert [e for e in response.context["form"].errors[field] if e.startswith(message)]
    assert GovernancePolicy.objects.filter(tier="high").count() == 1


def test_the_django_admin_offers_no_way_to_write_a_policy(client_as):
    """Policies are published through the portal form and the API, both through ``policy_publish``."""
    client = client_as("admin")
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/risk/governancepolicy/add/").status_code == 404
    assert client.get(f"/admin/risk/governancepolicy/{GovernancePolicy.objects.first().pk}/change/").status_code == 404


@pytest.mark.parametrize(("change", "field", "message"), BAD_POLICIES)
def test_the_model_s_clean_applies_the_same_schema_for_any_admin_form(db, change, field, message):
    policy = GovernancePolicy(tier="high", version=2, **{**DEFAULT_POLICIES["high"], **change})
    with pytest.raises(ValidationError) as refused:
        policy.full_clean()
    assert [e for e in refused.value.message_dict[field] if e.startswith(message)]


def test_an_admin_edits_the_matrix_and_only_new_assessments_change(client_as, model):
    from apps.risk.selectors import current_matrix

    old = services.assessment_submit(
        actor=None, assessment=services.assessment_save_draft(actor=None, model=model, ratings=ratings(),
                                                              exposure="internal"), based_on_id=None)
    config = copy.deepcopy(current_matrix().config)
    data = {"note": "stricter", "escalate_external_exposure": "on", "escalate_fully_automated": "on",
            "people_threshold": config["people_threshold"], "regulated_floor": "high"}
    for p in range(1, 6):
        for i in range(1, 6):
            data[f"cell_{p}_{i}"] = "medium" if config["grid"][p - 1][i - 1] == "low" else config["grid"][p - 1][i - 1]
    response = client_as("admin").post(reverse("risk:matrix-edit"), data, follow=True)
    assert b"in force for new assessments" in response.content
    old.refresh_from_db()
    assert old.tier == "low" and current_matrix().version == 2


def test_the_assessment_page_places_each_risk_in_the_matrix(client_as, model):
    draft = services.assessment_save_draft(actor=None, model=model, ratings=ratings(degradation=(5, 4)))
    content = client_as("executive").get(reverse("risk:assessment-detail", args=[draft.pk])).content.decode()
    assert '<span class="mark">Degradation</span>' in content
