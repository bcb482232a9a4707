"""Uploads, computation, windows and alerts, through the services a real upload uses."""

import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from apps.core.errors import ConflictError, PermissionDeniedError
from apps.monitoring import services, storage
from apps.monitoring.models import Alert, Evaluation, MetricWindow
from apps.risk.models import ReassessmentTrigger
from tests.reviews.helpers import assessed_version
from tests.risk.factories import ratings


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


def evaluation_csv(n=400, *, seed=0, shift=0.0, start=None, flip_female=0.0) -> tuple[bytes, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(0.25 + 0.5 * y + rng.normal(0, 0.2, n), 0, 1)
    sex = rng.choice(["female", "male"], n)
    if flip_female:
        score = np.where((sex == "female") & (rng.random(n) < flip_female), 0.05, score)
    frame = pd.DataFrame({"y_true": y, "y_pred": (score >= 0.5).astype(int), "y_score": score.round(6), "sex": sex,
                          "income": rng.normal(50 + shift, 10, n).round(3)})
    if start is not None:
        frame["timestamp"] = [(start + timedelta(hours=int(h))).isoformat() for h in rng.integers(0, 24 * 6, n)]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode(), frame


def upload(actor, version, data, **kwargs):
    return services.evaluation_upload(actor=actor, version=version, data=data, filename="eval.csv",
                                      sensitive_features=["sex"], **kwargs)


def test_an_upload_is_stored_and_computed_and_matches_scikit_learn(scientist, django_capture_on_commit_callbacks):
    version = assessed_version(team__members=[scientist])
    data, frame = evaluation_csv()
    with django_capture_on_commit_callbacks(execute=True):
        evaluation, created = upload(scientist, version, data)
    evaluation.refresh_from_db()
    assert created and evaluation.status == "done" and evaluation.row_count == 400
    overall = evaluation.metrics["overall"]
    assert overall["accuracy"] == pytest.approx(accuracy_score(frame.y_true, frame.y_pred), abs=1e-12)
    assert overall["roc_auc"] == pytest.approx(roc_auc_score(frame.y_true, frame.y_score), abs=1e-12)
    assert set(evaluation.metrics["groups"]["sex"]) == {"female", "male"}
    assert storage.read(evaluation.raw_path) == data and evaluation.sha256 == storage.sha256(data)


def test_a_rejected_upload_stores_nothing(scientist, tmp_path):
    version = assessed_version(team__members=[scientist])
    bad = b"y_true,y_pred,y_score,sex\n1,1,0.9,f\n0,0,1.7,m\n"
    with pytest.raises(services.UploadRejected) as rejected:
        upload(scientist, version, bad)
    assert any(p.column == "y_score" for p in rejected.value.problems)
    assert "nothing was stored" in rejected.value.message
    assert not Evaluation.objects.exists() and not list(tmp_path.rglob("*.csv"))


def test_the_same_idempotency_key_creates_one_evaluation(scientist):
    version = assessed_version(team__members=[scientist])
    data, _ = evaluation_csv()
    first, created = upload(scientist, version, data, idempotency_key="k-1")
    again, created_again = upload(scientist, version, data, idempotency_key="k-1")
    assert (created, created_again) == (True, False) and first.pk == again.pk
    with pytest.raises(ConflictError, match="different upload"):
        upload(scientist, version, evaluation_csv(seed=2)[0], idempotency_key="k-1")
    assert Evaluation.objects.count() == 1


def test_only_data_scientists_and_admins_upload(make_user):
    with pytest.raises(PermissionDeniedError):
        upload(make_user("reviewer"), assessed_version(), evaluation_csv()[0])


def test_computing_twice_leaves_one_result(scientist):
    version = assessed_version(team__members=[scientist])
    evaluation, _ = upload(scientist, version, evaluation_csv()[0])
    assert services.evaluation_compute(evaluation_id=evaluation.pk) is True
    assert services.evaluation_compute(evaluation_id=evaluation.pk) is False  # already done: claimed by nobody
    evaluation.refresh_from_db()
    assert evaluation.status == "done" and evaluation.attempts == 1


def test_a_worker_that_died_mid_run_is_taken_over_after_its_lease(scientist, settings):
    version = assessed_version(team__members=[scientist])
    evaluation, _ = upload(scientist, version, evaluation_csv()[0])
    Evaluation.objects.filter(pk=evaluation.pk).update(status="running",
                                                       started_at=datetime.now(UTC) - timedelta(hours=1))
    settings.PORTAL_TASK_LEASE_SECONDS = 60
    assert services.evaluation_compute(evaluation_id=evaluation.pk) is True
    assert Evaluation.objects.get(pk=evaluation.pk).status == "done"


def test_drift_is_measured_against_the_reference(scientist):
    version = assessed_version(team__members=[scientist])
    reference = pd.DataFrame({"income": np.random.default_rng(5).normal(50, 10, 2000).round(3)})
    services.reference_upload(actor=scientist, version=version, data=reference.to_csv(index=False).encode(),
                              filename="reference.csv")
    shifted, _ = upload(scientist, version, evaluation_csv(seed=1, shift=15)[0])
    same, _ = upload(scientist, version, evaluation_csv(seed=2)[0])
    services.evaluation_compute(evaluation_id=shifted.pk)
    services.evaluation_compute(evaluation_id=same.pk)
    shifted.refresh_from_db()
    same.refresh_from_db()
    assert shifted.metrics["drift"]["income"]["psi"] > 0.2 > same.metrics["drift"]["income"]["psi"]


def test_a_production_breach_raises_one_alert_and_requests_a_reassessment(scientist):
    # High tier: psi_max 0.15.
    version = assessed_version(team__members=[scientist], tier_ratings=ratings(degradation=(4, 4)))
    reference = pd.DataFrame({"income": np.random.default_rng(5).normal(50, 10, 2000).round(3)})
    services.reference_upload(actor=scientist, version=version, data=reference.to_csv(index=False).encode(),
                              filename="reference.csv")
    for seed in (1, 2):
        evaluation, _ = upload(scientist, version, evaluation_csv(seed=seed, shift=15)[0], kind="production")
        services.evaluation_compute(evaluation_id=evaluation.pk)
    alert = Alert.objects.get(metric="drift.income.psi")
    assert alert.severity == "breach" and alert.status == "open"
    assert ReassessmentTrigger.objects.filter(model=version.model, reason__contains="drift.income.psi").count() == 1


def test_prediction_drift_is_measured_against_the_reference_s_outputs_and_alerts_like_feature_drift(scientist):
    # High tier: psi_max 0.15. The reference carries the model's outputs on its data; production shifts the
    # scores (and so the predicted labels) without touching the input feature.
    version = assessed_version(team__members=[scientist], tier_ratings=ratings(degradation=(4, 4)))
    _, reference = evaluation_csv(n=2000, seed=5)
    services.reference_upload(actor=scientist, version=version, filename="reference.csv",
                              data=reference[["income", "y_pred", "y_score"]].to_csv(index=False).encode())
    data, frame = evaluation_csv(seed=1)
    frame["y_score"] = (frame.y_score * 0.5 + 0.5).round(6)
    frame["y_pred"] = (frame.y_score >= 0.5).astype(int)
    evaluation, _ = upload(scientist, version, frame.to_csv(index=False).encode(), kind="production")
    services.evaluation_compute(evaluation_id=evaluation.pk)

    evaluation.refresh_from_db()
    outputs = evaluation.metrics["prediction_drift"]
    assert outputs["score"]["column"] == "y_score" and outputs["prediction"]["kind"] == "categorical"
    assert outputs["score"]["psi"] > 0.2 and outputs["prediction"]["psi"] > 0.2
    assert evaluation.metrics["drift"]["income"]["psi"] < 0.15
    alerts = set(Alert.objects.filter(severity="breach").values_list("metric", flat=True))
    assert {"prediction_drift.score.psi", "prediction_drift.prediction.psi"} <= alerts
    assert "drift.income.psi" not in alerts


def test_validation_results_do_not_raise_alerts(scientist):
    version = assessed_version(team__members=[scientist])
    evaluation, _ = upload(scientist, version, evaluation_csv(flip_female=0.9)[0], kind="validation")
    services.evaluation_compute(evaluation_id=evaluation.pk)
    assert not Alert.objects.exists()


def test_a_window_is_replaced_when_recomputed(scientist):
    version = assessed_version(team__members=[scientist])
    start = datetime(2026, 10, 1, tzinfo=UTC)
    evaluation, _ = upload(scientist, version, evaluation_csv(start=start)[0], kind="production")
    services.evaluation_compute(evaluation_id=evaluation.pk)
    for _ in range(2):
        window = services.window_compute(version=version, cadence="weekly", start=start, end=start + timedelta(days=7))
    assert MetricWindow.objects.count() == 1 and window.row_count == 400
    assert services.window_compute(version=version, cadence="weekly", start=start + timedelta(days=30),
                                   end=start + timedelta(days=37)) is None


def test_alerts_move_forward_only(scientist, make_user):
    version = assessed_version()
    alert = Alert.objects.create(model=version.model, version=version, metric="overall.accuracy", value=0.5,
                                 threshold="< 0.7", severity="breach", message="low")
    reviewer = make_user("reviewer")
    services.alert_acknowledge(actor=reviewer, alert=alert)
    with pytest.raises(ConflictError, match="already acknowledged"):
        services.alert_acknowledge(actor=reviewer, alert=alert)
    services.alert_resolve(actor=reviewer, alert=alert)
    with pytest.raises(PermissionDeniedError):
        services.alert_resolve(actor=make_user("executive"), alert=alert)


def test_the_beat_task_computes_each_production_version_windows_at_its_cadence_once(scientist):
    from apps.inventory.models import Stage
    from apps.monitoring.tasks import compute_due_windows

    version = assessed_version(team__members=[scientist])  # low tier: monthly cadence
    version.stage = Stage.PRODUCTION
    version.save(update_fields=["stage"])
    now = datetime(2026, 11, 25, 6, tzinfo=UTC)
    data, _ = evaluation_csv(start=now - timedelta(days=20))
    evaluation, _ = upload(scientist, version, data, kind="production")
    services.evaluation_compute(evaluation_id=evaluation.pk)

    assert services.windows_due(now=now) == 1
    window = MetricWindow.objects.get()
    assert (window.cadence, window.window_end - window.window_start, window.row_count) == ("monthly",
                                                                                           timedelta(days=30), 400)
    services.windows_due(now=now)
    assert MetricWindow.objects.count() == 1  # re-running replaces the window, never duplicates it
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULE["monitoring-windows"]["task"] == compute_due_windows.name



def test_a_versions_windows_open_each_file_once_and_store_what_each_window_alone_would(scientist, monkeypatch):
    from collections import Counter

    from apps.inventory.models import Stage

    version = assessed_version(team__members=[scientist])  # low tier: monthly cadence
    version.stage = Stage.PRODUCTION
    version.save(update_fields=["stage"])
    now = datetime(2026, 11, 25, 6, tzinfo=UTC)
    evaluations = []
    for seed, days_ago in [(0, 20), (1, 32), (2, 33)]:  # the last two straddle the windows' boundary, Oct 26
        evaluation, _ = upload(scientist, version, evaluation_csv(seed=seed, start=now - timedelta(days=days_ago))[0],
                               kind="production")
        services.evaluation_compute(evaluation_id=evaluation.pk)
        evaluations.append(evaluation)
    reference = services.reference_upload(actor=scientist, version=version, filename="train.csv",
                                          data=evaluation_csv(seed=9)[0])
    opened, original = Counter(), storage.open
    monkeypatch.setattr(storage, "open", lambda name: opened.update([name]) or original(name))

    assert services.windows_due(now=now) == 2

    assert opened == Counter([*(evaluation.parquet_path for evaluation in evaluations), reference.parquet_path])
    in_one_pass = {window.window_start: window for window in MetricWindow.objects.all()}
    assert len(in_one_pass) == 2 and sum(window.row_count for window in in_one_pass.values()) == 1200
    assert all(window.metrics["drift"]["income"] for window in in_one_pass.values())
    for start, window in in_one_pass.items():
        alone = services.window_compute(version=version, cadence="monthly", start=start, end=window.window_end)
        assert (alone.row_count, alone.metrics, alone.health) == (window.row_count, window.metrics, window.health)


def test_a_versions_windows_recompute_its_governance_state_once(scientist):
    from apps.inventory.models import Stage
    from apps.inventory.signals import governance_inputs_changed

    version = assessed_version(team__members=[scientist])
    version.stage = Stage.PRODUCTION
    version.save(update_fields=["stage"])
    now = datetime(2026, 11, 25, 6, tzinfo=UTC)
    for seed, days_ago in [(0, 20), (1, 50), (2, 80)]:
        evaluation, _ = upload(scientist, version, evaluation_csv(seed=seed, start=now - timedelta(days=days_ago))[0],
                               kind="production")
        services.evaluation_compute(evaluation_id=evaluation.pk)
    sent = []

    def listen(**kwargs):
        sent.append(kwargs["model_ids"])

    governance_inputs_changed.connect(listen)
    try:
        assert services.windows_due(now=now) == 3
    finally:
        governance_inputs_changed.disconnect(listen)

    assert sent == [[version.model_id]]  # one recomputation for three windows


# --- Claims, heartbeats and failures (issue 13, items 2, 7 and 12) ------------------------------------------------

def _abandoned_by_a_dead_worker(evaluation, *, attempts: int, silent_for: timedelta = timedelta(minutes=2)):
    """The row as a worker killed mid-computation leaves it: running, its heartbeat fallen silent."""
    last_sign = datetime.now(UTC) - silent_for
    Evaluation.objects.filter(pk=evaluation.pk).update(status="running", attempts=attempts, started_at=last_sign,
                                                       heartbeat_at=last_sign, worker="gone:4242")


def _break_the_threshold_check_of(monkeypatch, broken) -> None:
    """An unexpected error inside one version's threshold check, as a policy stored with ``accuracy_min: "abc"``
    raised before policies were validated (readers now skip such keys, so the fault is injected here)."""
    real = services.thresholds_check

    def check(*, version, **kwargs):
        if version.pk == broken.pk:
            raise TypeError("'<' not supported between instances of 'float' and 'str'")
        return real(version=version, **kwargs)

    monkeypatch.setattr(services, "thresholds_check", check)


def test_it_takes_over_a_silent_worker_long_before_the_lease(scientist, settings):
    settings.PORTAL_TASK_LEASE_SECONDS = 900
    settings.PORTAL_TASK_HEARTBEAT_SECONDS = 10  # silent for 60 s: its worker is gone
    evaluation, _ = upload(scientist, assessed_version(team__members=[scientist]), evaluation_csv()[0])
    _abandoned_by_a_dead_worker(evaluation, attempts=1)
    assert services.evaluation_compute(evaluation_id=evaluation.pk) is True
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.attempts) == ("done", 2)


def test_it_leaves_a_computation_whose_worker_still_beats_alone(scientist, settings):
    settings.PORTAL_TASK_HEARTBEAT_SECONDS = 10
    evaluation, _ = upload(scientist, assessed_version(team__members=[scientist]), evaluation_csv()[0])
    _abandoned_by_a_dead_worker(evaluation, attempts=1, silent_for=timedelta(seconds=5))
    assert services.requeue_stale() == 0
    assert services.evaluation_compute(evaluation_id=evaluation.pk) is False
    assert Evaluation.objects.get(pk=evaluation.pk).status == "running"


def test_it_fails_an_evaluation_whose_workers_died_max_attempts_times_and_never_resends_it(scientist, settings):
    from apps.core.models import AuditEvent

    settings.PORTAL_TASK_MAX_ATTEMPTS = 3
    evaluation, _ = upload(scientist, assessed_version(team__members=[scientist]), evaluation_csv()[0])
    _abandoned_by_a_dead_worker(evaluation, attempts=3)
    assert services.requeue_stale() == 0
    evaluation.refresh_from_db()
    assert evaluation.status == "failed" and evaluation.finished_at is not None
    assert evaluation.error == ("The computation was attempted 3 times and its worker died each time (last: killed "
                                "or out of memory); the file may be too large for this machine.")
    event = AuditEvent.objects.get(action="evaluation.failed", object_id=str(evaluation.pk))
    assert event.changes == {"status": ["running", "failed"]} and event.reason == evaluation.error
    assert services.requeue_stale() == 0 and services.evaluation_compute(evaluation_id=evaluation.pk) is False


def test_it_fails_instead_of_claiming_a_message_redelivered_after_the_last_attempt(scientist, settings):
    settings.PORTAL_TASK_MAX_ATTEMPTS = 2
    evaluation, _ = upload(scientist, assessed_version(team__members=[scientist]), evaluation_csv()[0])
    _abandoned_by_a_dead_worker(evaluation, attempts=2)
    assert services.evaluation_compute(evaluation_id=evaluation.pk) is False
    evaluation.refresh_from_db()
    assert evaluation.status == "failed" and evaluation.attempts == 2
    assert "attempted 2 times and its worker died each time" in evaluation.error


def test_it_says_when_every_attempt_overran_the_lease(scientist, settings):
    settings.PORTAL_TASK_MAX_ATTEMPTS, settings.PORTAL_TASK_LEASE_SECONDS = 3, 60
    evaluation, _ = upload(scientist, assessed_version(team__members=[scientist]), evaluation_csv()[0])
    Evaluation.objects.filter(pk=evaluation.pk).update(status="running", attempts=3, heartbeat_at=datetime.now(UTC),
                                                       started_at=datetime.now(UTC) - timedelta(hours=1))
    assert services.requeue_stale() == 0
    evaluation.refresh_from_db()
    assert evaluation.status == "failed"
    assert evaluation.error.startswith("The computation was attempted 3 times and never finished within the 60 s")


def test_it_fails_with_the_reason_when_the_threshold_check_raises_a_type_error(scientist, monkeypatch):
    from apps.core.models import AuditEvent

    version = assessed_version(team__members=[scientist])
    _break_the_threshold_check_of(monkeypatch, version)
    evaluation, _ = upload(scientist, version, evaluation_csv()[0])
    assert services.evaluation_compute(evaluation_id=evaluation.pk) is False
    evaluation.refresh_from_db()
    assert evaluation.status == "failed" and evaluation.finished_at is not None and evaluation.metrics is None
    assert evaluation.error.startswith("The computation failed: '<' not supported between instances of")
    assert "Traceback" not in evaluation.error
    assert AuditEvent.objects.filter(action="evaluation.failed", object_id=str(evaluation.pk)).exists()
    assert not AuditEvent.objects.filter(action="evaluation.computed").exists()


def test_a_transient_database_error_hands_the_claim_back_for_the_retry(scientist, monkeypatch):
    from django.db import OperationalError

    evaluation, _ = upload(scientist, assessed_version(team__members=[scientist]), evaluation_csv()[0])
    real = services._compute_and_store

    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "_compute_and_store", database_gone)
    with pytest.raises(OperationalError):  # the task's autoretry_for takes it from here
        services.evaluation_compute(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.attempts, evaluation.started_at) == ("queued", 0, None)
    monkeypatch.setattr(services, "_compute_and_store", real)
    assert services.evaluation_compute(evaluation_id=evaluation.pk) is True
    assert Evaluation.objects.get(pk=evaluation.pk).attempts == 1


def test_one_versions_failing_windows_do_not_stop_the_others(scientist, monkeypatch):
    from apps.inventory.models import Stage

    now = datetime(2026, 11, 25, 6, tzinfo=UTC)
    healthy = assessed_version(team__members=[scientist])
    broken = assessed_version(team__members=[scientist], tier_ratings=ratings(degradation=(4, 4)))
    for version in (broken, healthy):
        version.stage = Stage.PRODUCTION
        version.save(update_fields=["stage"])
        evaluation, _ = upload(scientist, version, evaluation_csv(start=now - timedelta(days=20))[0],
                               kind="production")
        services.evaluation_compute(evaluation_id=evaluation.pk)
    _break_the_threshold_check_of(monkeypatch, broken)
    assert services.windows_due(now=now) == 1
    assert list(MetricWindow.objects.values_list("version", flat=True)) == [healthy.pk]


def test_a_policy_stored_with_an_unknown_cadence_is_watched_daily(scientist):
    from apps.inventory.models import Stage
    from apps.risk.models import GovernancePolicy
    from apps.risk.selectors import obligations_for

    now = datetime(2026, 11, 25, 6, tzinfo=UTC)
    version = assessed_version(team__members=[scientist])
    version.stage = Stage.PRODUCTION
    version.save(update_fields=["stage"])
    evaluation, _ = upload(scientist, version, evaluation_csv(start=now - timedelta(days=8))[0], kind="production")
    services.evaluation_compute(evaluation_id=evaluation.pk)
    # Written past the policy's validation, as by SQL: the beat task must not crash on it.
    GovernancePolicy.objects.filter(pk=obligations_for(version.model).policy.pk).update(monitoring_cadence="hourly")

    assert services.windows_due(now=now) > 0
    assert set(MetricWindow.objects.values_list("cadence", flat=True)) == {"daily"}


def test_beat_sweeps_more_often_than_a_dead_worker_is_noticed():
    from django.conf import settings

    sweep = settings.CELERY_BEAT_SCHEDULE["monitoring-requeue-stale"]
    silence = timedelta(seconds=settings.PORTAL_TASK_HEARTBEAT_SECONDS * settings.PORTAL_TASK_HEARTBEATS_MISSED)
    assert sweep["task"] == "monitoring.requeue_stale"
    assert sweep["schedule"] <= silence <= timedelta(seconds=settings.PORTAL_TASK_LEASE_SECONDS) / 10
