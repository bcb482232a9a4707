"""The busiest pages cost the same number of queries whatever the size of the portfolio (the dashboard: at
most a fixed number).

Each test counts the queries of one page for a portfolio of 10 models (2 versions each),
then adds 50 models (12 versions each) and counts again: a page that queries per row, per
version or per flag costs more the second time. ``bench/inventory_bench.py`` times the same
pages at 10,000 models. Rows are written with ``bulk_create`` to keep the test fast.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.governance import figures
from apps.governance.services import codes_field
from apps.inventory import governance as g
from apps.inventory.models import (
    BusinessProcess,
    BusinessUnit,
    DataSet,
    Deployment,
    MLModel,
    ModelGovernance,
    ModelVersion,
    StageTransition,
    Tag,
    Team,
    VersionGovernance,
)
from apps.monitoring.models import Alert
from apps.reviews.models import Review
from apps.risk.models import RiskAssessment, RiskRating
from tests.factories import UserFactory
from tests.inventory.factories import FINGERPRINT

DRIFTED = {**FINGERPRINT, "packages": {**FINGERPRINT["packages"], "scikit-learn": "1.5.0"}}

PAGES = {
    "model list": lambda model: reverse("inventory:index"),
    # The list by the stored governance state: a filter or sort that joined per row would show here.
    "model list by governance state": lambda model: reverse("inventory:index") + "?governance=non_compliant",
    "model list by health": lambda model: reverse("inventory:index") + "?health=no_evidence",
    "model list by reason": lambda model: reverse("inventory:index") + "?reason=assessment_overdue",
    "model list worst first": lambda model: reverse("inventory:index") + "?sort=-governance",
    "model page": lambda model: reverse("inventory:model-detail", args=[model.slug]),
    "business process": lambda model: reverse(
        "inventory:process-detail", args=[BusinessProcess.objects.get(business_unit=model.team.business_unit).slug]),
    "dashboard": lambda model: reverse("portfolio:dashboard"),
    "API model list": lambda model: "/api/v1/models/",
    "API model list by governance state": lambda model: "/api/v1/models/?governance=non_compliant",
}


def portfolio(prefix: str, *, models: int, versions: int) -> MLModel:
    """``models`` models with ``versions`` versions each and what every page reads about them: owners (one in
    two has left), processes, tags, training data, transitions, deployments (every other one drifted), a
    current risk assessment with ratings, reviews and open alerts, and a stored governance state for each model
    and version. Returns the first model."""
    now = timezone.now()
    unit = BusinessUnit.objects.create(name=f"Unit {prefix}", slug=f"unit-{prefix}")
    team = Team.objects.create(name=f"Team {prefix}", slug=f"team-{prefix}", business_unit=unit)
    process = BusinessProcess.objects.create(name=f"Process {prefix}", slug=f"process-{prefix}", business_unit=unit,
                                             decision="approve", value_at_stake=1000, decisions_per_day=10)
    dataset = DataSet.objects.create(name=f"data-{prefix}", slug=f"data-{prefix}", version="v1")
    tag = Tag.objects.create(name=f"tag-{prefix}")
    owners = [UserFactory(), UserFactory(is_active=False)]
    created = MLModel.objects.bulk_create([
        MLModel(name=f"Model {prefix}{i}", slug=f"model-{prefix}{i}", purpose="Predict.", team=team,
                accountable_owner=owners[i % 2], stage="staging" if i % 3 == 0 else "production")
        for i in range(models)
    ])
    MLModel.technical_owners.through.objects.bulk_create(
        [MLModel.technical_owners.through(mlmodel=m, user=o) for m in created for o in owners])
    MLModel.business_processes.through.objects.bulk_create(
        [MLModel.business_processes.through(mlmodel=m, businessprocess=process) for m in created[1:]])
    MLModel.tags.through.objects.bulk_create([MLModel.tags.through(mlmodel=m, tag=tag) for m in created])
    rows = ModelVersion.objects.bulk_create([
        ModelVersion(model=m, version=f"1.{k}", stage=m.stage if k == versions - 1 else "retired",
                     validated_environment=FINGERPRINT)
        for m in created for k in range(versions)
    ])
    StageTransition.objects.bulk_create(
        [StageTransition(version=v, from_stage="development", to_stage=v.stage, at=now) for v in rows])
    ModelVersion.training_datasets.through.objects.bulk_create(
        [ModelVersion.training_datasets.through(modelversion=v, dataset=dataset) for v in rows])
    Deployment.objects.bulk_create([
        Deployment(version=v, environment="production", target=f"job-{v.pk}", deployed_at=now - timedelta(days=1),
                   business_process=process, retired_at=None if v.stage != "retired" else now,
                   runtime_environment=DRIFTED if v.pk % 2 else FINGERPRINT, environment_mismatch=bool(v.pk % 2))
        for v in rows
    ])
    assessments = RiskAssessment.objects.bulk_create([
        RiskAssessment(model=m, status="current", exposure=m.exposure, automation_level=m.automation_level,
                       tier="high", reassessment_due=now.date() - timedelta(days=i % 2))
        for i, m in enumerate(created)
    ])
    RiskRating.objects.bulk_create([RiskRating(assessment=a, risk=risk, probability=3, impact=4)
                                    for a in assessments for risk in ("unavailable", "wrong_prediction")])
    Review.objects.bulk_create([Review(version=v, state="approved" if v.pk % 3 else "expired") for v in rows])
    Alert.objects.bulk_create([
        Alert(model=v.model, version=v, metric="overall.roc_auc", threshold="< 0.8", message="Below threshold.",
              severity="breach" if v.pk % 2 else "warning")
        for v in rows if v.stage == "production"
    ])
    stored_governance(created, rows, now)
    return created[0]


def stored_governance(models: list[MLModel], versions: list[ModelVersion], now) -> None:
    """A spread of stored states (every status, health and a few reason codes), written in bulk: computing them
    through ``governance_refresh`` costs seconds per portfolio, and these tests count queries, not rules."""
    def state(i: int) -> dict:
        codes = ["assessment_overdue", "monitoring_never", "alert_breach"][: i % 4]
        return {"status": g.STATUSES[i % 4], "rank": i % 4, "health": g.HEALTHS[i % 5], "approval": g.APPROVALS[i % 5],
                "tier": ["", "low", "high"][i % 3], "reason_codes": codes_field(codes), "computed_at": now,
                "reasons": [{"code": c, "level": g.NON_COMPLIANT, "message": g.REASON_CODES[c], "fix": "model",
                             "url": "", "blocks_gate": True, "version": ""} for c in codes]}

    ModelGovernance.objects.bulk_create([ModelGovernance(model=m, **state(i)) for i, m in enumerate(models)])
    VersionGovernance.objects.bulk_create(
        [VersionGovernance(version=v, gate_open=i % 2 == 0, **state(i)) for i, v in enumerate(versions)])
    # What the service stores beside each state: red flags, tallies, the copies the list filters on.
    figures.store([m.pk for m in models])


def count_queries(client, url: str) -> tuple[int, int]:
    """(queries, bytes of the answer) of one GET, which must succeed."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured), len(response.content)


@pytest.mark.parametrize("page", PAGES)
def test_it_costs_the_same_number_of_queries_for_10_or_60_models(client_as, page):
    client = client_as("executive")
    small = count_queries(client, PAGES[page](portfolio("a", models=10, versions=2)))
    large = count_queries(client, PAGES[page](portfolio("b", models=50, versions=12)))

    assert large[0] == small[0], f"{page}: {small[0]} queries for 10 models, {large[0]} for 60"
    # The second page really shows more (rows, versions, flags): the equal count is not a vacuous one.
    assert large[1] > small[1]
