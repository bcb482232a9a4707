import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.inventory.models import Stage
from apps.portfolio.modelcard import build_model_card, card_versions, to_markdown
from tests.inventory.factories import (
    FINGERPRINT,
    BusinessProcessFactory,
    DataSetFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
)
from tests.portfolio.helpers import breach, production_model

pytestmark = pytest.mark.django_db

SECTIONS = ["model_details", "intended_use", "factors", "metrics", "evaluation_data", "training_data",
            "quantitative_analyses", "ethical_considerations", "caveats", "governance"]


def card_of(version) -> dict:
    return build_model_card(card_versions().get(pk=version.pk))


def field(card: dict, section: str, key: str) -> dict:
    found = next(s for s in card["sections"] if s["key"] == section)
    return next(f for f in found["fields"] if f["key"] == key)


@pytest.fixture
def rich_version(make_user):
    owner = make_user(username="olivia", first_name="Olivia", last_name="Owner")
    model = MLModelFactory(name="Credit scoring", accountable_owner=owner, intended_use="Score loan applications.",
                           exposure="customer_facing", automation_level="fully_automated",
                           business_processes=[BusinessProcessFactory(name="Loan approval", decisions_per_day=1200)])
    model.technical_owners.set([make_user(username="tom")])
    personal = DataSetFactory(name="applications", contains_personal_data=True, legal_basis="contract")
    version = ModelVersionFactory(model=model, version="2.0.0", training_datasets=[personal],
                                  validation_metrics={"roc_auc": 0.91}, hyperparameters={"threshold": 0.4},
                                  stage=Stage.PRODUCTION)
    DeploymentFactory(version=version, environment_mismatch=True, target="https://score.internal",
                      mismatch_details=[{"component": "scikit-learn", "validated": "1.6.1", "runtime": "1.4.0"}])
    return version


def test_it_orders_sections_as_in_the_paper_then_quantitative_analyses(rich_version):
    assert [s["key"] for s in card_of(rich_version)["sections"]] == SECTIONS


def test_it_fills_fields_from_what_the_portal_records(rich_version):
    card = card_of(rich_version)
    assert field(card, "model_details", "accountable_owner")["value"] == "Olivia Owner (olivia)"
    assert field(card, "model_details", "technical_owners")["value"][0].endswith("(tom)")
    assert field(card, "intended_use", "primary_uses")["value"] == "Score loan applications."
    assert field(card, "intended_use", "business_processes")["value"]["rows"][0][0] == "Loan approval"
    assert field(card, "factors", "environment")["value"]["scikit-learn"] == FINGERPRINT["packages"]["scikit-learn"]
    assert field(card, "metrics", "decision_thresholds")["value"] == {"threshold": 0.4}
    assert field(card, "quantitative_analyses", "validation_results")["value"] == {"roc_auc": 0.91}
    assert field(card, "training_data", "schema")["value"]["rows"] == [["applications@v1", "age (int), income (float)"]]
    assert field(card, "ethical_considerations", "personal_data")["value"]["rows"][0][1:3] == ["yes", "Contract"]
    scale = field(card, "ethical_considerations", "scale")["value"]
    assert scale.startswith("Supports 1 business process making about 1,200 decisions a day")


def test_it_marks_missing_fields_with_where_to_fill_them():
    card = card_of(ModelVersionFactory(model=MLModelFactory(intended_use="")))
    intended = field(card, "intended_use", "primary_uses")
    assert intended["missing"] and intended["value"] is None
    assert intended["hint"] == "Not recorded: add the intended use on the model's edit page."
    monitoring = field(card, "quantitative_analyses", "monitoring")
    assert monitoring["missing"] and "once this version runs in production" in monitoring["hint"]
    assert card["completeness"]["recorded"] < card["completeness"]["total"]


def test_a_version_with_an_open_breach_shows_the_breach_not_missing_results():
    version = production_model(name="Breached", evaluated=False).versions.get()
    breach(version)

    card = card_of(version)

    monitoring = field(card, "quantitative_analyses", "monitoring")
    assert not monitoring["missing"]
    # Open alerts show whether or not the evidence is current: here its first results are not even due yet.
    assert monitoring["value"].startswith("Breach. Monitoring shows 1 metric beyond the limits its tier sets.")
    assert "Its first monthly monitoring results are due by" in monitoring["value"]
    assert field(card, "governance", "status")["value"] == "Non-compliant"
    assert field(card, "governance", "health")["value"] == "Breach"
    reasons = field(card, "governance", "reasons")["value"]["rows"]
    assert ["Non-compliant", "Monitoring shows 1 metric beyond the limits its tier sets.", "no"] in reasons


def test_a_sound_version_reads_healthy_and_compliant():
    card = card_of(production_model(name="Sound").versions.get())

    assert field(card, "quantitative_analyses", "monitoring")["value"].startswith("Healthy. Monitoring results within")
    assert [field(card, "governance", key)["value"] for key in ("status", "health", "approval", "tier")] == [
        "Compliant", "Healthy", "Approved", "Low"]
    assert field(card, "governance", "reasons")["value"].startswith("None:")


def test_a_never_evaluated_production_version_says_what_is_missing_and_where():
    version = production_model(name="Unmonitored", evaluated=False, deployed_days_ago=60).versions.get()

    monitoring = field(card_of(version), "quantitative_analyses", "monitoring")

    assert monitoring["missing"]
    assert monitoring["hint"].startswith("Not recorded: It runs in production but has never been evaluated")
    assert monitoring["link"] == reverse("monitoring:model", kwargs={"slug": version.model.slug})


def test_the_page_shows_the_stored_state_of_a_breached_version(client_as):
    version = production_model(name="Breached page").versions.get()
    breach(version)
    url = reverse("portfolio:model-card", kwargs={"slug": version.model.slug, "version": version.version})

    page = client_as("executive").get(url).content.decode()

    assert "10. Governance state" in page and "Monitoring shows 1 metric beyond the limits its tier sets." in page
    assert "production monitoring results appear here" not in page


def test_it_lists_what_the_portal_detects_as_caveats(rich_version):
    rich_version.model.accountable_owner.is_active = False
    rich_version.model.accountable_owner.save(update_fields=["is_active"])
    detected = field(card_of(rich_version), "caveats", "detected")["value"]
    assert any("olivia has left" in c for c in detected)
    assert any("scikit-learn: validated 1.6.1, runs 1.4.0" in c for c in detected)
    assert any("GDPR Art. 22" in c for c in detected)


def test_the_card_is_plain_json(rich_version):
    card = card_of(rich_version)
    assert json.loads(json.dumps(card)) == card


def test_markdown_has_every_section_and_escapes_what_users_typed(rich_version):
    rich_version.model.purpose = "Beat <script>alert(1)</script> | and *more*"
    markdown = to_markdown(build_model_card(rich_version))
    assert "## 1. Model details" in markdown and "## 9. Caveats and recommendations" in markdown
    assert "## 10. Governance state" in markdown
    assert "<script>" not in markdown and r"\<script\>" in markdown and r"\| and \*more\*" in markdown
    assert "_Not recorded: name the groups" in markdown


@pytest.fixture
def card_url(rich_version):
    return reverse("portfolio:model-card", kwargs={"slug": rich_version.model.slug, "version": "2.0.0"})


def test_it_serves_a_printable_html_page(client_as, card_url):
    response = client_as("executive").get(card_url)
    assert response.status_code == 200
    assert b"Model card: Credit scoring 2.0.0" in response.content and b"Ethical considerations" in response.content


def test_it_downloads_markdown_as_an_attachment(client_as, card_url, rich_version):
    response = client_as("reviewer").get(card_url, {"format": "md"})
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    slug = rich_version.model.slug
    assert response["Content-Disposition"] == f'attachment; filename="{slug}-2.0.0-model-card.md"'
    assert response.content.decode().startswith("# Model card: Credit scoring 2.0.0")


def test_it_serves_json(client_as, card_url):
    response = client_as("executive").get(card_url, {"format": "json"})
    assert response["Content-Type"] == "application/json"
    assert response.json()["model"] == {"name": "Credit scoring", "slug": response.json()["model"]["slug"],
                                        "version": "2.0.0", "stage": "production"}


def test_it_refuses_an_unknown_format_with_a_message(client_as, card_url):
    response = client_as("executive").get(card_url, {"format": "pdf"})
    assert response.status_code == 400 and b"use one of: html, md, json" in response.content


def test_it_answers_404_for_a_version_that_does_not_exist(client_as, rich_version):
    url = reverse("portfolio:model-card", kwargs={"slug": rich_version.model.slug, "version": "9.9"})
    assert client_as("executive").get(url).status_code == 404


def _queries(client, version) -> int:
    url = reverse("portfolio:model-card", kwargs={"slug": version.model.slug, "version": version.version})
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def _version_with(n: int, make_user):
    version = ModelVersionFactory(training_datasets=DataSetFactory.create_batch(n, owner=make_user()),
                                  model=MLModelFactory(business_processes=BusinessProcessFactory.create_batch(n)))
    version.model.technical_owners.set([make_user() for _ in range(n)])
    DeploymentFactory.create_batch(n, version=version, business_process=BusinessProcessFactory())
    return version


def test_the_page_costs_a_constant_number_of_queries(client_as, make_user, django_assert_max_num_queries):
    client = client_as("executive")
    one, many = _version_with(1, make_user), _version_with(4, make_user)
    assert _queries(client, one) == _queries(client, many)
    with django_assert_max_num_queries(12):
        _queries(client, many)
