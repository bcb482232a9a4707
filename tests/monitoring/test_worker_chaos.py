"""A real worker is killed (SIGKILL) in the middle of a computation; the evaluation still completes, once.

Runs on the embedded broker (filesystem) and, in CI's second pass, on Redis. The filesystem broker
deletes a message when a worker fetches it, so late acknowledgement cannot bring it back: a computing
worker renews a heartbeat on its claim instead, and the outbox sweep (``requeue_stale``, run by beat
every ``PORTAL_REQUEUE_SWEEP_SECONDS``) re-sends a computation whose heartbeat fell silent, or which
overran its lease. A computation that kills its worker every time ends failed after
``PORTAL_TASK_MAX_ATTEMPTS`` claims.
"""

import os
import signal
import time

import pytest

from apps.core.models import AuditEvent
from apps.monitoring import services
from apps.monitoring.models import Evaluation
from tests.celery_helpers import celery_process, wait_for, worker
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
