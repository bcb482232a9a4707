"""Monitoring writes racing each other: champion promotions, replayed uploads, two beat schedulers.

The parallel tests need a server that runs transactions side by side (PostgreSQL; CI's second pass).
SQLite serialises every write transaction, so there they would prove nothing; each has a sequential
counterpart below that runs everywhere.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.core.errors import ConflictError
from apps.core.models import AuditEvent
from apps.core.services import audit_verify
from apps.inventory.models import ModelVersion, Stage
from apps.monitoring import services
from apps.monitoring.models import Alert, Evaluation, MetricWindow, UploadSession
from apps.reviews import services as review_services
from tests.factories import api_key_for
from tests.inventory.factories import ModelVersionFactory
from tests.monitoring.test_services import evaluation_csv
from tests.reviews.helpers import assessed_version, submitted_review
from tests.reviews.test_concurrency import postgresql_only, race
from tests.risk.factories import ratings

CHALLENGERS = 20
REPLAYS = 15


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def approved_versions(make_user, count: int) -> list[ModelVersion]:
    """``count`` versions of one assessed model, each with an approved review: all pass the production gate."""
    scientist, reviewer = make_user("data_scientist", username="sam"), make_user("reviewer", username="rita")
    first = assessed_version(team__members=[scientist])
    versions = [first] + [ModelVersionFactory(model=first.model, artifact_sha256=f"{n:064x}") for n in range(1, count)]
    for version in versions:
        review = submitted_review(submitter=scientist, version=version)
        review_services.review_decide(actor=reviewer, review=review, decision="approve")
    return versions


def in_production(model) -> list[ModelVersion]:
    return list(model.versions.filter(stage=Stage.PRODUCTION))


# --- Champion promotion -----------------------------------------------------------------------------------------

@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_promotions_leave_exactly_one_champion(make_user):
    champion, *challengers = approved_versions(make_user, CHALLENGERS + 1)
    model = champion.model
    services.champion_promote(actor=None, model=model, challenger=champion, expected_champion=None)
    url = reverse("monitoring:promote", kwargs={"slug": model.slug})
    clients = []
    for n in range(CHALLENGERS):
        scientist = make_user("data_scientist", username=f"ds{n:02d}")
        model.team.members.add(scientist)
        client = Client()
        client.force_login(scientist)
        clients.append(client)

    def promote(client, challenger):
        return lambda: client.post(url, {"challenger": challenger.pk, "champion": champion.pk})

    outcomes = race([promote(client, challenger) for client, challenger in zip(clients, challengers, strict=True)])

    leaked = [o for o in outcomes if isinstance(o, Exception)]
    assert leaked == [], f"errors escaped the service: {leaked[:3]}"
    assert Counter(o.status_code for o in outcomes) == {302: 1, 409: CHALLENGERS - 1}
    assert all(b"The champion changed since you compared" in o.content for o in outcomes if o.status_code == 409)
    winner = challengers[[o.status_code for o in outcomes].index(302)]
    assert in_production(model) == [winner] and services.champion_of(model) == winner
    champion.refresh_from_db()
    assert champion.stage == Stage.STAGING
    assert sorted(set(model.versions.values_list("stage", flat=True))) == [Stage.DEVELOPMENT, Stage.PRODUCTION,
                                                                           Stage.STAGING]
    moves = AuditEvent.objects.filter(action="version.stage_changed", object_type="inventory.modelversion")
    assert moves.count() == 3  # the first champion in; then, once, the winner in and that champion out
    assert audit_verify(triggered_by="test").ok


@pytest.mark.django_db
def test_a_promotion_replaces_the_champion_and_a_stale_one_changes_nothing(make_user):
    scientist = make_user("data_scientist")
    first, second, third = approved_versions(make_user, 3)
    model = first.model
    model.team.members.add(scientist)
    services.champion_promote(actor=scientist, model=model, challenger=first, expected_champion=None)
    promoted, replaced = services.champion_promote(actor=scientist, model=model, challenger=second,
                                                   expected_champion=first)
    assert promoted == second and replaced == [first] and in_production(model) == [second]

    with pytest.raises(ConflictError, match=f"The champion changed since you compared: {second} is the champion"):
        services.champion_promote(actor=scientist, model=model, challenger=third, expected_champion=first)
    third.refresh_from_db()
    assert third.stage == Stage.DEVELOPMENT and in_production(model) == [second]

    services.champion_promote(actor=scientist, model=model, challenger=first, expected_champion=second)  # rollback
    assert in_production(model) == [first]
    assert audit_verify(triggered_by="test").ok


@pytest.mark.django_db
def test_a_promotion_moves_every_other_production_version_out(make_user):
    first, second, third = approved_versions(make_user, 3)
    ModelVersion.objects.filter(pk__in=[first.pk, second.pk]).update(stage=Stage.PRODUCTION)  # set by hand
    assert services.champion_of(first.model) == second  # the newest production version
    _, replaced = services.champion_promote(actor=None, model=first.model, challenger=third,
                                            expected_champion=second)
    assert replaced == [first, second] and in_production(first.model) == [third]


@pytest.mark.django_db
def test_a_version_of_another_model_is_not_promoted():
    version, stranger = ModelVersionFactory(), ModelVersionFactory(stage=Stage.STAGING)
    with pytest.raises(Exception, match="is not a version of"):
        services.champion_promote(actor=None, model=version.model, challenger=stranger, expected_champion=None)
    stranger.refresh_from_db()
    assert stranger.stage == Stage.STAGING


# --- Idempotency-Key ---------------------------------------------------------------------------------------------

def api_for(user) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(user)}")
    return client


def upload_request(client: APIClient, version, data: bytes, key: str):
    body = {"model_version": version.pk, "file": SimpleUploadedFile("eval.csv", data), "kind": "validation",
            "sensitive_features": "sex"}
    return client.post("/api/v1/evaluations/", body, format="multipart", HTTP_IDEMPOTENCY_KEY=key)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_parallel_replays_of_one_upload_create_one_evaluation(make_user):
    scientist = make_user("data_scientist", username="sam")
    version = assessed_version(team__members=[scientist])
    data, _ = evaluation_csv()
    clients = [api_for(scientist) for _ in range(REPLAYS)]

    outcomes = race([lambda client=client: upload_request(client, version, data, "upload-42") for client in clients])

    leaked = [o for o in outcomes if isinstance(o, Exception)]
    assert leaked == [], f"errors escaped the view: {leaked[:3]}"
    assert Counter(o.status_code for o in outcomes) == {201: 1, 200: REPLAYS - 1}, [o.content[:200] for o in outcomes]
    evaluation = Evaluation.objects.get()
    assert {o.json()["id"] for o in outcomes} == {evaluation.pk}
    assert all(o["Idempotent-Replayed"] == "true" for o in outcomes if o.status_code == 200)
    assert AuditEvent.objects.filter(action="evaluation.uploaded").count() == 1
    other, _ = evaluation_csv(seed=1)
    response = upload_request(api_for(scientist), version, other, "upload-42")
    assert response.status_code == 409 and "already used for a different upload" in response.json()["detail"]
    assert Evaluation.objects.count() == 1


@pytest.mark.django_db
def test_a_replay_that_loses_the_race_to_the_constraint_answers_with_the_winner(make_user, monkeypatch):
    scientist = make_user("data_scientist", username="sam")
    version = assessed_version(team__members=[scientist])
    data, _ = evaluation_csv()
    winner, created = services.evaluation_upload(actor=scientist, version=version, data=data, filename="eval.csv",
                                                 idempotency_key="k1")
    assert created
    real, calls = services._replayed, []

    def blind_first_look(**kwargs):  # what a parallel request saw: the winner had not committed yet
        calls.append(kwargs)
        return None if len(calls) == 1 else real(**kwargs)

    monkeypatch.setattr(services, "_replayed", blind_first_look)
    replay, created = services.evaluation_upload(actor=scientist, version=version, data=data, filename="eval.csv",
                                                 idempotency_key="k1")
    assert (replay, created, len(calls)) == (winner, False, 2)
    calls.clear()
    with pytest.raises(ConflictError, match="different upload"):
        services.evaluation_upload(actor=scientist, version=version, data=evaluation_csv(seed=3)[0],
                                   filename="eval.csv", idempotency_key="k1")
    assert Evaluation.objects.count() == 1


# --- Two beat schedulers -----------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 25, 6, tzinfo=UTC)


def drifting_production_versions(scientist, count: int = 2) -> list[ModelVersion]:
    """High-tier (weekly) production versions with three weeks of results and a reference they drift from."""
    versions = []
    for _ in range(count):
        version = assessed_version(tier_ratings=ratings(degradation=(4, 4)), team__members=[scientist])
        ModelVersion.objects.filter(pk=version.pk).update(stage=Stage.PRODUCTION)
        for week in (1, 2, 3):
            data, _ = evaluation_csv(seed=week, shift=15, start=NOW - timedelta(days=7 * week))
            evaluation, _ = services.evaluation_upload(actor=scientist, version=version, data=data,
                                                       filename="eval.csv", kind="production")
            services.evaluation_compute(evaluation_id=evaluation.pk)  # no-op when tasks already ran it inline
        reference = pd.DataFrame({"income": np.random.default_rng(5).normal(50, 10, 2000).round(3)})
        services.reference_upload(actor=scientist, version=version, data=reference.to_csv(index=False).encode(),
                                  filename="reference.csv")
        versions.append(version)
    assert Evaluation.objects.filter(status="done").count() == 3 * count and not Alert.objects.exists()
    return versions


def assert_one_result_per_window_and_alert(versions, computed: int) -> None:
    windows = MetricWindow.objects.filter(version__in=versions)
    assert computed > len(versions) and windows.count() == computed
    keys = Counter(windows.values_list("version_id", "cadence", "window_start"))
    assert max(keys.values()) == 1
    raised = Counter(AuditEvent.objects.filter(action__startswith="alert.raised").values_list("object_id", flat=True))
    alerts = Alert.objects.filter(version__in=versions)
    assert alerts.filter(metric="drift.income.psi").count() == len(versions)  # the drift is found, once per version
    assert sorted(raised) == sorted(str(pk) for pk in alerts.values_list("pk", flat=True))
    assert set(raised.values()) == {1}


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_beat_schedulers_at_once_leave_one_result_per_window(make_user):
    versions = drifting_production_versions(make_user("data_scientist"))

    outcomes = race([lambda: services.windows_due(now=NOW)] * 4)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert len(set(outcomes)) == 1  # every scheduler computed (and replaced) the same windows
    assert_one_result_per_window_and_alert(versions, outcomes[0])
    assert audit_verify(triggered_by="test").ok


@pytest.mark.django_db
def test_a_second_beat_run_replaces_windows_and_refreshes_alerts(make_user):
    versions = drifting_production_versions(make_user("data_scientist"))
    first = services.windows_due(now=NOW)
    assert services.windows_due(now=NOW) == first
    assert_one_result_per_window_and_alert(versions, first)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_parallel_computations_of_one_version_raise_each_alert_once(make_user, monkeypatch):
    scientist = make_user("data_scientist")
    version = assessed_version(tier_ratings=ratings(degradation=(4, 4)), team__members=[scientist])
    reference = pd.DataFrame({"income": np.random.default_rng(5).normal(50, 10, 2000).round(3)})
    services.reference_upload(actor=scientist, version=version, data=reference.to_csv(index=False).encode(),
                              filename="reference.csv")
    monkeypatch.setattr(services, "enqueue", lambda pk: False)  # queued, left for the racing workers below
    evaluations = [services.evaluation_upload(actor=scientist, version=version, filename="eval.csv", kind="production",
                                              data=evaluation_csv(seed=n, shift=15)[0])[0] for n in range(8)]

    outcomes = race([lambda pk=e.pk: services.evaluation_compute(evaluation_id=pk) for e in evaluations])

    assert outcomes == [True] * len(evaluations), outcomes
    alerts = Alert.objects.filter(version=version)
    assert alerts.filter(metric="drift.income.psi").exists()
    raised = Counter(AuditEvent.objects.filter(action__startswith="alert.raised").values_list("object_id", flat=True))
    assert sorted(raised) == sorted(str(pk) for pk in alerts.values_list("pk", flat=True))
    assert set(raised.values()) == {1}
    computed = Counter(AuditEvent.objects.filter(action="evaluation.computed").values_list("object_id", flat=True))
    assert computed == Counter({str(e.pk): 1 for e in evaluations})


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_parallel_starts_cannot_open_more_uploads_than_a_person_may(make_user, settings):
    settings.PORTAL_MAX_OPEN_UPLOADS = 3
    scientist = make_user("data_scientist", username="sam")
    version = assessed_version(team__members=[scientist])
    body = {"model_version": version.pk, "filename": "big.csv", "size": 10_000, "sha256": "a" * 64}
    clients = [api_for(scientist) for _ in range(10)]

    outcomes = race([lambda client=client: client.post("/api/v1/uploads/", body, format="json") for client in clients])

    assert [o for o in outcomes if isinstance(o, Exception)] == []
    assert Counter(o.status_code for o in outcomes) == {201: 3, 409: 7}, [o.content[:200] for o in outcomes]
    assert UploadSession.objects.filter(state="open").count() == 3
