"""A worker's claim on an upload (``uploads.upload_assemble``, ``upload_follow``): renewed by a heartbeat while it
works; freed by the requeue sweep (``uploads.requeue_stale_uploads``, with ``services.requeue_stale`` every
``PORTAL_REQUEUE_SWEEP_SECONDS``) once silent or over the task lease, and the assembly sent again, at most
``PORTAL_TASK_MAX_ATTEMPTS`` times; a worker whose claim was freed records nothing. A real worker killed in the
middle of an assembly is in ``test_worker_chaos.py``."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.monitoring import tasks, uploads
from apps.monitoring.models import Evaluation, UploadSession
from tests.monitoring.test_services import evaluation_csv
from tests.monitoring.test_uploads import _small_parts, send_all, start, stored_parts  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def completed(api, version, monkeypatch) -> UploadSession:
    """An upload whose parts are all stored and whose completion was accepted; its assembly not run yet."""
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()
    send_all(api, session["id"], data)
    with monkeypatch.context() as patched:
        patched.setattr(uploads, "enqueue", lambda session_id: True)  # not sent: the test claims it
        assert api.post(f"/api/v1/uploads/{session['id']}/complete/").status_code == 202
    return UploadSession.objects.get(pk=session["id"])


def claim(session: UploadSession, *, started: float, beat: float | None, attempts: int = 1) -> None:
    """As a worker's claim ``started`` seconds ago, last renewed ``beat`` seconds ago (None: never)."""
    now = timezone.now()
    UploadSession.objects.filter(pk=session.pk).update(
        started_at=now - timedelta(seconds=started), attempts=attempts,
        heartbeat_at=None if beat is None else now - timedelta(seconds=beat))


def silent_for(settings) -> float:
    return settings.PORTAL_TASK_HEARTBEAT_SECONDS * settings.PORTAL_TASK_HEARTBEATS_MISSED


@pytest.mark.parametrize("beat", [None, "silent"])
def test_a_dead_workers_assembly_is_freed_and_done_by_the_next(completed, settings, beat):
    silent = silent_for(settings)
    claim(completed, started=silent + 5, beat=None if beat is None else silent + 1)

    assert tasks.requeue_stale() == 1  # beat's sweep; tasks run inline here: the assembly is done by now

    done = UploadSession.objects.get(pk=completed.pk)
    assert done.state == "complete" and done.attempts == 2 and done.evaluation.row_count == 200
    assert stored_parts(completed.pk) == [] and Evaluation.objects.count() == 1


def test_a_beating_claim_is_left_alone_until_the_lease(completed, settings):
    silent = silent_for(settings)
    claim(completed, started=silent * 3, beat=1)

    assert uploads.requeue_stale_uploads() == 0
    kept = UploadSession.objects.get(pk=completed.pk)
    assert kept.state == "processing" and kept.started_at is not None

    claim(completed, started=settings.PORTAL_TASK_LEASE_SECONDS + 1, beat=1)  # alive, but over the lease
    assert uploads.requeue_stale_uploads() == 1
    assert UploadSession.objects.get(pk=completed.pk).state == "complete"


def test_after_the_last_attempt_the_upload_is_rejected_saying_why(completed, settings):
    settings.PORTAL_TASK_MAX_ATTEMPTS = 2
    claim(completed, started=silent_for(settings) + 5, beat=silent_for(settings) + 5, attempts=2)

    assert uploads.requeue_stale_uploads() == 0

    rejected = UploadSession.objects.get(pk=completed.pk)
    assert rejected.state == "rejected" and rejected.finished_at is not None
    assert "checked 2 times and the worker checking it died each time" in rejected.error
    assert rejected.problems[0]["message"].startswith("the file was checked 2 times")
    assert stored_parts(completed.pk) == [] and not Evaluation.objects.exists()
    assert AuditEvent.objects.filter(action="upload.rejected", object_id=str(completed.pk)).count() == 1
    assert uploads.requeue_stale_uploads() == 0  # nothing left to free or send


def test_a_dead_followers_claim_on_an_open_upload_is_freed_and_its_completion_assembles_it(
        api, version, settings, django_capture_on_commit_callbacks):
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()
    send_all(api, session["id"], data)
    opened = UploadSession.objects.get(pk=session["id"])
    claim(opened, started=silent_for(settings) + 5, beat=silent_for(settings) + 1, attempts=0)

    assert uploads.requeue_stale_uploads() == 0  # freed, not sent: it is not complete
    assert UploadSession.objects.get(pk=opened.pk).started_at is None
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/uploads/{session['id']}/complete/").status_code == 202

    assert UploadSession.objects.get(pk=opened.pk).state == "complete"


def test_a_worker_whose_claim_was_freed_records_nothing_and_leaves_the_parts(completed, monkeypatch):
    real = uploads._assemble

    def freed_on_the_way(session, folder):
        # The sweep freed the claim and another worker took it while this one checked the file.
        UploadSession.objects.filter(pk=session.pk).update(started_at=timezone.now() + timedelta(seconds=1))
        real(session, folder)

    monkeypatch.setattr(uploads, "_assemble", freed_on_the_way)

    assert uploads.upload_assemble(session_id=completed.pk) is False

    left = UploadSession.objects.get(pk=completed.pk)
    assert left.state == "processing" and left.evaluation is None and left.finished_at is None
    assert not Evaluation.objects.exists()  # recorded and rolled back with the upload's end
    assert len(stored_parts(completed.pk)) == completed.part_count  # the other worker reads them
    assert not AuditEvent.objects.filter(action__in=["upload.completed", "evaluation.uploaded"]).exists()


def test_a_refusal_by_a_worker_whose_claim_was_freed_is_not_recorded(completed, monkeypatch):
    def refused_after_the_claim_passed(session, folder):
        UploadSession.objects.filter(pk=session.pk).update(started_at=timezone.now() + timedelta(seconds=1))
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(uploads, "_assemble", refused_after_the_claim_passed)

    assert uploads.upload_assemble(session_id=completed.pk) is False
    assert UploadSession.objects.get(pk=completed.pk).state == "processing"


@pytest.mark.django_db(transaction=True)  # the heartbeat writes from a thread, on a connection of its own
def test_an_assembly_renews_its_claim_while_it_works(completed, settings, monkeypatch):
    settings.PORTAL_TASK_HEARTBEAT_SECONDS = 1
    real, seen = uploads._assemble, {}

    def slow(session, folder):
        time.sleep(2.5)
        seen.update(UploadSession.objects.filter(pk=session.pk).values("started_at", "heartbeat_at").get())
        seen["threads"] = [thread.name for thread in threading.enumerate()]
        real(session, folder)

    monkeypatch.setattr(uploads, "_assemble", slow)

    assert uploads.upload_assemble(session_id=completed.pk) is True

    assert seen["heartbeat_at"] - seen["started_at"] >= timedelta(seconds=1)
    assert "claim-heartbeat" in seen["threads"]
    assert UploadSession.objects.get(pk=completed.pk).state == "complete"


def test_the_api_says_when_the_worker_checking_an_upload_died(api, completed, settings):
    silent = silent_for(settings)
    claim(completed, started=silent + 30, beat=silent + 20, attempts=1)

    answer = api.get(f"/api/v1/uploads/{completed.pk}/").json()
    assert answer["state"] == "processing" and answer["attempts"] == 1
    assert answer["status_note"].startswith("The worker checking it stopped responding 1 minute ago")
    assert f"at most {settings.PORTAL_TASK_MAX_ATTEMPTS} attempts" in answer["status_note"]

    claim(completed, started=silent + 30, beat=1)  # beating: all is well
    assert api.get(f"/api/v1/uploads/{completed.pk}/").json()["status_note"] == ""

    claim(completed, started=silent + 30, beat=silent + 20)  # a follower died while parts still arrive:
    UploadSession.objects.filter(pk=completed.pk).update(state="open")  # nothing for the sender to know
    assert api.get(f"/api/v1/uploads/{completed.pk}/").json()["status_note"] == ""
