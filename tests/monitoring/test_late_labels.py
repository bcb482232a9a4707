"""Late labels (issue 17, item 5): predictions uploaded without outcomes, labels joined later by prediction id."""

import io
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from sklearn.metrics import accuracy_score, roc_auc_score

from apps.core.errors import ConflictError, PermissionDeniedError
from apps.core.models import AuditEvent
from apps.monitoring import batches, ingest, labels, selectors, services, storage
from apps.monitoring.models import Alert, Evaluation, LabelBatch, MetricWindow
from apps.risk.models import GovernancePolicy
from apps.risk.selectors import obligations_for
from tests.reviews.helpers import assessed_version

START = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


@pytest.fixture
def version(scientist):
    return assessed_version(team__members=[scientist])


def predictions(n=300, *, seed=0, shift=0.0) -> pd.DataFrame:
    """Production predictions with their (hidden) outcomes: ids p0..p{n-1}, a week of timestamps."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(0.25 + 0.5 * y + rng.normal(0, 0.2, n), 0, 1).round(6)
    return pd.DataFrame({
        "prediction_id": [f"p{i}" for i in range(n)], "y_true": y, "y_pred": (score >= 0.5).astype(int),
        "y_score": score, "sex": rng.choice(["female", "male"], n),
        "income": rng.normal(50 + shift, 10, n).round(3),
        "timestamp": [(START + timedelta(hours=int(h))).isoformat() for h in rng.integers(0, 24 * 6, n)]})


def csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def upload_pending(actor, version, frame, capture, sensitive=("sex",)) -> Evaluation:
    with capture(execute=True):
        evaluation, _ = services.evaluation_upload(
            actor=actor, version=version, data=csv_bytes(frame.drop(columns="y_true")), filename="preds.csv",
            kind="production", sensitive_features=list(sensitive))
    evaluation.refresh_from_db()
    return evaluation


def add_labels(actor, evaluation, labels: pd.DataFrame, capture, filename="labels.csv") -> LabelBatch:
    with capture(execute=True):
        batch = services.evaluation_labels_add(actor=actor, evaluation=evaluation, data=csv_bytes(labels),
                                               filename=filename)
    evaluation.refresh_from_db()
    return batch


def test_an_upload_without_target_computes_drift_and_leaves_performance_pending(
        scientist, version, django_capture_on_commit_callbacks):
    frame = predictions()
    services.reference_upload(actor=scientist, version=version, data=csv_bytes(predictions(seed=1)[["income"]]),
                              filename="train.csv")
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)

    assert evaluation.status == "done" and evaluation.columns["prediction_id"] == "prediction_id"
    assert "prediction_id" not in evaluation.columns["features"]
    assert evaluation.metrics["labels"] == {"rows": 300, "labelled_rows": 0, "coverage": 0.0}
    assert "overall" not in evaluation.metrics and "fairness" not in evaluation.metrics
    assert set(evaluation.metrics["drift"]) == {"income"}
    assert set(evaluation.metrics["prediction_drift"]) == set()  # the reference has no outputs


def test_a_validation_upload_still_needs_the_target(scientist, version):
    data = csv_bytes(predictions().drop(columns="y_true"))
    with pytest.raises(services.UploadRejected) as rejected:
        services.evaluation_upload(actor=scientist, version=version, data=data, filename="v.csv", kind="validation")
    assert [p.column for p in rejected.value.problems] == ["y_true"]
    assert not Evaluation.objects.exists()


def test_a_production_upload_without_target_needs_prediction_ids(scientist, version):
    data = csv_bytes(predictions().drop(columns=["y_true", "prediction_id"]))
    with pytest.raises(services.UploadRejected, match="needs a 'prediction_id' column"):
        services.evaluation_upload(actor=scientist, version=version, data=data, filename="p.csv", kind="production")


def test_bad_prediction_ids_are_refused_with_their_rows(scientist, version):
    frame = predictions(20).drop(columns="y_true")
    frame.loc[3, "prediction_id"] = "p0"  # row 5 of the file repeats row 2's id
    frame.loc[6, "prediction_id"] = ""
    frame.loc[8, "prediction_id"] = "x" * 201
    with pytest.raises(services.UploadRejected) as rejected:
        services.evaluation_upload(actor=scientist, version=version, data=csv_bytes(frame), filename="p.csv",
                                   kind="production")
    problems = {p.message.split(";")[0]: p.rows for p in rejected.value.problems}
    assert problems == {"empty value": (8,), "a prediction id is longer than 200 characters": (10,),
                        "prediction id 'p0' appears more than once": (2, 5)}
    assert not Evaluation.objects.exists()


def test_labels_make_metrics_equal_scikit_learn_on_the_joined_rows(
        scientist, version, django_capture_on_commit_callbacks):
    frame = predictions()
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    first = frame.sample(120, random_state=1)
    add_labels(scientist, evaluation, first[["prediction_id", "y_true"]], django_capture_on_commit_callbacks)

    assert evaluation.status == "done" and evaluation.attempts == 1
    assert evaluation.metrics["labels"] == {"rows": 300, "labelled_rows": 120, "coverage": 0.4}
    overall = evaluation.metrics["overall"]
    assert overall["accuracy"] == pytest.approx(accuracy_score(first.y_true, first.y_pred), abs=1e-12)
    assert overall["roc_auc"] == pytest.approx(roc_auc_score(first.y_true, first.y_score), abs=1e-12)
    female = first[first.sex == "female"]
    assert evaluation.metrics["groups"]["sex"]["female"]["count"] == len(female)

    rest = frame.drop(first.index).iloc[:60]
    add_labels(scientist, evaluation, rest[["prediction_id", "y_true"]], django_capture_on_commit_callbacks,
               filename="more.csv")
    both = pd.concat([first, rest])
    assert evaluation.metrics["labels"] == {"rows": 300, "labelled_rows": 180, "coverage": 0.6}
    assert evaluation.metrics["overall"]["accuracy"] == pytest.approx(accuracy_score(both.y_true, both.y_pred),
                                                                      abs=1e-12)
    event = AuditEvent.objects.filter(action="evaluation.labels_added").latest("pk")
    assert event.changes["labels"] == [None, 60] and LabelBatch.objects.filter(evaluation=evaluation).count() == 2


def test_unknown_repeated_and_invalid_labels_are_refused_with_rows_and_nothing_is_stored(
        scientist, version, django_capture_on_commit_callbacks, tmp_path):
    frame = predictions(50)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    stored = sorted(tmp_path.rglob("*"))
    labels = frame[["prediction_id", "y_true"]].head(6).astype(str)
    labels.loc[1, "prediction_id"] = "nope"   # file row 3
    labels.loc[2, "y_true"] = "maybe"         # file row 4: binary labels are 0/1 here
    labels.loc[4, "prediction_id"] = "p0"     # file row 6 repeats row 2
    with pytest.raises(services.UploadRejected) as rejected:
        services.evaluation_labels_add(actor=scientist, evaluation=evaluation, data=csv_bytes(labels),
                                       filename="labels.csv")
    messages = " | ".join(str(p) for p in rejected.value.problems)
    assert "row 4: value 'maybe' is not one of the known labels ['0', '1']" in messages
    assert "rows 2, 6: prediction id 'p0' appears more than once" in messages

    labels = frame[["prediction_id", "y_true"]].head(4).astype(str)
    labels.loc[1, "prediction_id"] = "nope"
    with pytest.raises(services.UploadRejected, match=r"row 3: prediction id 'nope' is not one of the 50"):
        services.evaluation_labels_add(actor=scientist, evaluation=evaluation, data=csv_bytes(labels),
                                       filename="labels.csv")
    assert not LabelBatch.objects.exists() and sorted(tmp_path.rglob("*")) == stored
    assert not AuditEvent.objects.filter(action="evaluation.labels_added").exists()


def test_a_label_for_an_id_already_labelled_is_refused(scientist, version, django_capture_on_commit_callbacks):
    frame = predictions(50)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    add_labels(scientist, evaluation, frame[["prediction_id", "y_true"]].head(10), django_capture_on_commit_callbacks)
    again = frame[["prediction_id", "y_true"]].iloc[8:12]
    with pytest.raises(services.UploadRejected, match=r"rows 2, 3: prediction id 'p8' was labelled by an earlier"):
        services.evaluation_labels_add(actor=scientist, evaluation=evaluation, data=csv_bytes(again),
                                       filename="again.csv")
    assert LabelBatch.objects.count() == 1


def test_labels_are_checked_against_the_evaluations_ids_a_batch_at_a_time(
        scientist, version, django_capture_on_commit_callbacks):
    """The web process checks a label file against an evaluation of any size holding the label file and one batch
    of the evaluation's ids, not the evaluation's copy (read whole before: 1.8 GB at 10M rows)."""
    import tracemalloc

    rows = 3 * batches.BATCH_ROWS
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"prediction_id": [f"p{i}" for i in range(rows)], "y_pred": rng.integers(0, 2, rows),
                          "y_score": rng.random(rows).round(4), "sex": rng.choice(["female", "male"], rows),
                          **{f"x{k}": rng.normal(0, 1, rows).round(4) for k in range(8)}})
    evaluation, _ = services.evaluation_upload(actor=scientist, version=version, data=csv_bytes(frame),
                                               filename="preds.csv", kind="production", sensitive_features=["sex"])
    copy_bytes = len(storage.read(evaluation.parquet_path))
    known = [f"p{i}" for i in (0, rows // 2, rows - 1)]
    data = csv_bytes(pd.DataFrame({"prediction_id": [*known, "p-unknown"], "y_true": [1, 0, 1, 1]}))

    tracemalloc.start()
    try:
        with pytest.raises(services.UploadRejected, match=rf"row 5: prediction id 'p-unknown' is not one of the "
                                                          rf"{rows:,} predictions"):
            services.evaluation_labels_add(actor=scientist, evaluation=evaluation, data=data, filename="l.csv")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < copy_bytes / 2, (peak, copy_bytes)
    with django_capture_on_commit_callbacks(execute=False):
        batch = services.evaluation_labels_add(actor=scientist, evaluation=evaluation,
                                               data=csv_bytes(pd.DataFrame({"prediction_id": known,
                                                                            "y_true": [1, 0, 1]})),
                                               filename="l.csv")
    assert batch.row_count == 3  # every id found, in the first, middle and last batch of the copy


def test_labels_are_only_for_evaluations_uploaded_without_them(scientist, version):
    data = csv_bytes(predictions(50))
    evaluation, _ = services.evaluation_upload(actor=scientist, version=version, data=data, filename="p.csv",
                                               kind="production")
    assert "prediction_id" not in evaluation.columns  # it had its target
    with pytest.raises(ConflictError, match="uploaded with its outcomes"):
        services.evaluation_labels_add(actor=scientist, evaluation=evaluation, data=b"prediction_id,y_true\np1,1\n",
                                       filename="l.csv")


def test_only_the_models_team_adds_labels(scientist, version, make_user, django_capture_on_commit_callbacks):
    evaluation = upload_pending(scientist, version, predictions(50), django_capture_on_commit_callbacks)
    for outsider in (make_user("data_scientist"), make_user("reviewer")):
        with pytest.raises(PermissionDeniedError):
            services.evaluation_labels_add(actor=outsider, evaluation=evaluation,
                                           data=b"prediction_id,y_true\np1,1\n", filename="l.csv")
    assert not LabelBatch.objects.exists()


def test_a_running_computation_is_fenced_out_by_new_labels(scientist, version, django_capture_on_commit_callbacks):
    evaluation = upload_pending(scientist, version, predictions(50), django_capture_on_commit_callbacks)
    Evaluation.objects.filter(pk=evaluation.pk).update(status="running", started_at=datetime.now(UTC))
    claim = Evaluation.objects.get(pk=evaluation.pk).started_at
    stale = Evaluation.objects.filter(pk=evaluation.pk, status="running", started_at=claim)
    services.evaluation_labels_add(actor=scientist, evaluation=evaluation, data=b"prediction_id,y_true\np1,1\n",
                                   filename="l.csv")  # its recomputation is queued (on commit, not run here)
    assert not stale.exists()  # the old claim no longer holds: its result can never be stored
    assert services.evaluation_compute(evaluation_id=evaluation.pk)
    assert not services.evaluation_compute(evaluation_id=evaluation.pk)  # idempotent: computed once
    evaluation.refresh_from_db()
    assert evaluation.metrics["labels"]["labelled_rows"] == 1


def test_windows_recompute_when_labels_arrive_and_report_coverage(
        scientist, version, django_capture_on_commit_callbacks):
    frame = predictions()
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    window = services.window_compute(version=version, cadence="weekly", start=START, end=START + timedelta(days=7))
    assert window.metrics["labels"]["labelled_rows"] == 0 and "overall" not in window.metrics

    labelled = frame.head(150)
    add_labels(scientist, evaluation, labelled[["prediction_id", "y_true"]], django_capture_on_commit_callbacks)

    window.refresh_from_db()
    assert window.metrics["labels"] == {"rows": 300, "labelled_rows": 150, "coverage": 0.5}
    assert window.metrics["overall"]["accuracy"] == pytest.approx(
        accuracy_score(labelled.y_true, labelled.y_pred), abs=1e-12)
    assert MetricWindow.objects.count() == 1


def test_performance_thresholds_wait_for_labels_while_drift_alerts_fire(
        scientist, version, django_capture_on_commit_callbacks):
    policy = obligations_for(version.model).policy
    GovernancePolicy.objects.filter(pk=policy.pk).update(metric_thresholds={"accuracy_min": 0.999, "psi_max": 0.1})
    services.reference_upload(actor=scientist, version=version, data=csv_bytes(predictions(seed=1)[["income"]]),
                              filename="train.csv")
    frame = predictions(shift=15.0)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)

    assert set(Alert.objects.values_list("metric", flat=True)) == {"drift.income.psi"}

    add_labels(scientist, evaluation, frame[["prediction_id", "y_true"]].head(100),
               django_capture_on_commit_callbacks)
    assert set(Alert.objects.values_list("metric", flat=True)) == {"drift.income.psi", "overall.accuracy"}


def test_labels_are_stored_with_their_evaluation_rows_sorted_by_row(
        scientist, version, django_capture_on_commit_callbacks):
    frame = predictions(200)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    arrived = frame[["prediction_id", "y_true"]].sample(70, random_state=3)
    batch = add_labels(scientist, evaluation, arrived, django_capture_on_commit_callbacks)

    stored = pd.read_parquet(io.BytesIO(storage.read(batch.parquet_path)))
    rows = stored[labels.ROW_COLUMN].to_numpy()
    assert (np.diff(rows) > 0).all() and len(rows) == 70
    copy = pd.read_parquet(io.BytesIO(storage.read(evaluation.parquet_path)), columns=["prediction_id"])
    assert copy["prediction_id"].iloc[rows].tolist() == stored["prediction_id"].tolist()
    assert dict(zip(stored["prediction_id"], stored["y_true"], strict=True)) == dict(
        zip(arrived["prediction_id"], arrived["y_true"], strict=True))


def test_label_files_stored_before_rows_were_still_join_by_id(
        scientist, version, django_capture_on_commit_callbacks):
    frame = predictions()
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    first, second = frame.iloc[:100], frame.iloc[150:220]
    older = add_labels(scientist, evaluation, first[["prediction_id", "y_true"]], django_capture_on_commit_callbacks)
    # As a label file was stored before its rows were: the file's own order, no row column.
    data = ingest.to_parquet_bytes(pd.read_parquet(io.BytesIO(storage.read(older.parquet_path)))
                                   .drop(columns=labels.ROW_COLUMN).sample(frac=1, random_state=0))
    (settings.MEDIA_ROOT / older.parquet_path).write_bytes(data)
    assert labels.ROW_COLUMN not in pd.read_parquet(io.BytesIO(storage.read(older.parquet_path))).columns
    with pytest.raises(services.UploadRejected, match=r"row 3: prediction id 'p1' was labelled by an earlier"):
        services.evaluation_labels_add(actor=scientist, evaluation=evaluation, filename="again.csv",
                                       data=csv_bytes(frame[["prediction_id", "y_true"]].iloc[[200, 1]]))
    add_labels(scientist, evaluation, second[["prediction_id", "y_true"]], django_capture_on_commit_callbacks,
               filename="more.csv")

    both = pd.concat([first, second])
    assert evaluation.status == "done"
    assert evaluation.metrics["labels"] == {"rows": 300, "labelled_rows": 170, "coverage": pytest.approx(170 / 300)}
    assert evaluation.metrics["overall"]["accuracy"] == pytest.approx(accuracy_score(both.y_true, both.y_pred),
                                                                      abs=1e-12)
    assert evaluation.metrics["overall"]["roc_auc"] == pytest.approx(roc_auc_score(both.y_true, both.y_score),
                                                                     abs=1e-12)


def test_labels_stored_for_rows_the_evaluation_lacks_fail_the_computation_with_why(
        scientist, version, django_capture_on_commit_callbacks):
    frame = predictions(50)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    add_labels(scientist, evaluation, frame[["prediction_id", "y_true"]].tail(5), django_capture_on_commit_callbacks)
    Evaluation.objects.filter(pk=evaluation.pk).update(row_count=40, status="queued")  # as if its rows were others

    assert not services.evaluation_compute(evaluation_id=evaluation.pk)  # not computed
    evaluation.refresh_from_db()
    assert evaluation.status == "failed"
    assert f"labels of evaluation #{evaluation.pk} were stored for row 50, but it has 40 rows" in evaluation.error


def test_a_window_opens_one_evaluations_labels_at_a_time(
        scientist, version, django_capture_on_commit_callbacks, monkeypatch):
    """A window over many late-labelled evaluations holds the labels of the one it reads, not of all of them."""
    frames = [predictions(seed=seed) for seed in (0, 1, 2)]
    evaluations = [upload_pending(scientist, version, frame, django_capture_on_commit_callbacks) for frame in frames]
    for evaluation, frame in zip(evaluations, frames, strict=True):
        add_labels(scientist, evaluation, frame[["prediction_id", "y_true"]].head(100),
                   django_capture_on_commit_callbacks)

    opened, open_now, most = [], [0], [0]
    real = services._late_labels

    @contextmanager
    def counting(evaluation):
        with real(evaluation) as late:
            opened.append(evaluation.pk)
            open_now[0] += 1
            most[0] = max(most[0], open_now[0])
            try:
                yield late
            finally:
                open_now[0] -= 1

    monkeypatch.setattr(services, "_late_labels", counting)
    window = services.window_compute(version=version, cadence="weekly", start=START, end=START + timedelta(days=7))

    assert sorted(opened) == sorted(e.pk for e in evaluations) and most == [1] and open_now == [0]
    labelled = pd.concat([frame.head(100) for frame in frames])
    assert window.metrics["labels"] == {"rows": 900, "labelled_rows": 300, "coverage": pytest.approx(1 / 3)}
    assert window.metrics["overall"]["accuracy"] == pytest.approx(accuracy_score(labelled.y_true, labelled.y_pred),
                                                                  abs=1e-12)


# --- API, page and client -------------------------------------------------------------------------------------

def api_client(person):
    from rest_framework.test import APIClient

    from tests.factories import api_key_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(person)}")
    return client


def label_file(text: bytes, name="labels.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, text, "text/csv")


def test_the_api_uploads_predictions_then_labels(scientist, version, django_capture_on_commit_callbacks):
    frame = predictions(40)
    api = api_client(scientist)
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/api/v1/evaluations/", {
            "model_version": version.pk, "kind": "production", "prediction_id_column": "prediction_id",
            "file": label_file(csv_bytes(frame.drop(columns="y_true")), "preds.csv")}, format="multipart")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert api.get(f"/api/v1/evaluations/{pk}/").json()["metrics"]["labels"]["labelled_rows"] == 0

    refused = api.post(f"/api/v1/evaluations/{pk}/labels/",
                       {"file": label_file(b"prediction_id,y_true\np1,1\nzz,0\n")}, format="multipart")
    assert refused.status_code == 400
    assert refused.json()["problems"][0]["rows"] == [3] and refused.json()["problems"][0]["column"] == "prediction_id"

    with django_capture_on_commit_callbacks(execute=True):
        added = api.post(f"/api/v1/evaluations/{pk}/labels/", {"file": label_file(csv_bytes(
            frame[["prediction_id", "y_true"]].head(10)))}, format="multipart")
    assert added.status_code == 201, added.content
    assert added.json()["row_count"] == 10 and added.json()["evaluation_status"] == "queued"
    answer = api.get(f"/api/v1/evaluations/{pk}/").json()
    assert answer["status"] == "done" and answer["metrics"]["labels"]["coverage"] == 0.25


def test_the_api_answers_409_for_an_evaluation_uploaded_with_its_outcomes(scientist, version):
    evaluation, _ = services.evaluation_upload(actor=scientist, version=version, data=csv_bytes(predictions(20)),
                                               filename="p.csv", kind="production")
    answer = api_client(scientist).post(f"/api/v1/evaluations/{evaluation.pk}/labels/",
                                        {"file": label_file(b"prediction_id,y_true\np1,1\n")}, format="multipart")
    assert answer.status_code == 409 and "uploaded with its outcomes" in answer.json()["detail"]


def test_the_page_shows_coverage_and_offers_the_form_to_the_team(
        scientist, version, make_user, client, django_capture_on_commit_callbacks):
    frame = predictions(1000)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    client.force_login(scientist)
    page = client.get(evaluation.get_absolute_url()).content.decode()
    assert "No labels yet" in page and 'action="/monitoring/evaluations/' in page
    assert "Pending labels: performance and fairness are computed" in page

    with django_capture_on_commit_callbacks(execute=True):
        posted = client.post(f"/monitoring/evaluations/{evaluation.pk}/labels/",
                             {"file": label_file(csv_bytes(frame[["prediction_id", "y_true"]].head(640)))})
    assert posted.status_code == 302
    page = client.get(evaluation.get_absolute_url()).content.decode()
    assert "Labels: 640 of 1,000 rows (64%)" in page and "Add labels" in page

    refused = client.post(f"/monitoring/evaluations/{evaluation.pk}/labels/",
                          {"file": label_file(b"prediction_id,y_true\np0,1\n")})
    assert refused.status_code == 400 and "was labelled by an earlier label file" in refused.content.decode()

    client.force_login(make_user("executive"))
    page = client.get(evaluation.get_absolute_url()).content.decode()
    assert "Labels: 640 of 1,000 rows (64%)" in page and "Add labels" not in page


def test_the_page_lists_the_latest_label_files_and_counts_them_all(
        scientist, version, client, django_capture_on_commit_callbacks):
    frame = predictions(100)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    files = selectors.LABEL_FILES_SHOWN + 2
    with django_capture_on_commit_callbacks(execute=False):  # hourly files; the recomputations are not the point
        for hour in range(files):
            services.evaluation_labels_add(actor=scientist, evaluation=evaluation, filename=f"hour-{hour:02d}.csv",
                                           data=csv_bytes(frame[["prediction_id", "y_true"]].iloc[[2 * hour,
                                                                                                   2 * hour + 1]]))
    client.force_login(scientist)
    page = client.get(evaluation.get_absolute_url()).content.decode()

    assert f"{files} label files, {2 * files} labels in all; the latest {selectors.LABEL_FILES_SHOWN}:" in page
    assert "hour-00.csv" not in page and "hour-01.csv" not in page
    shown = [page.index(f"hour-{hour:02d}.csv") for hour in range(2, files)]
    assert shown == sorted(shown)  # oldest first, as they arrived


@pytest.mark.parametrize(("reference", "checked"), [(False, "No threshold of {} is checked yet"),
                                                     (True, "No drift threshold of {} is crossed")])
def test_the_page_of_predictions_without_labels_claims_no_threshold_met_and_its_title_says_so(
        scientist, version, client, django_capture_on_commit_callbacks, reference, checked):
    policy = obligations_for(version.model).policy
    GovernancePolicy.objects.filter(pk=policy.pk).update(metric_thresholds={"accuracy_min": 0.5, "psi_max": 0.9})
    if reference:
        services.reference_upload(actor=scientist, version=version, data=csv_bytes(predictions(seed=1)[["income"]]),
                                  filename="train.csv")
    frame = predictions(200)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    client.force_login(scientist)
    page = client.get(evaluation.get_absolute_url()).content.decode()
    assert "Every threshold" not in page
    assert checked.format(policy) + ": its performance and fairness thresholds wait for the labels" in page
    assert f"<title>Evaluation #{evaluation.pk} (labels pending) · MLOps Portal</title>" in page

    add_labels(scientist, evaluation, frame[["prediction_id", "y_true"]], django_capture_on_commit_callbacks)
    page = client.get(evaluation.get_absolute_url()).content.decode()
    assert f"Every threshold of {policy} is met." in page
    assert f"<title>Evaluation #{evaluation.pk} · MLOps Portal</title>" in page


@pytest.mark.django_db(transaction=True)
def test_the_client_command_adds_labels_and_waits(live_server, scientist, version, tmp_path, capsys):
    from mlops_portal_client.cli import main

    from tests.factories import api_key_for

    frame = predictions(60)
    evaluation, _ = services.evaluation_upload(actor=scientist, version=version, data=csv_bytes(
        frame.drop(columns="y_true")), filename="preds.csv", kind="production")
    services.evaluation_compute(evaluation_id=evaluation.pk)
    outcomes = tmp_path / "outcomes.csv"
    frame[["prediction_id", "y_true"]].head(30).to_csv(outcomes, index=False)
    status = main(["--url", live_server.url, "--token", api_key_for(scientist), "add-labels", str(evaluation.pk),
                   "--wait", "--timeout", "60", "--field", "metrics.labels", str(outcomes)])
    assert status == 0
    assert '"labelled_rows": 30' in capsys.readouterr().out


def test_regression_labels_give_scikit_learns_errors(scientist, django_capture_on_commit_callbacks):
    from sklearn.metrics import mean_absolute_error, r2_score

    version = assessed_version(team__members=[scientist], task_type="regression")
    rng = np.random.default_rng(3)
    truth = rng.normal(100, 20, 200).round(3)
    frame = pd.DataFrame({"prediction_id": range(1000, 1200), "y_true": truth,
                          "y_pred": (truth + rng.normal(0, 5, 200)).round(3)})
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks, sensitive=())
    assert evaluation.metrics["labels"]["labelled_rows"] == 0
    refused = pd.DataFrame({"prediction_id": [1000, 1001], "y_true": ["12.5", "lots"]})
    with pytest.raises(services.UploadRejected, match=r"row 3: value 'lots' is not a number"):
        services.evaluation_labels_add(actor=scientist, evaluation=evaluation, data=csv_bytes(refused),
                                       filename="l.csv")
    some = frame.iloc[50:170]
    add_labels(scientist, evaluation, some[["prediction_id", "y_true"]], django_capture_on_commit_callbacks)
    overall = evaluation.metrics["overall"]
    assert overall["count"] == 120
    assert overall["mae"] == pytest.approx(mean_absolute_error(some.y_true, some.y_pred), abs=1e-9)
    assert overall["r2"] == pytest.approx(r2_score(some.y_true, some.y_pred), abs=1e-9)


def test_multiclass_labels_must_be_classes_of_the_model(scientist, django_capture_on_commit_callbacks):
    version = assessed_version(team__members=[scientist], task_type="multiclass")
    rng = np.random.default_rng(4)
    classes = np.array(["a", "b", "c"])
    truth = rng.choice(classes, 150)
    proba = rng.dirichlet(np.ones(3), 150).round(6)
    proba[:, 2] = (1 - proba[:, 0] - proba[:, 1]).round(6)
    frame = pd.DataFrame({"prediction_id": [f"m{i}" for i in range(150)], "y_true": truth,
                          "y_pred": np.where(rng.random(150) < 0.7, truth, rng.choice(classes, 150)),
                          **{f"y_score_{c}": proba[:, i] for i, c in enumerate(classes)}})
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks, sensitive=())
    bad = pd.DataFrame({"prediction_id": ["m1", "m2"], "y_true": ["a", "z"]})
    with pytest.raises(services.UploadRejected, match=r"row 3: value 'z' is not one of the known labels"):
        services.evaluation_labels_add(actor=scientist, evaluation=evaluation, data=csv_bytes(bad), filename="l.csv")
    some = frame.head(90)
    add_labels(scientist, evaluation, some[["prediction_id", "y_true"]], django_capture_on_commit_callbacks)
    assert evaluation.metrics["overall"]["accuracy"] == pytest.approx(accuracy_score(some.y_true, some.y_pred),
                                                                      abs=1e-12)
    assert evaluation.metrics["labels"] == {"rows": 150, "labelled_rows": 90, "coverage": 0.6}


def test_the_upload_page_accepts_production_predictions_without_outcomes(scientist, version, client):
    client.force_login(scientist)
    frame = predictions(40).drop(columns="y_true").rename(columns={"prediction_id": "request_id"})
    answer = client.post("/monitoring/upload/", {
        "version": version.pk, "kind": "production", "file": label_file(csv_bytes(frame), "preds.csv"),
        "sensitive_features": "sex", "positive_label": "1", "target_column": "y_true", "prediction_column": "y_pred",
        "score_column": "y_score", "timestamp_column": "timestamp", "prediction_id_column": "request_id"})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    evaluation = Evaluation.objects.get()
    assert evaluation.columns["prediction_id"] == "request_id" and "request_id" not in evaluation.columns["features"]
