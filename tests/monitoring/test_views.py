"""The monitoring pages: health overview, uploads, evaluation, model, alerts, comparison and promotion."""

import io
import json
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from sklearn.metrics import accuracy_score, roc_auc_score

from apps.inventory.models import Stage
from apps.inventory.signals import governance_changed
from apps.monitoring import forms, selectors, services
from apps.monitoring.models import Alert, Evaluation, MetricWindow, ReferenceData
from tests.inventory.factories import DeploymentFactory, ModelVersionFactory


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def frame_csv(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def evaluation_frame(n=300, *, seed=0, shift=0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(0.25 + 0.5 * y + rng.normal(0, 0.2, n), 0, 1).round(6)
    sex = rng.choice(["female", "male"], n)
    # Women are selected less often, so the fairness section has something to show.
    pred = np.where((sex == "female") & (rng.random(n) < 0.4), 0, (score >= 0.5).astype(int))
    return pd.DataFrame({"y_true": y, "y_pred": pred, "y_score": score, "sex": sex,
                         "income": rng.normal(50 + shift, 10, n).round(3)})


def production_version(**model_fields):
    version = ModelVersionFactory(stage=Stage.PRODUCTION, model__stage=Stage.PRODUCTION, **model_fields)
    DeploymentFactory(version=version)
    return version


def make_evaluation(version, **fields) -> Evaluation:
    defaults = {"filename": "eval.csv", "file_format": "csv", "sha256": "0" * 64, "size_bytes": 10,
                "raw_path": "x", "parquet_path": "x", "row_count": 10, "status": Evaluation.Status.DONE,
                "columns": {"target": "y_true", "prediction": "y_pred", "sensitive_features": []},
                "metrics": {"overall": {"accuracy": 0.91}, "groups": {}, "fairness": {}, "drift": {}}}
    return Evaluation.objects.create(version=version, **{**defaults, **fields})


def make_alert(version, **fields) -> Alert:
    defaults = {"metric": "overall.accuracy", "value": 0.7, "threshold": "< 0.85", "severity": "breach",
                "message": "accuracy is 0.7000, below the minimum 0.85."}
    alert = Alert.objects.create(model=version.model, version=version, **{**defaults, **fields})
    governance_changed(model_ids=[version.model_id], cause="test alert")  # as the alert writer does
    return alert


def make_window(version, day: int, start=None, **fields) -> MetricWindow:
    start = start or datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day)
    metrics = {"overall": {"accuracy": 0.8 + day / 1000, "roc_auc": 0.9, "f1": 0.7},
               "fairness": {"sex": {"demographic_parity_difference": 0.04}}, "drift": {"income": {"psi": 0.03}}}
    window = MetricWindow.objects.create(version=version, cadence="daily", window_start=start,
                                         window_end=start + timedelta(days=1), row_count=100,
                                         **{"metrics": metrics, "health": "healthy", **fields})
    governance_changed(model_ids=[version.model_id], cause="test window")  # as the window service does
    return window


def upload_data(frame: pd.DataFrame, version, **fields) -> dict:
    upload = io.BytesIO(frame_csv(frame))
    upload.name = "eval.csv"
    return {"version": version.pk, "kind": "validation", "file": upload, "sensitive_features": "sex",
            "positive_label": "1", "target_column": "y_true", "prediction_column": "y_pred",
            "score_column": "y_score", "timestamp_column": "timestamp", **fields}


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def stored_files(settings) -> list:
    from pathlib import Path

    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --- Health overview ------------------------------------------------------------------------------

def test_it_shows_an_empty_state_when_no_model_is_in_production(client_as):
    response = client_as("executive").get(reverse("monitoring:index"))
    assert response.status_code == 200
    assert "No model is in production yet" in response.content.decode()
    assert "Upload an evaluation" not in response.content.decode()


def test_it_lists_production_models_with_health_cadence_and_alerts(client_as):
    breached = production_version(model__name="Credit scoring")
    make_alert(breached)
    make_window(breached, 1)
    production_version(model__name="Churn")
    ModelVersionFactory(model__name="Draft model")  # not deployed: not listed
    page = client_as("reviewer").get(reverse("monitoring:index")).content.decode()
    assert "Credit scoring" in page and "Churn" in page and "Draft model" not in page
    assert page.index("Credit scoring") < page.index("Churn")  # worst health first
    assert 'class="health health-breach"' in page
    assert "Daily" in page  # unassessed models follow the critical policy
    assert "2 models in production" in page
    assert "Open alerts" in page and "below the minimum 0.85" in page


def test_it_filters_models_by_health_and_search(client_as):
    make_alert(production_version(model__name="Credit scoring"))
    make_window(production_version(model__name="Churn"), 0, start=timezone.now() - timedelta(hours=20))
    production_version(model__name="Fraud")  # never evaluated: no evidence, never healthy
    client = client_as("executive")
    healthy = client.get(reverse("monitoring:index"), {"health": "healthy"}).content.decode()
    assert "Churn" in healthy and "Credit scoring" not in healthy.split("Open alerts")[0]
    assert "Fraud" not in healthy
    unknown = client.get(reverse("monitoring:index"), {"health": "no_evidence"}).content.decode()
    assert "Fraud" in unknown and "Churn" not in unknown and "No evidence" in unknown
    searched = client.get(reverse("monitoring:index"), {"q": "credit"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Credit scoring" in searched and "Churn" not in searched and "<html" not in searched


def test_it_ignores_retired_deployments(client_as):
    version = ModelVersionFactory(model__name="Old model", stage=Stage.PRODUCTION)
    DeploymentFactory(version=version, retired_at=datetime(2025, 1, 1, tzinfo=UTC))
    assert "Old model" not in client_as("executive").get(reverse("monitoring:index")).content.decode()


@pytest.mark.parametrize("count", [5, 30])
def test_the_index_costs_the_same_queries_for_5_or_30_models(count, client_as, django_assert_max_num_queries):
    def build(n):
        for i in range(n):
            version = production_version()
            make_alert(version, severity="warning" if i % 2 else "breach")
            make_window(version, i)
            make_evaluation(version)

    client = client_as("executive")
    build(5)
    baseline = count_queries(client, reverse("monitoring:index"))
    build(count - 5)
    with django_assert_max_num_queries(baseline):
        client.get(reverse("monitoring:index"))
    assert baseline <= 14


# --- Upload ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["executive", "reviewer"])
def test_it_refuses_the_upload_page_to_readers(role, client_as):
    assert client_as(role).get(reverse("monitoring:upload")).status_code == 403


def test_it_preselects_the_version_from_the_query_string(client_as):
    version = ModelVersionFactory()
    page = client_as("data_scientist").get(reverse("monitoring:upload"), {"version": version.pk}).content.decode()
    assert f'<option value="{version.pk}" selected>' in page
    assert 'type="file"' in page and "data-dropzone" in page


def test_an_upload_computes_real_metrics_end_to_end(client_as, django_capture_on_commit_callbacks):
    client = client_as("data_scientist")
    version = ModelVersionFactory(model__team__members=[client.user])
    frame = evaluation_frame()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("monitoring:upload"), upload_data(frame, version))
    evaluation = Evaluation.objects.get()
    assert response.status_code == 302 and response["Location"] == evaluation.get_absolute_url()
    assert evaluation.status == "done" and evaluation.kind == "validation" and evaluation.row_count == 300
    accuracy = accuracy_score(frame.y_true, frame.y_pred)
    assert evaluation.metrics["overall"]["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert evaluation.metrics["overall"]["roc_auc"] == pytest.approx(roc_auc_score(frame.y_true, frame.y_score),
                                                                     abs=1e-12)
    page = client.get(response["Location"]).content.decode()
    assert f"{accuracy:.4f}" in page
    assert 'hx-trigger="every 2s"' not in page  # done: no more polling


def test_a_rejected_upload_stores_nothing_and_lists_the_problems(client_as, settings):
    client = client_as("data_scientist")
    version = ModelVersionFactory(model__team__members=[client.user])
    frame = evaluation_frame()
    frame.loc[[3, 7], "y_score"] = 1.7
    response = client.post(reverse("monitoring:upload"),
                                                 upload_data(frame, version, kind="production",
                                                             positive_label="1"))
    page = response.content.decode()
    assert response.status_code == 400
    assert not Evaluation.objects.exists() and stored_files(settings) == []
    assert "Problems found in the file" in page
    assert "<code>y_score</code>" in page and "5, 9" in page and "outside [0, 1]" in page
    # The chosen options are kept.
    assert 'value="sex"' in page and '<option value="production" selected>' in page
    assert f'<option value="{version.pk}" selected>' in page


def test_a_missing_column_is_named_in_the_problems(client_as):
    client = client_as("data_scientist")
    version = ModelVersionFactory(model__team__members=[client.user])
    response = client.post(reverse("monitoring:upload"),
                                                upload_data(evaluation_frame(), version, prediction_column="pred"))
    assert response.status_code == 400
    assert "<code>pred</code>" in response.content.decode() and not Evaluation.objects.exists()


def test_the_preview_shows_the_header_first_rows_and_roles_without_storing(client_as, settings):
    frame = evaluation_frame()
    data = {**upload_data(frame, ModelVersionFactory(), prediction_column="missing_pred"), "version": ""}
    response = client_as("data_scientist").post(reverse("monitoring:upload-preview"), data, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page
    assert "<code>income</code>" in page and "feature (compared for drift)" in page
    assert "sensitive feature" in page and "true label" in page
    assert "Missing:" in page and "<code>missing_pred</code>" in page
    assert page.count("<tr>") == 1 + 5  # the header row and five data rows
    assert f"<td>{frame.income[0]}</td>" in page
    assert not Evaluation.objects.exists() and stored_files(settings) == []


def test_the_preview_works_without_javascript(client_as):
    response = client_as("data_scientist").post(reverse("monitoring:upload-preview"),
                                                upload_data(evaluation_frame(), ModelVersionFactory()))
    page = response.content.decode()
    assert response.status_code == 200 and "<html" in page
    assert "Preview of eval.csv" in page and "choose it again" in page


def test_the_preview_reports_an_unreadable_file(client_as):
    upload = io.BytesIO(b"\xff\xfe y\x00_\x00")
    upload.name = "bad.csv"
    response = client_as("data_scientist").post(reverse("monitoring:upload-preview"),
                                                {"file": upload, "target_column": "y_true",
                                                 "prediction_column": "y_pred", "positive_label": "1",
                                                 "kind": "validation"}, HTTP_HX_REQUEST="true")
    assert "UTF-16" in response.content.decode()


def test_a_reference_upload_is_stored_for_drift(client_as):
    client = client_as("data_scientist")
    version = ModelVersionFactory(model__team__members=[client.user])
    upload = io.BytesIO(frame_csv(evaluation_frame()[["income", "sex"]]))
    upload.name = "train.csv"
    response = client.post(reverse("monitoring:reference-upload"),
                                                {"version": version.pk, "file": upload})
    assert response.status_code == 302
    assert response["Location"] == reverse("monitoring:model", kwargs={"slug": version.model.slug})
    assert ReferenceData.objects.get().row_count == 300


# --- Evaluation page ------------------------------------------------------------------------------------

def test_the_evaluation_page_shows_groups_fairness_and_drift(client_as, make_user,
                                                               django_capture_on_commit_callbacks):
    scientist = make_user("data_scientist")
    version = ModelVersionFactory(model__team__members=[scientist])
    services.reference_upload(actor=scientist, version=version, data=frame_csv(evaluation_frame(seed=1)),
                              filename="train.csv")
    with django_capture_on_commit_callbacks(execute=True):
        evaluation, _ = services.evaluation_upload(actor=scientist, version=version, filename="eval.csv",
                                                   data=frame_csv(evaluation_frame(shift=15)),
                                                   sensitive_features=["sex"])
    page = client_as("executive").get(evaluation.get_absolute_url()).content.decode()
    evaluation.refresh_from_db()
    assert "Selection-rate ratio" in page and "Selection rate 95% CI (Wilson)" in page
    assert "Demographic parity difference" in page and "p-value (χ² independence)" in page
    female = evaluation.metrics["groups"]["sex"]["female"]
    assert f"{female['selection_rate']:.4f}" in page
    assert "below four-fifths of the reference group" in page  # women are selected less often
    assert evaluation.metrics["drift"]["income"]["psi"] > 0.2
    assert re.search(r'flag-row-breach">\s*<th scope="row">income', page)  # above the critical policy's psi_max
    # The row names the policy's limit, the one the alerts use (not the usual 0.2 reading).
    assert re.search(r'income <small class="row-note">the policy allows PSI up to 0\.\d+</small>', page)
    assert 'id="figure-groups-0"' in page and 'id="figure-drift"' in page
    assert "only production results raise alerts" in page
    # The reference holds the model's outputs too: their drift has its own table, a row per output.
    outputs = evaluation.metrics["prediction_drift"]
    assert "<caption>Prediction drift</caption>" in page
    assert "Score (y_score)" in page and "Predicted label (y_pred)" in page
    assert f"{outputs['score']['psi']:.4f}" in page


def test_the_evaluation_page_says_why_there_is_no_prediction_drift(client_as, make_user,
                                                                   django_capture_on_commit_callbacks):
    scientist = make_user("data_scientist")
    version = ModelVersionFactory(model__team__members=[scientist])
    services.reference_upload(actor=scientist, version=version, filename="train.csv",
                              data=frame_csv(evaluation_frame(seed=1)[["income"]]))
    with django_capture_on_commit_callbacks(execute=True):
        evaluation, _ = services.evaluation_upload(actor=scientist, version=version, filename="eval.csv",
                                                   data=frame_csv(evaluation_frame()), sensitive_features=["sex"])

    page = client_as("executive").get(evaluation.get_absolute_url()).content.decode()

    assert "<caption>Drift</caption>" in page and "Prediction drift</caption>" not in page
    assert "No prediction drift: the reference data holds no y_pred or y_score column." in page


def test_a_queued_evaluation_polls_its_status_every_two_seconds(client_as):
    evaluation = make_evaluation(ModelVersionFactory(), status="queued", metrics=None)
    client = client_as("reviewer")
    page = client.get(evaluation.get_absolute_url()).content.decode()
    status_url = reverse("monitoring:evaluation-status", kwargs={"pk": evaluation.pk})
    assert f'hx-get="{status_url}" hx-trigger="every 2s"' in page
    assert "Overall metrics" not in page
    polled = client.get(status_url, HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 2s"' in polled.content.decode() and "HX-Refresh" not in polled


def test_the_status_poll_reloads_the_page_once_the_evaluation_is_done(client_as):
    evaluation = make_evaluation(ModelVersionFactory(), status="done")
    response = client_as("reviewer").get(reverse("monitoring:evaluation-status", kwargs={"pk": evaluation.pk}),
                                         HTTP_HX_REQUEST="true")
    assert response["HX-Refresh"] == "true" and 'hx-trigger' not in response.content.decode()


PENDING = {"status": "pending", "computation": "2026-01-01T00:00:00+00:00", "sent_at": "2026-01-01T00:00:00+00:00"}
FAILED = {"status": "failed", "reason": "Gave up after 3 attempts."}


@pytest.mark.parametrize("role", [None, "no_role"], ids=["anonymous", "no_role"])
def test_the_explanation_panel_is_refused_to_whoever_the_page_refuses(client_as, role):
    evaluation = make_evaluation(ModelVersionFactory(), metrics={"overall": {}, "explanations": PENDING})
    client = client_as(role)
    page = client.get(evaluation.get_absolute_url())
    panel = client.get(reverse("monitoring:evaluation-explanation", kwargs={"pk": evaluation.pk}),
                       HTTP_HX_REQUEST="true")
    assert panel.status_code == page.status_code and panel.status_code in (302, 403)
    if role is None:
        assert panel["Location"].startswith(reverse("login")) and page["Location"].startswith(reverse("login"))
    assert b"explanations" not in panel.content


def test_the_explanation_panel_of_an_evaluation_that_does_not_exist_is_404_like_the_page(client_as):
    client = client_as("executive")
    assert client.get(reverse("monitoring:evaluation-detail", kwargs={"pk": 999_999})).status_code == 404
    assert client.get(reverse("monitoring:evaluation-explanation", kwargs={"pk": 999_999})).status_code == 404


@pytest.mark.parametrize(("status", "explanations", "polls"), [
    ("done", PENDING, True),
    ("done", FAILED, False),
    ("done", None, False),
    ("running", PENDING, False),  # recomputed from late labels: the status panel polls, then the page reloads
])
def test_the_explanation_panel_polls_only_while_a_done_evaluation_waits_for_it(client_as, status, explanations,
                                                                                polls):
    metrics = {"overall": {"accuracy": 0.9}, "groups": {}, "fairness": {}, "drift": {}}
    if explanations:
        metrics["explanations"] = explanations
    evaluation = make_evaluation(ModelVersionFactory(), status=status, metrics=metrics)
    client = client_as("executive")
    panel_url = reverse("monitoring:evaluation-explanation", kwargs={"pk": evaluation.pk})
    page = client.get(evaluation.get_absolute_url()).content.decode()
    assert (f'hx-get="{panel_url}" hx-trigger="every 2s"' in page) is polls
    polled = client.get(panel_url, HTTP_HX_REQUEST="true")
    assert polled.content.decode().lstrip().startswith('<section class="card" id="explanations"')
    assert (f'hx-get="{panel_url}" hx-trigger="every 2s"' in polled.content.decode()) is polls
    # Swapped in: still pending, or failed with its reason; otherwise the page reloads (a chart, a recomputation).
    assert ("HX-Refresh" in polled) is (not polls and explanations != FAILED)


NO_WORKER = "Queued 3 minutes ago; no worker has taken it yet; is the Celery worker running?"


def _queued_minutes_ago(minutes: int, **fields) -> Evaluation:
    evaluation = make_evaluation(ModelVersionFactory(), status="queued", metrics=None, **fields)
    Evaluation.objects.filter(pk=evaluation.pk).update(created_at=datetime.now(UTC) - timedelta(minutes=minutes,
                                                                                                seconds=5))
    return evaluation


def test_it_says_when_no_worker_has_taken_a_queued_evaluation(client_as, settings):
    settings.PORTAL_QUEUED_WARNING_SECONDS = 60
    evaluation = _queued_minutes_ago(3, enqueued_at=datetime.now(UTC) - timedelta(minutes=3))
    client = client_as("executive")
    assert NO_WORKER in client.get(evaluation.get_absolute_url()).content.decode()
    polled = client.get(reverse("monitoring:evaluation-status", kwargs={"pk": evaluation.pk}), HTTP_HX_REQUEST="true")
    assert NO_WORKER in polled.content.decode()


def test_the_api_says_when_no_worker_has_taken_a_queued_evaluation(make_user):
    from rest_framework.test import APIClient

    evaluation = _queued_minutes_ago(3, enqueued_at=datetime.now(UTC) - timedelta(minutes=3))
    api = APIClient()
    api.force_authenticate(make_user("executive"))
    assert api.get(f"/api/v1/evaluations/{evaluation.pk}/").json()["status_note"] == NO_WORKER
    assert api.get("/api/v1/evaluations/").json()["results"][0]["status_note"] == NO_WORKER


def test_a_queued_evaluation_waits_from_its_last_hand_over_to_the_broker_not_from_its_upload(client_as, settings):
    # Queued again days after its upload (late labels, a lost message): the wait starts at the new hand-over.
    settings.PORTAL_QUEUED_WARNING_SECONDS = 60
    requeued = _queued_minutes_ago(3 * 24 * 60, enqueued_at=datetime.now(UTC) - timedelta(seconds=5))
    client = client_as("executive")
    assert "status-note" not in client.get(requeued.get_absolute_url()).content.decode()
    Evaluation.objects.filter(pk=requeued.pk).update(enqueued_at=datetime.now(UTC) - timedelta(minutes=3, seconds=5))
    polled = client.get(reverse("monitoring:evaluation-status", kwargs={"pk": requeued.pk}), HTTP_HX_REQUEST="true")
    assert NO_WORKER in polled.content.decode()


def test_it_says_when_a_queued_evaluation_never_reached_the_broker(client_as):
    evaluation = _queued_minutes_ago(3, enqueued_at=None)
    page = client_as("executive").get(evaluation.get_absolute_url()).content.decode()
    assert "could not be handed to the task queue yet: is the broker running?" in page


def test_labels_that_could_not_be_handed_to_the_broker_are_waited_on_from_their_arrival(client_as, settings):
    # Labels queue a days-old evaluation again; with the broker down it was never handed over: the wait starts
    # when the labels came, not at the upload three days before.
    from apps.monitoring.models import LabelBatch

    settings.PORTAL_QUEUED_WARNING_SECONDS = 60
    evaluation = _queued_minutes_ago(3 * 24 * 60, enqueued_at=None)
    batch = LabelBatch.objects.create(evaluation=evaluation, filename="labels.csv", file_format="csv", sha256="0" * 64,
                                      size_bytes=10, raw_path="r", parquet_path="p", row_count=1)
    client = client_as("executive")
    assert "status-note" not in client.get(evaluation.get_absolute_url()).content.decode()
    LabelBatch.objects.filter(pk=batch.pk).update(created_at=datetime.now(UTC) - timedelta(minutes=4, seconds=5))
    page = client.get(evaluation.get_absolute_url()).content.decode()
    assert "Queued 4 minutes ago; it could not be handed to the task queue yet" in page


def test_it_says_nothing_while_a_queued_evaluation_is_young(client_as, settings):
    settings.PORTAL_QUEUED_WARNING_SECONDS = 60
    evaluation = make_evaluation(ModelVersionFactory(), status="queued", metrics=None, enqueued_at=datetime.now(UTC))
    assert "status-note" not in client_as("executive").get(evaluation.get_absolute_url()).content.decode()


def test_it_says_when_the_worker_computing_an_evaluation_stopped_responding(client_as, settings):
    settings.PORTAL_TASK_HEARTBEAT_SECONDS, settings.PORTAL_TASK_MAX_ATTEMPTS = 10, 3
    silent = datetime.now(UTC) - timedelta(minutes=5, seconds=5)
    evaluation = make_evaluation(ModelVersionFactory(), status="running", metrics=None, attempts=1,
                                 started_at=silent, heartbeat_at=silent)
    page = client_as("executive").get(evaluation.get_absolute_url()).content.decode()
    assert ("Its worker stopped responding 5 minutes ago (killed or out of memory?); another worker takes the "
            "computation over automatically, at most 3 attempts in all.") in page


def test_the_evaluation_page_groups_the_thousands_of_its_row_count(client_as):
    evaluation = make_evaluation(ModelVersionFactory(), row_count=1_000_000)
    page = client_as("executive").get(evaluation.get_absolute_url()).content.decode()
    assert "1,000,000 rows" in page and "1000000 rows" not in page


def test_a_failed_evaluation_shows_its_error(client_as):
    evaluation = make_evaluation(ModelVersionFactory(), status="failed", metrics=None,
                                 error="parquet copy is unreadable")
    page = client_as("executive").get(evaluation.get_absolute_url()).content.decode()
    assert "Failed" in page and "parquet copy is unreadable" in page


def test_a_regression_evaluation_shows_errors_by_group(client_as):
    version = ModelVersionFactory(model__task_type="regression")
    evaluation = make_evaluation(version, metrics={
        "overall": {"count": 10, "mae": 1.25, "rmse": 1.5, "r2": 0.62},
        "groups": {"region": {"north": {"count": 6, "mae": 1.0, "rmse": 1.2},
                              "south": {"count": 4, "mae": 1.625, "rmse": 1.9}}}})
    page = client_as("executive").get(evaluation.get_absolute_url()).content.decode()
    assert "R²" in page and "1.6250" in page and 'id="figure-groups-0"' in page
    assert "Fairness" not in page.split("By group")[1].split("Drift")[0]


def test_a_rejected_reference_upload_stores_nothing(client_as, settings):
    upload = io.BytesIO(b"income,sex\n")
    upload.name = "train.csv"
    response = client_as("admin").post(reverse("monitoring:reference-upload"),
                                       {"version": ModelVersionFactory().pk, "file": upload})
    assert response.status_code == 400 and "Problems found in the file" in response.content.decode()
    assert not ReferenceData.objects.exists() and stored_files(settings) == []


# --- Model page -----------------------------------------------------------------------------------------

def test_the_model_page_draws_each_key_metric_with_the_policy_threshold(client_as):
    version = production_version(model__name="Credit scoring")
    for day in range(3):
        make_window(version, day, health="warning" if day == 2 else "healthy")
    make_alert(version)
    make_alert(version, metric="drift.income.psi", status="resolved")
    make_evaluation(version, filename="may.csv")
    page = client_as("executive").get(reverse("monitoring:model", kwargs={"slug": version.model.slug}))
    html = page.content.decode()
    assert page.status_code == 200
    figure = json.loads(html.split('<script id="figure-metric-0" type="application/json">')[1].split("</script>")[0])
    assert figure["layout"]["shapes"][0]["y0"] == 0.85  # the critical policy's accuracy_min
    assert [round(y, 3) for y in figure["data"][0]["y"]] == [0.8, 0.801, 0.802]
    assert "minimum 0.85" in html and "Largest PSI" in html
    assert "may.csv" in html and "drift.income.psi" in html
    assert f'href="{reverse("monitoring:compare", kwargs={"slug": version.model.slug})}"' not in html  # one version


def test_the_model_page_has_an_empty_state_without_windows(client_as):
    version = ModelVersionFactory()
    html = client_as("executive").get(reverse("monitoring:model", kwargs={"slug": version.model.slug})).content
    assert b"No metric windows yet" in html and b"No evaluations of this model yet" in html


@pytest.mark.parametrize("count", [5, 30])
def test_the_model_page_costs_the_same_queries_for_5_or_30_rows(count, client_as, django_assert_max_num_queries):
    version = production_version()
    url = reverse("monitoring:model", kwargs={"slug": version.model.slug})

    def build(start, n):
        for i in range(start, start + n):
            make_window(version, i)
            make_alert(version, metric=f"drift.f{i}.psi")
            make_evaluation(version)

    client = client_as("executive")
    build(0, 5)
    baseline = count_queries(client, url)
    build(5, count - 5)
    with django_assert_max_num_queries(baseline):
        client.get(url)
    assert baseline <= 14


# --- Alerts -----------------------------------------------------------------------------------------------

def test_a_reviewer_acknowledges_then_resolves_an_alert(client_as):
    alert = make_alert(ModelVersionFactory())
    client = client_as("reviewer")
    response = client.post(reverse("monitoring:alert-acknowledge", kwargs={"pk": alert.pk}))
    assert response.status_code == 302 and response["Location"] == alert.get_absolute_url()
    alert.refresh_from_db()
    assert alert.status == "acknowledged" and alert.acknowledged_by is not None
    client.post(reverse("monitoring:alert-resolve", kwargs={"pk": alert.pk}))
    alert.refresh_from_db()
    assert alert.status == "resolved"
    page = client.get(alert.get_absolute_url()).content.decode()
    assert "Resolved" in page and "Resolve</button>" not in page and "Acknowledge</button>" not in page


def test_acknowledging_twice_answers_409_with_the_reason(client_as):
    alert = make_alert(ModelVersionFactory(), status="acknowledged")
    response = client_as("data_scientist").post(reverse("monitoring:alert-acknowledge", kwargs={"pk": alert.pk}))
    assert response.status_code == 409
    assert "The alert is already acknowledged." in response.content.decode()


def test_executives_cannot_acknowledge_or_resolve(client_as):
    alert = make_alert(ModelVersionFactory())
    client = client_as("executive")
    assert client.post(reverse("monitoring:alert-acknowledge", kwargs={"pk": alert.pk})).status_code == 403
    assert client.post(reverse("monitoring:alert-resolve", kwargs={"pk": alert.pk})).status_code == 403
    alert.refresh_from_db()
    assert alert.status == "open"
    assert "Acknowledge</button>" not in client.get(alert.get_absolute_url()).content.decode()


# --- Champion versus challenger -------------------------------------------------------------------------

def comparison_file(n=400, seed=0) -> tuple[bytes, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    champion = np.clip(0.35 + 0.3 * y + rng.normal(0, 0.25, n), 0, 1).round(6)
    challenger = np.clip(0.2 + 0.6 * y + rng.normal(0, 0.15, n), 0, 1).round(6)
    frame = pd.DataFrame({"y_true": y, "champion_pred": (champion >= 0.5).astype(int), "champion_score": champion,
                          "challenger_pred": (challenger >= 0.5).astype(int), "challenger_score": challenger,
                          "sex": rng.choice(["female", "male"], n)})
    return frame_csv(frame), frame


def compare_data(content: bytes, champion, challenger, **fields) -> dict:
    upload = io.BytesIO(content)
    upload.name = "both.csv"
    return {"champion": champion.pk, "challenger": challenger.pk, "file": upload, "target_column": "y_true",
            "champion_pred": "champion_pred", "champion_score": "champion_score",
            "challenger_pred": "challenger_pred", "challenger_score": "challenger_score",
            "sensitive_features": "sex", "positive_label": "1", **fields}


def champion_and_challenger(*, team_member=None):
    members = [team_member] if team_member else []
    champion = production_version(model__name="Credit scoring", model__team__members=members)
    challenger = ModelVersionFactory(model=champion.model, stage=Stage.STAGING, version="9.0.0")
    return champion, challenger


def test_a_comparison_shows_the_verdict_table_and_chart(client_as, settings):
    champion, challenger = champion_and_challenger()
    content, frame = comparison_file()
    response = client_as("data_scientist").post(reverse("monitoring:compare", kwargs={"slug": champion.model.slug}),
                                                compare_data(content, champion, challenger))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Verdict: Challenger better" in page
    assert f"{accuracy_score(frame.y_true, frame.challenger_pred):.4f}" in page
    assert f"{roc_auc_score(frame.y_true, frame.champion_score):.4f}" in page
    assert "Demographic parity difference (sex)" in page and 'id="figure-compare"' in page
    assert "Promote the challenger</button>" in page and stored_files(settings) == []


def test_the_comparison_lists_problems_of_either_side(client_as):
    champion, challenger = champion_and_challenger()
    content, _ = comparison_file()
    response = client_as("data_scientist").post(reverse("monitoring:compare", kwargs={"slug": champion.model.slug}),
                                                compare_data(content, champion, challenger,
                                                             challenger_pred="new_pred"))
    assert response.status_code == 400
    assert "<code>new_pred</code>" in response.content.decode()


def test_a_comparison_of_too_many_rows_is_refused(client_as, monkeypatch):
    monkeypatch.setattr(forms, "COMPARE_MAX_ROWS", 100)
    champion, challenger = champion_and_challenger()
    content, _ = comparison_file(n=150)
    response = client_as("admin").post(reverse("monitoring:compare", kwargs={"slug": champion.model.slug}),
                                       compare_data(content, champion, challenger))
    assert response.status_code == 400
    assert "more than 100 rows" in response.content.decode() and "evaluation" in response.content.decode()


def test_executives_see_the_comparison_page_but_cannot_run_it(client_as):
    champion, challenger = champion_and_challenger()
    client = client_as("executive")
    url = reverse("monitoring:compare", kwargs={"slug": champion.model.slug})
    page = client.get(url).content.decode()
    assert "Data scientists and admins run comparisons" in page and 'type="file"' not in page
    content, _ = comparison_file()
    assert client.post(url, compare_data(content, champion, challenger)).status_code == 403


def test_the_comparison_is_for_binary_models_only(client_as):
    champion = production_version(model__task_type="regression")
    challenger = ModelVersionFactory(model=champion.model)
    content, _ = comparison_file()
    response = client_as("data_scientist").post(reverse("monitoring:compare", kwargs={"slug": champion.model.slug}),
                                                compare_data(content, champion, challenger))
    assert response.status_code == 400 and "supports binary classifiers" in response.content.decode()


def test_promotion_is_refused_by_the_production_gate_with_its_message(client_as):
    client = client_as("data_scientist")
    champion, challenger = champion_and_challenger(team_member=client.user)
    response = client.post(reverse("monitoring:promote", kwargs={"slug": champion.model.slug}),
                                                {"challenger": challenger.pk, "champion": champion.pk})
    challenger.refresh_from_db()
    assert response.status_code == 409 and challenger.stage == Stage.STAGING
    page = response.content.decode()
    assert f"The production gate refused {challenger}" in page  # a banner, each missing step linked
    assert f'href="{reverse("reviews:version", args=[challenger.pk])}">Open or continue a review' in page


def test_promotion_passes_when_the_gate_has_nothing_to_say(client_as, monkeypatch):
    from apps.inventory import gates

    monkeypatch.setattr(gates, "PRODUCTION_CHECKS", [])
    client = client_as("data_scientist")
    champion, challenger = champion_and_challenger(team_member=client.user)
    response = client.post(reverse("monitoring:promote", kwargs={"slug": champion.model.slug}),
                                                {"challenger": challenger.pk, "champion": champion.pk})
    challenger.refresh_from_db()
    champion.refresh_from_db()
    assert response.status_code == 302 and challenger.stage == Stage.PRODUCTION
    assert champion.stage == Stage.STAGING  # the previous champion waits in staging for a rollback


def test_promotion_from_a_stale_comparison_is_refused(client_as, monkeypatch):
    from apps.inventory import gates

    monkeypatch.setattr(gates, "PRODUCTION_CHECKS", [])
    client = client_as("data_scientist")
    champion, challenger = champion_and_challenger(team_member=client.user)
    newer = ModelVersionFactory(model=champion.model, stage=Stage.STAGING, version="9.1.0")
    url = reverse("monitoring:promote", kwargs={"slug": champion.model.slug})
    assert client.post(url, {"challenger": newer.pk, "champion": champion.pk}).status_code == 302
    response = client.post(url, {"challenger": challenger.pk, "champion": champion.pk})  # compared with the old one
    challenger.refresh_from_db()
    assert response.status_code == 409 and challenger.stage == Stage.STAGING
    assert f"The champion changed since you compared: {newer} is the champion now." in response.content.decode()


def test_the_promote_form_carries_the_champion_it_was_compared_with(client_as):
    champion, challenger = champion_and_challenger()
    content, _ = comparison_file()
    response = client_as("data_scientist").post(reverse("monitoring:compare", kwargs={"slug": champion.model.slug}),
                                                compare_data(content, champion, challenger))
    page = response.content.decode()
    assert f'<input type="hidden" name="champion" value="{champion.pk}"' in page
    assert f'<input type="hidden" name="challenger" value="{challenger.pk}"' in page


def test_a_version_of_another_model_cannot_be_promoted_here(client_as):
    champion, _ = champion_and_challenger()
    stranger = ModelVersionFactory(stage=Stage.STAGING)
    response = client_as("admin").post(reverse("monitoring:promote", kwargs={"slug": champion.model.slug}),
                                       {"challenger": stranger.pk})
    stranger.refresh_from_db()
    assert response.status_code == 400 and stranger.stage == Stage.STAGING


# --- The upload form's version chooser ---------------------------------------------------------------------------

def _options(page) -> list[tuple[str, str]]:
    """(group, label) of each version option, in page order."""
    html = page.content.decode()
    select = html[html.index('<select name="version"'):html.index("</select>", html.index('<select name="version"'))]
    found, group = [], ""
    for match in re.finditer(r'<optgroup label="([^"]*)">|<option value="(\d+)"[^>]*>([^<]*)</option>', select):
        if match.group(1) is not None:
            group = match.group(1)
        else:
            found.append((group, match.group(3)))
    return found


def test_the_version_chooser_lists_the_uploader_s_own_models_first(client_as):
    client = client_as("data_scientist")
    ModelVersionFactory(model__name="Anti-fraud", version="1.0.0")
    mine = ModelVersionFactory(model__name="Zeta churn", version="2.0.0", model__team__members=[client.user])
    registered = ModelVersionFactory(model__name="Yield curve", version="0.1.0", created_by=client.user)
    options = _options(client.get(reverse("monitoring:upload")))
    assert options[:2] == [("Your models", f"{registered.model.name} 0.1.0 (Development)"),
                           ("Your models", f"{mine.model.name} 2.0.0 (Development)")]
    assert ("Other models", "Anti-fraud 1.0.0 (Development)") in options


def test_the_reference_upload_lists_own_models_first_too(client_as):
    client = client_as("data_scientist")
    ModelVersionFactory(model__name="Anti-fraud", version="1.0.0")
    ModelVersionFactory(model__name="Zeta churn", version="2.0.0", model__team__members=[client.user])
    options = _options(client.get(reverse("monitoring:reference-upload")))
    assert options[0] == ("Your models", "Zeta churn 2.0.0 (Development)")


def test_the_version_chooser_is_narrowed_by_a_search_without_javascript(client_as):
    client = client_as("data_scientist")
    ModelVersionFactory(model__name="Anti-fraud", version="1.0.0")
    wanted = ModelVersionFactory(model__name="Churn predictor", version="3.1.0")
    page = client.get(reverse("monitoring:upload"), {"q": "churn"})
    assert _options(page) == [("Other models", "Churn predictor 3.1.0 (Development)")]
    assert "1 version matches" in page.content.decode()
    assert page.context["form"].fields["version"].queryset.filter(pk=wanted.pk).exists()


def test_a_version_outside_the_narrowed_list_still_validates(client_as):
    client = client_as("data_scientist")
    other = ModelVersionFactory(model__name="Anti-fraud")
    form = forms.EvaluationUploadForm({"version": other.pk}, user=client.user, q="nothing matches this")
    form.is_valid()
    assert "version" not in form.errors


def test_the_version_chooser_costs_a_constant_number_of_queries(client_as, django_assert_max_num_queries):
    client = client_as("data_scientist")
    for n in range(30):
        ModelVersionFactory(model__team__members=[client.user] if n % 2 else [])
    with django_assert_max_num_queries(10):
        assert client.get(reverse("monitoring:upload")).status_code == 200


@pytest.mark.parametrize(("rules", "psi", "flag", "note"), [
    ({}, 0.25, "highlight", "significant shift (PSI > 0.2)"),  # no policy limit: the usual reading, as a hint
    ({}, 0.15, "", ""),
    ({"psi_max": 0.08}, 0.1, "breach", "the policy allows PSI up to 0.08"),  # stricter than 0.2: the policy's
    ({"psi_max": 0.08}, 0.07, "warning", "the policy allows PSI up to 0.08"),
    ({"psi_max": 0.5}, 0.25, "", ""),  # laxer: no highlight the gate and the alerts would not back
])
def test_drift_rows_are_marked_by_the_policys_psi_limit_when_it_has_one(rules, psi, flag, note):
    metrics = {"drift": {"income": {"kind": "numeric", "psi": psi, "statistic": 0.1, "p_value": 0.01}},
               "prediction_drift": {"score": {"kind": "numeric", "psi": psi, "column": "y_score"}}}
    report = selectors.evaluation_report(metrics, rules=rules, baseline=None)
    for table in (report.drift, report.prediction_drift):
        (row,) = table.rows
        assert (row.flag, row.note) == (flag, note)
        limit = rules.get("psi_max")
        assert (f"policy allows PSI up to {limit:g}" in table.note) if limit else "sets no PSI limit" in table.note


def test_the_feature_count_says_how_many_were_compared_for_drift_and_none_without_a_reference(client_as):
    columns = {"target": "y_true", "prediction": "y_pred", "sensitive_features": [], "features": ["a", "b", "c"]}
    alone = make_evaluation(ModelVersionFactory(), columns=columns)
    client = client_as("executive")
    page = client.get(alone.get_absolute_url()).content.decode()
    assert "3 columns; none compared for drift" in page and "compared with the reference data" not in page
    drift = {"a": {"kind": "numeric", "psi": 0.01}, "b": {"kind": "numeric", "psi": 0.02}}
    compared = make_evaluation(ModelVersionFactory(), columns=columns,
                               metrics={"overall": {"accuracy": 0.9}, "groups": {}, "fairness": {}, "drift": drift})
    page = client.get(compared.get_absolute_url()).content.decode()
    assert "3 columns, 2 compared with the reference data for drift" in page
