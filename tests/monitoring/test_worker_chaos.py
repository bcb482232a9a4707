"""A real worker is killed (SIGKILL) in the middle of a computation; the evaluation still completes, once.

Runs on the embedded broker (filesystem) and, in CI's second pass, on Redis. The same holds for a worker
assembling an upload in parts (the last test). The filesystem broker
deletes a message when a worker fetches it, so late acknowledgement cannot bring it back: a computing
worker renews a heartbeat on its claim instead, and the outbox sweep (``requeue_stale``, run by beat
every ``PORTAL_REQUEUE_SWEEP_SECONDS``) re-sends a computation whose heartbeat fell silent, or which
overran its lease. A computation that kills its worker every time ends failed after
``PORTAL_TASK_MAX_ATTEMPTS`` claims.
"""

import hashlib
import os
import signal
import time

import pytest
from rest_framework.test import APIClient

from apps.core.models import AuditEvent
from apps.monitoring import services
from apps.monitoring.models import Evaluation, UploadSession
from tests.celery_helpers import celery_process, wait_for, worker
from tests.factories import api_key_for
from tests.monitoring.test_services import evaluation_csv
from tests.reviews.helpers import assessed_version

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LEASE = 2


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PORTAL_TASK_LEASE_SECONDS = LEASE
    return {"PORTAL_MEDIA_ROOT": str(tmp_path), "PORTAL_TASK_LEASE_SECONDS": str(LEASE)}


def test_a_killed_worker_does_not_lose_or_duplicate_an_evaluation(media, make_user,
                                                                    django_capture_on_commit_callbacks):
    scientist = make_user("data_scientist")
    version = assessed_version(team__members=[scientist])
    with worker("chaos-victim", env={**media, "PORTAL_CHAOS_TASK_DELAY": "30"}) as (victim, log):
        with django_capture_on_commit_callbacks(execute=True):
            evaluation, _ = services.evaluation_upload(actor=scientist, version=version, data=evaluation_csv()[0],
                                                       filename="eval.csv", sensitive_features=["sex"])
        wait_for(lambda: Evaluation.objects.filter(pk=evaluation.pk, status="running").exists(),
                 timeout=90, what="the worker to claim the evaluation", log_path=log)
        os.killpg(victim.pid, signal.SIGKILL)  # the worker and its pool child, mid-computation
        victim.wait(timeout=10)
    assert Evaluation.objects.get(pk=evaluation.pk).status == "running"  # nothing finished it

    time.sleep(LEASE + 0.5)
    with worker("chaos-rescuer", env=media) as (rescuer, log):
        assert services.requeue_stale() == 1  # what beat's outbox sweep does
        done = wait_for(lambda: Evaluation.objects.filter(pk=evaluation.pk, status="done").first(),
                        timeout=90, what="a new worker to finish the evaluation", log_path=log)
        assert rescuer.poll() is None
    assert done.attempts == 2 and done.metrics["overall"]["accuracy"] is not None
    assert Evaluation.objects.count() == 1


HEARTBEAT = 1  # seconds; silent for six of them, a worker is dead


@pytest.fixture
def heartbeats(settings, tmp_path):
    """The default 900 s lease, a one-second heartbeat and a beat sweeping every second."""
    settings.MEDIA_ROOT = tmp_path
    settings.PORTAL_TASK_LEASE_SECONDS = 900
    settings.PORTAL_TASK_HEARTBEAT_SECONDS = HEARTBEAT
    return {"PORTAL_MEDIA_ROOT": str(tmp_path), "PORTAL_TASK_LEASE_SECONDS": "900",
            "PORTAL_TASK_HEARTBEAT_SECONDS": str(HEARTBEAT), "PORTAL_REQUEUE_SWEEP_SECONDS": "1"}


def upload_one(scientist, capture):
    with capture(execute=True):
        evaluation, _ = services.evaluation_upload(actor=scientist, version=assessed_version(team__members=[scientist]),
                                                   filename="eval.csv", data=evaluation_csv()[0],
                                                   sensitive_features=["sex"])
    return evaluation


def test_beat_recovers_a_killed_workers_computation_long_before_the_lease(heartbeats, make_user,
                                                                          django_capture_on_commit_callbacks):
    evaluation = upload_one(make_user("data_scientist"), django_capture_on_commit_callbacks)
    with worker("heartbeat-victim", env={**heartbeats, "PORTAL_CHAOS_TASK_DELAY": "30"}) as (victim, log):
        wait_for(lambda: Evaluation.objects.filter(pk=evaluation.pk, status="running").exists(),
                 timeout=45, what="the worker to claim the evaluation", log_path=log)
        os.killpg(victim.pid, signal.SIGKILL)  # the worker and its pool child, mid-computation
        victim.wait(timeout=10)
    killed = time.monotonic()
    assert Evaluation.objects.get(pk=evaluation.pk).status == "running"  # its message is gone with the worker

    with worker("heartbeat-rescuer", env=heartbeats, concurrency=2) as (_, log), \
            celery_process("beat", "--loglevel", "INFO", log_name="heartbeat-beat", env=heartbeats):
        done = wait_for(lambda: Evaluation.objects.filter(pk=evaluation.pk, status="done").first(),
                        timeout=50, what="beat's sweep and a new worker to finish the evaluation", log_path=log)
    recovered_in = time.monotonic() - killed
    assert recovered_in < 50, recovered_in  # was: the 900 s lease, then the next two-minute sweep
    assert done.attempts == 2 and done.metrics["overall"]["accuracy"] is not None
    assert AuditEvent.objects.filter(action="evaluation.computed", object_id=str(evaluation.pk)).count() == 1
    print(f"\nkilled worker's evaluation finished {recovered_in:.1f}s after the kill (lease: 900 s)")


def test_a_computation_that_kills_its_worker_every_time_ends_failed_after_the_last_attempt(
        heartbeats, settings, make_user, django_capture_on_commit_callbacks):
    settings.PORTAL_TASK_MAX_ATTEMPTS = 2
    env = {**heartbeats, "PORTAL_TASK_MAX_ATTEMPTS": "2", "PORTAL_CHAOS_TASK_DELAY": "30"}

    def swept(rows):
        services.requeue_stale()  # what beat does, here four times a second
        return rows.first()

    with worker("oom-victim", env=env) as (proc, log):
        evaluation = upload_one(make_user("data_scientist"), django_capture_on_commit_callbacks)
        rows = Evaluation.objects.filter(pk=evaluation.pk)
        for attempt in (1, 2):
            running = wait_for(lambda n=attempt: swept(rows.filter(status="running", attempts=n)), timeout=30,
                               what=f"claim number {attempt}", log_path=log)
            # What the out-of-memory killer does: the pool process computing it dies, the worker lives on.
            os.kill(int(running.worker.rsplit(":", 1)[1]), signal.SIGKILL)
        failed = wait_for(lambda: swept(rows.filter(status="failed")), timeout=30,
                          what="the sweep to give up", log_path=log)
        time.sleep(2 * HEARTBEAT)
        assert proc.poll() is None and rows.get().status == "failed"  # redelivered messages claim nothing
    assert failed.attempts == 2 and failed.error == (
        "The computation was attempted 2 times and its worker died each time (last: killed or out of memory); "
        "the file may be too large for this machine.")
    assert AuditEvent.objects.filter(action="evaluation.failed", object_id=str(evaluation.pk)).count() == 1
    assert services.requeue_stale() == 0


def test_a_worker_killed_while_it_assembles_an_upload_leaves_it_to_the_next(heartbeats, make_user):
    """An upload in parts, completed: the worker assembling it is killed. Its claim falls silent, beat's sweep
    frees it and sends the assembly again (``uploads.requeue_stale_uploads``); the next worker stores the file,
    once. Before, the claim waited for the 900 s lease and the hourly sweep."""
    scientist = make_user("data_scientist")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(scientist)}")
    data = evaluation_csv(2000)[0]
    body = {"model_version": assessed_version(team__members=[scientist]).pk, "filename": "big.csv",
            "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "sensitive_features": ["sex"]}
    session = api.post("/api/v1/uploads/", body, format="json").json()
    assert api.generic("PUT", f"/api/v1/uploads/{session['id']}/parts/1/", data,
                       content_type="application/octet-stream",
                       HTTP_X_PART_SHA256=hashlib.sha256(data).hexdigest()).status_code == 200
    rows = UploadSession.objects.filter(pk=session["id"])
    with worker("upload-victim", env={**heartbeats, "PORTAL_CHAOS_TASK_DELAY": "30"}) as (victim, log):
        assert api.post(f"/api/v1/uploads/{session['id']}/complete/").status_code == 202
        wait_for(lambda: rows.filter(started_at__isnull=False).exists(), timeout=45,
                 what="the worker to claim the upload", log_path=log)
        os.killpg(victim.pid, signal.SIGKILL)  # the worker and its pool child, mid-assembly
        victim.wait(timeout=10)
    killed = time.monotonic()
    assert rows.get().state == "processing"  # its message is gone with the worker

    with worker("upload-rescuer", env=heartbeats) as (_, log), \
            celery_process("beat", "--loglevel", "INFO", log_name="upload-beat", env=heartbeats):
        done = wait_for(lambda: rows.filter(state="complete").first(), timeout=50,
                        what="beat's sweep and a new worker to assemble the upload", log_path=log)
    recovered_in = time.monotonic() - killed
    assert recovered_in < 50, recovered_in
    assert done.attempts == 2 and done.evaluation.row_count == 2000
    assert Evaluation.objects.count() == 1
    assert AuditEvent.objects.filter(action="upload.completed", object_id=str(done.pk)).count() == 1
    print(f"\nkilled worker's upload assembled {recovered_in:.1f}s after the kill (lease: 900 s)")
