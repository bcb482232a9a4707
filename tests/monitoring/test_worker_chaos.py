"""A real worker is killed (SIGKILL) in the middle of a computation; the evaluation still completes, once.

Runs on the embedded broker (filesystem) and, in CI's second pass, on Redis: the
outbox sweep (``requeue_stale``, run by beat every two minutes) re-sends a
computation whose worker died once its lease has expired.
"""

import os
import signal
import time

import pytest

from apps.monitoring import services
from apps.monitoring.models import Evaluation
from tests.celery_helpers import wait_for, worker
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
