"""The review page shows the evidence the portal holds beside the checklist; reviewers confirm or dispute each
item; only the accountable owner answers "owner acknowledged"."""

import pytest
from django.urls import reverse

from apps.core.errors import DomainError, PermissionDeniedError
from apps.core.models import AuditEvent
from apps.monitoring.models import Evaluation
from apps.reviews import services
from apps.reviews.models import OWNER_ACKNOWLEDGED, ChecklistAnswer, ChecklistItem, ChecklistVerdict
from tests.inventory.factories import BusinessProcessFactory, DataSetFactory, DeploymentFactory
from tests.reviews.helpers import assessed_version, submitted_review
from tests.risk.factories import ratings

HIGH = ratings(degradation=(4, 4))  # both checklists, two approvals


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


@pytest.fixture
def reviewer(make_user):
    return make_user("reviewer", username="rita")


def item(key: str) -> ChecklistItem:
    return ChecklistItem.objects.get(key=key, active=True)


def evaluate(version, *, attributes=("sex",)) -> Evaluation:
    """A finished evaluation with per-group rates and intervals, the four-fifths rule and drift."""
    groups = {a: {"female": {"selection_rate": 0.31, "selection_rate_ci": [0.25, 0.37]},
                  "male": {"selection_rate": 0.52, "selection_rate_ci": [0.46, 0.58]}} for a in attributes}
    fairness = {a: {"demographic_parity_ratio": 0.596, "reference_group": "male",
                    "reference_rule": "highest_selection_rate", "four_fifths_violations": ["female"]}
                for a in attributes}
    metrics = {"overall": {"accuracy": 0.913}, "groups": groups, "fairness": fairness,
               "drift": {"income": {"kind": "numeric", "psi": 0.27, "statistic": 0.2, "p_value": 0.001}}}
    return Evaluation.objects.create(
        version=version, filename="eval.csv", file_format="csv", sha256="0" * 64, size_bytes=10, raw_path="x",
        parquet_path="x", row_count=300, status=Evaluation.Status.DONE, metrics=metrics,
        columns={"target": "y_true", "prediction": "y_pred", "sensitive_features": list(attributes)})


def with_evidence(version, *, n: int = 1) -> None:
    for i in range(n):
        version.training_datasets.add(DataSetFactory(source_system=f"core-banking-{i}"))
        version.model.business_processes.add(BusinessProcessFactory(name=f"Credit decisions {i}"))
        DeploymentFactory(version=version, runtime_environment={"python": "3.9.1"})
        evaluate(version, attributes=[f"attr{j}" for j in range(i + 1)])


def reviewed_with_evidence(submitter, *, n: int = 1):
    """A submitted high-tier round whose version has training data, processes, deployments and evaluations."""
    version = assessed_version(tier_ratings=HIGH, team__members=[submitter])
    with_evidence(version, n=n)
    return submitted_review(submitter=submitter, version=version)


# --- Owner acknowledged ---------------------------------------------------------------------------------------

def test_rounds_give_the_owner_item_no_answer_the_submitter_could_tick(scientist):
    review = submitted_review(submitter=scientist, tier_ratings=HIGH)
    assert "accountability" in review.checklists
    assert not review.answers.filter(item__key=OWNER_ACKNOWLEDGED).exists()
    assert review.state == "submitted"  # submitting does not wait for the owner


def test_the_service_refuses_the_submitter_ticking_owner_acknowledged(scientist):
    review = submitted_review(submitter=scientist, tier_ratings=HIGH)
    services.review_withdraw(actor=scientist, review=review, reason="again")
    draft = services.review_start(actor=scientist, version=review.version)
    # A round opened before the rule holds an answer row for the item; the service still refuses it.
    row = ChecklistAnswer.objects.create(review=draft, item=item(OWNER_ACKNOWLEDGED))
    with pytest.raises(PermissionDeniedError, match="Only the model's accountable owner"):
        services.review_answer(actor=scientist, review=draft, item_id=row.item_id, answer="yes")
    row.refresh_from_db()
    assert row.answer == ""


def test_the_answers_form_offers_no_owner_item_and_the_owner_acknowledgement_answers_it(client, scientist, make_user):
    review = submitted_review(submitter=scientist, tier_ratings=HIGH, accountable_owner=make_user("executive"))
    services.review_withdraw(actor=scientist, review=review, reason="again")
    draft = services.review_start(actor=scientist, version=review.version)
    client.force_login(scientist)
    page = client.get(draft.get_absolute_url())
    assert f'name="answer_{item(OWNER_ACKNOWLEDGED).pk}"' not in page.content.decode()
    owner = draft.version.model.accountable_owner
    client.force_login(owner)
    assert "Awaiting" in client.get(draft.get_absolute_url()).content.decode()
    services.review_acknowledge(actor=owner, review=draft)
    page = client.get(draft.get_absolute_url())
    owner_row = next(r for g in page.context["checklist"] for r in g["rows"] if r["owner_item"])
    assert owner_row["links"][0].label.startswith("Acknowledged by")
    assert "acknowledged by" in page.content.decode()


# --- Verdicts ---------------------------------------------------------------------------------------------------

def test_a_dispute_needs_a_reason(scientist, reviewer):
    review = submitted_review(submitter=scientist)
    bias = item("bias_checked")
    with pytest.raises(DomainError, match="Say why you dispute"):
        services.review_decide(actor=reviewer, review=review, decision="request_changes", comment="see items",
                               verdicts={bias.pk: ("dispute", "  ")})
    assert not review.decisions.exists()


def test_an_approval_cannot_rest_on_a_disputed_item(scientist, reviewer):
    review = submitted_review(submitter=scientist)
    with pytest.raises(DomainError, match="request changes or reject instead"):
        services.review_decide(actor=reviewer, review=review, decision="approve",
                               verdicts={item("bias_checked").pk: ("dispute", "one group below four-fifths")})
    assert not review.decisions.exists()


def test_a_verdict_on_an_item_outside_the_round_is_refused(scientist, reviewer):
    review = submitted_review(submitter=scientist)  # low tier: intentionality only
    with pytest.raises(DomainError, match="not on this review's checklists"):
        services.review_decide(actor=reviewer, review=review, decision="approve",
                               verdicts={item("rollback_plan").pk: ("confirm", "")})


def test_verdicts_are_recorded_with_the_decision_and_audited(scientist, reviewer):
    review = submitted_review(submitter=scientist, tier_ratings=HIGH)
    owner_item, bias = item(OWNER_ACKNOWLEDGED), item("bias_checked")
    decision = services.review_decide(
        actor=reviewer, review=review, decision="request_changes", comment="fairness",
        verdicts={bias.pk: ("dispute", "female selection rate is 0.6 of male"), owner_item.pk: ("confirm", "")})
    assert {(v.item.key, v.verdict) for v in decision.verdicts.all()} == {("bias_checked", "dispute"),
                                                                          (OWNER_ACKNOWLEDGED, "confirm")}
    event = AuditEvent.objects.get(action="review.request_changes")
    assert event.changes["verdicts"][1]["bias_checked"] == ["dispute", "female selection rate is 0.6 of male"]


# --- The page ----------------------------------------------------------------------------------------------------

def test_the_review_page_shows_the_evidence_beside_the_checklist(client, scientist, reviewer):
    review = reviewed_with_evidence(scientist)
    evaluation = Evaluation.objects.get(version=review.version)
    client.force_login(reviewer)
    page = client.get(review.get_absolute_url())
    html = page.content.decode()
    for title in ("Latest evaluation", "Drift", "Environment fidelity", "Training data and lineage",
                  "Risk assessment", "Governance state of this version"):
        assert title in html
    assert "0.25" in html and "0.37" in html  # the selection rate's interval
    assert "male (the highest selection rate)" in html  # four-fifths: the reference group and why
    assert "core-banking-0" in html and "Environment mismatch" in html
    rows = {r["item"].key: r for g in page.context["checklist"] for r in g["rows"]}
    assert len(rows) == 11
    bias = rows["bias_checked"]["links"][0]
    assert bias.url == evaluation.get_absolute_url() + "#evidence-fairness" and "female" in bias.note
    assert rows["compliant_data_sources"]["links"][0].note.startswith("core-banking-0")
    assert reverse("inventory:model-lineage", args=[review.version.model.slug]) in html
    assert f'name="verdict_{rows["bias_checked"]["item"].pk}"' in html


def test_a_reviewer_disputes_an_item_from_the_page_and_must_say_why(client, scientist, reviewer):
    review = submitted_review(submitter=scientist)
    bias = item("bias_checked")
    client.force_login(reviewer)
    url = reverse("reviews:decide", args=[review.pk])
    data = {"decision": "request_changes", "comment": "fairness", "seen_hash": review.content_hash,
            f"verdict_{bias.pk}": "dispute"}
    refused = client.post(url, data)
    assert refused.status_code == 400 and "Say why you dispute this item." in refused.content.decode()
    assert client.post(url, {**data, f"reason_{bias.pk}": "no group breakdown"}).status_code == 302
    verdict = ChecklistVerdict.objects.get()
    assert (verdict.item, verdict.verdict, verdict.reason) == (bias, "dispute", "no group breakdown")
    assert "no group breakdown" in client.get(review.get_absolute_url()).content.decode()


@pytest.mark.parametrize("n", [1, 4])
def test_the_review_page_with_its_evidence_costs_a_constant_number_of_queries(
        client, scientist, make_user, reviewer, n, django_assert_max_num_queries):
    review = reviewed_with_evidence(scientist, n=n)
    first = make_user("reviewer", username="rex")
    services.review_decide(actor=first, review=review, decision="approve",
                           verdicts={i.pk: ("confirm", "") for i in services.checklist_items(review)})
    client.force_login(reviewer)
    # 28: the generated documents attached to the round (apps.compliance's source) add one.
    with django_assert_max_num_queries(28):
        page = client.get(review.get_absolute_url())
    assert page.status_code == 200 and len(page.context["evidence"].sections) == 7
