"""Chaos on a real worker and a real Redis: every computation completes exactly once.

Each test starts its own throw-away ``redis-server`` (no persistence) on a free port, so it can kill
and restart it without touching the shared one; it runs on both CI passes (SQLite and PostgreSQL).

How "exactly once" is checked: an evaluation's result (its metrics, its ``evaluation.computed`` audit
event and its alerts) is written in one transaction by the holder of the latest claim only. So a lost
task shows as an evaluation not ``done``; a duplicated one as a second ``evaluation.computed`` event
or a second ``alert.raised_*`` event for one alert.
"""

import os
import signal
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rest_framework.test import APIClient

from apps.core.models import AuditEvent
from apps.core.services import audit_verify
from apps.monitoring import services, storage
from apps.monitoring.models import Alert, Evaluation
from tests.celery_helpers import free_port, private_redis, publishing_to, start_redis, wait_for, worker
from tests.factories import api_key_for
from tests.monitoring.test_services import evaluation_csv
from tests.reviews.helpers import assessed_version
from tests.risk.factories import ratings

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TASKS = 100
LEASE = 4
KILL_AT = (15, 40, 65)  # done computations at which the worker is SIGKILLed (and replaced)
REDIS_RESTART_AT = 50
MAX_ATTEMPTS = 10


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PORTAL_TASK_LEASE_SECONDS = LEASE
    # Every computation must finish here, however often the kills and the short lease interrupt it; giving
    # up after PORTAL_TASK_MAX_ATTEMPTS is tested in test_worker_chaos.py.
    settings.PORTAL_TASK_MAX_ATTEMPTS = MAX_ATTEMPTS
    return {"PORTAL_MEDIA_ROOT": str(tmp_path), "PORTAL_TASK_LEASE_SECONDS": str(LEASE),
            "PORTAL_TASK_MAX_ATTEMPTS": str(MAX_ATTEMPTS)}


class Beat(threading.Thread):
    """What beat does every two minutes (the outbox sweep), here every second, in the background."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop, self.sent, self.errors = threading.Event(), 0, []

    def run(self):
        from django.db import connections

        try:
            while not self.stop.wait(1.0):
                self.sent += services.requeue_stale(older_than=timedelta(0))
        except Exception as exc:  # noqa: BLE001 - the test reports it
            self.errors.append(exc)
        finally:
            connections.close_all()


def done_count() -> int:
    return Evaluation.objects.filter(status="done").count()


def drifting_versions(scientist, count: int = 4):
    """High-tier versions with a reference their production data drifts from: each raises alerts."""
    reference = pd.DataFrame({"income": np.random.default_rng(5).normal(50, 10, 500).round(3)})
    versions = [assessed_version(tier_ratings=ratings(degradation=(4, 4)), team__members=[scientist])
                for _ in range(count)]
    for version in versions:
        services.reference_upload(actor=scientist, version=version, data=reference.to_csv(index=False).encode(),
                                  filename="reference.csv")
    return versions


def restart_redis_once(redis: dict, port: int, log) -> None:
    if redis.get("restarted"):
        return
    wait_for(lambda: done_count() >= REDIS_RESTART_AT, timeout=90, what="progress", log_path=log)
    redis["proc"].kill()  # every queued message is lost with it
    redis["proc"].wait()
    time.sleep(2)  # the sweep runs (and fails fast) while Redis is down
    redis["proc"], redis["restarted"] = start_redis(port), True


def queue_evaluations(scientist, versions) -> None:
    """One real upload per version, then copies of its row (same stored files) up to TASKS, each sent to Redis."""
    firsts = [services.evaluation_upload(actor=scientist, version=version, filename="eval.csv", kind="production",
                                         data=evaluation_csv(n=60, seed=n, shift=15)[0])[0]
              for n, version in enumerate(versions)]
    fields = ["version", "kind", "filename", "file_format", "sha256", "size_bytes", "raw_path", "parquet_path",
              "row_count", "columns", "positive_label", "period_start", "period_end", "created_by"]
    copies = Evaluation.objects.bulk_create(
        Evaluation(**{name: getattr(firsts[n % len(firsts)], name) for name in fields})
        for n in range(TASKS - len(firsts)))
    for copy in copies:
        assert services.enqueue(copy.pk)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="about two minutes with four worker starts: CI runs it "
                    "once, in its PostgreSQL + Redis pass (the test starts its own Redis either way)")
def test_a_hundred_computations_survive_killed_workers_and_a_redis_restart(media, make_user):
    scientist = make_user("data_scientist")
    versions = drifting_versions(scientist)
    env = {**media, "PORTAL_CHAOS_TASK_DELAY": "1"}  # each computation sleeps a second after its claim
    with private_redis() as (port, redis), publishing_to(f"redis://127.0.0.1:{port}/0"):
        env["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{port}/0"
        queue_evaluations(scientist, versions)
        assert Evaluation.objects.filter(status="queued", enqueued_at__isnull=False).count() == TASKS
        beat, kills = Beat(), []
        beat.start()
        try:
            with ExitStack() as workers:
                proc, log = workers.enter_context(worker("chaos-run-0", env=env, concurrency=3))
                for generation, kill_at in enumerate(KILL_AT, start=1):
                    # The replacement boots while the victim works, as a second consumer of the queue.
                    spare = workers.enter_context(worker(f"chaos-run-{generation}", env=env, concurrency=3))
                    if kill_at > REDIS_RESTART_AT:
                        restart_redis_once(redis, port, log)
                    wait_for(lambda n=kill_at: done_count() >= n, timeout=90, what=f"{kill_at} done", log_path=log)
                    kills.append(Evaluation.objects.filter(status="running").count())
                    os.killpg(proc.pid, signal.SIGKILL)  # the worker and its pool children, mid-computation
                    proc.wait(timeout=10)
                    proc, log = spare
                wait_for(lambda: done_count() == TASKS, timeout=150, what="every computation", log_path=log)
        finally:
            beat.stop.set()
            beat.join(timeout=30)
    assert beat.errors == []
    assert len(kills) == len(KILL_AT) and sum(kills) >= 1, kills  # the kills hit computations in progress

    evaluations = list(Evaluation.objects.order_by("pk"))
    assert [e.status for e in evaluations] == ["done"] * TASKS
    assert all(e.metrics["overall"]["accuracy"] is not None for e in evaluations)
    taken_over = sum(e.attempts > 1 for e in evaluations)
    assert taken_over >= 1 and all(1 <= e.attempts <= 1 + len(KILL_AT) for e in evaluations)
    computed = AuditEvent.objects.filter(action="evaluation.computed")
    assert Counter(computed.values_list("object_id", flat=True)) == Counter(str(e.pk) for e in evaluations)
    attempt_of = {str(e.pk): f"attempt {e.attempts}" for e in evaluations}
    assert all(event.reason == attempt_of[event.object_id] for event in computed)  # written by the last claim
    raised = Counter(AuditEvent.objects.filter(action__startswith="alert.raised").values_list("object_id", flat=True))
    alerts = Alert.objects.all()
    assert alerts.filter(metric="drift.income.psi").count() == len(versions)
    assert sorted(raised) == sorted(str(pk) for pk in alerts.values_list("pk", flat=True))
    assert set(raised.values()) == {1}
    assert audit_verify(triggered_by="test").ok
    print(f"\nchaos run: {TASKS} computations, workers killed with {kills} running, {taken_over} taken over, "
          f"{beat.sent} re-sent by the sweep")


def test_with_redis_down_an_upload_returns_fast_and_runs_when_redis_returns(media, make_user):
    scientist = make_user("data_scientist")
    version = assessed_version(team__members=[scientist])
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(scientist)}")
    port = free_port()  # nothing listens there
    with publishing_to(f"redis://127.0.0.1:{port}/0"):
        data, _ = evaluation_csv()
        body = {"model_version": version.pk, "file": SimpleUploadedFile("eval.csv", data),
                "sensitive_features": "sex"}
        started = time.monotonic()
        response = client.post("/api/v1/evaluations/", body, format="multipart")
        elapsed = time.monotonic() - started
        assert response.status_code == 201, response.content
        assert elapsed < 5, f"the upload took {elapsed:.2f}s with Redis down"
        evaluation = Evaluation.objects.get(pk=response.json()["id"])
        assert (evaluation.status, evaluation.enqueued_at) == ("queued", None)  # kept, not sent
        assert storage.read(evaluation.raw_path) == data  # the upload is kept
        assert services.requeue_stale(older_than=timedelta(0)) == 0  # still down: nothing sent, nothing lost
        with private_redis(port), worker("redis-returns", env={**media,
                                                               "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0"}) \
                as (_, log):
            assert services.requeue_stale(older_than=timedelta(0)) == 1  # beat's outbox sweep
            done = wait_for(lambda: Evaluation.objects.filter(pk=evaluation.pk, status="done").first(),
                            timeout=90, what="the computation after Redis returned", log_path=log)
    assert done.attempts == 1 and done.metrics["overall"]["accuracy"] is not None
    print(f"\nupload with Redis down answered in {elapsed:.2f}s")
