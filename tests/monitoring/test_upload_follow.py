"""A worker checks an upload in parts while its parts arrive (``uploads.upload_follow``): the check ends soon after
the last part instead of starting then. What it read counts only if it is the file declared at completion.

The follower runs on a thread of the test here (it waits for parts the test sends), so these tests commit what
they write (``transaction=True``); tasks run inline, so the assembly a completion queues runs in the request, where
it finds the upload claimed by the follower. The last test runs a real worker, which follows on its own."""

import re
import threading
import time
from datetime import timedelta

import pytest
from celery import current_app
from django.db import connection
from django.utils import timezone
from sklearn.metrics import accuracy_score, roc_auc_score

from apps.core.models import AuditEvent
from apps.monitoring import uploads
from apps.monitoring.models import Evaluation, UploadSession
from tests.celery_helpers import wait_for, worker
from tests.monitoring.test_services import evaluation_csv
from tests.monitoring.test_uploads import PART, _all_files, put_part, sha, start, stored_parts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _small_parts(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path
    settings.PORTAL_UPLOAD_PART_BYTES = PART
    settings.PORTAL_MAX_UPLOAD_BYTES = 4 * 1024  # checked in blocks of 4 KB: several batches per file
    monkeypatch.setattr(uploads, "STREAM_BLOCK_BYTES", 4 * 1024)
    settings.PORTAL_UPLOAD_FOLLOW_WAIT_SECONDS = 5


def chunks(data: bytes) -> list[bytes]:
    return [data[offset:offset + PART] for offset in range(0, len(data), PART)]


class Follower:
    """``upload_follow`` on a thread, as a worker would run it; ``waiting`` is set once it has read every part
    and waits for the completion."""

    def __init__(self, session_id, monkeypatch):
        self.answer, self.error, self.waiting = None, None, threading.Event()
        real = uploads._Arrivals.completed

        def completed(arrivals):
            self.waiting.set()
            return real(arrivals)

        monkeypatch.setattr(uploads._Arrivals, "completed", completed)
        self.thread = threading.Thread(target=self._run, args=(session_id,))
        self.thread.start()

    def _run(self, session_id) -> None:
        try:
            self.answer = uploads.upload_follow(session_id=session_id)
        except BaseException as exc:  # noqa: BLE001 - raised in the test by ``result``
            self.error = exc
        finally:
            connection.close()

    def result(self) -> bool:
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the follower did not end"
        if self.error is not None:
            raise self.error
        return self.answer


def assemblies(monkeypatch) -> list[bool]:
    """What each assembly a completion queued answered (False: it found the upload claimed)."""
    answers, real = [], uploads.upload_assemble

    def counted(**kwargs):
        answers.append(real(**kwargs))
        return answers[-1]

    monkeypatch.setattr(uploads, "upload_assemble", counted)
    return answers


def test_a_follower_checks_the_parts_as_they_arrive_and_stores_the_file_once_completed(
        api, version, monkeypatch):
    data, frame = evaluation_csv(600)
    session = start(api, version, data).json()
    parts = chunks(data)
    assert put_part(api, session["id"], 1, parts[0]).status_code == 200
    follower, queued = Follower(session["id"], monkeypatch), assemblies(monkeypatch)
    wait_for(lambda: UploadSession.objects.filter(pk=session["id"], started_at__isnull=False).exists(),
             timeout=30, what="the follower to claim the upload")
    for number, chunk in enumerate(parts[1:], start=2):
        assert put_part(api, session["id"], number, chunk).status_code == 200
    assert follower.waiting.wait(30), "the follower did not read every part"
    assert not Evaluation.objects.exists()  # read and checked, but nothing is stored before the completion

    assert api.post(f"/api/v1/uploads/{session['id']}/complete/").status_code == 202
    assert follower.result() is True

    assert queued == [False]  # the completion's assembly found the upload claimed
    stored = api.get(f"/api/v1/uploads/{session['id']}/").json()
    assert stored["state"] == "complete", stored
    evaluation = Evaluation.objects.get(pk=stored["evaluation"])
    assert evaluation.status == "done" and evaluation.row_count == 600 and evaluation.sha256 == sha(data)
    assert evaluation.metrics["overall"]["accuracy"] == pytest.approx(accuracy_score(frame.y_true, frame.y_pred))
    assert evaluation.metrics["overall"]["roc_auc"] == pytest.approx(roc_auc_score(frame.y_true, frame.y_score))
    assert AuditEvent.objects.filter(action="upload.completed", object_id=session["id"]).count() == 1
    assert stored_parts(session["id"]) == []


def test_a_follower_gives_up_on_a_late_part_and_the_assembly_checks_the_file(api, version, settings):
    settings.PORTAL_UPLOAD_FOLLOW_WAIT_SECONDS = 0.2
    data, _ = evaluation_csv(300)
    session = start(api, version, data).json()
    parts = chunks(data)
    assert put_part(api, session["id"], 1, parts[0]).status_code == 200

    began = time.monotonic()
    assert uploads.upload_follow(session_id=session["id"]) is False  # part 2 never came
    assert time.monotonic() - began < 10

    after = UploadSession.objects.get(pk=session["id"])
    assert after.state == "open" and after.started_at is None  # its claim given back
    assert set(_all_files()) == {f"monitoring/uploads/{session['id']}/1"}  # nothing of what it made is left
    for number, chunk in enumerate(parts[1:], start=2):
        assert put_part(api, session["id"], number, chunk).status_code == 200
    assert api.post(f"/api/v1/uploads/{session['id']}/complete/").status_code == 202
    stored = api.get(f"/api/v1/uploads/{session['id']}/").json()
    assert stored["state"] == "complete" and Evaluation.objects.get().row_count == 300


def test_a_follower_waits_for_parts_a_bounded_time_in_all(api, version, settings):
    """However regular the parts, a follower kept waiting (a slow link) gives its worker slot back."""
    data, _ = evaluation_csv(300)
    session = UploadSession.objects.get(pk=start(api, version, data).json()["id"])
    parts = chunks(data)
    assert put_part(api, session.pk, 1, parts[0]).status_code == 200
    arrivals = uploads._Arrivals(session, 5, claimed_at=None)
    arrivals(1)  # there already: no wait
    assert arrivals.waited == 0
    arrivals.waited = arrivals.WAITS * 5 - 0.001  # the budget all but spent

    def send_part_two() -> None:
        try:
            put_part(api, session.pk, 2, parts[1])
        finally:
            connection.close()

    later = threading.Timer(0.1, send_part_two)
    later.start()
    with pytest.raises(uploads._GaveUp, match="in all for parts"):
        arrivals(2)  # arrives within its own wait, past the budget
    later.join()


def test_a_part_sent_again_with_other_bytes_leaves_the_file_to_the_assembly(api, version, monkeypatch):
    """The follower read the first bytes of part 2; the file declared at completion has another digit there."""
    first, _ = evaluation_csv(600)
    changed = bytearray(first)
    digit = first.index(b".", PART) + 1  # a decimal's first digit in part 2: another keeps the file valid
    changed[digit] = ord("5") if first[digit] != ord("5") else ord("6")
    second, differing = bytes(changed), 2
    session = start(api, version, first, sha256="").json()  # the hash is given at completion
    for number, chunk in enumerate(chunks(first), start=1):
        assert put_part(api, session["id"], number, chunk).status_code == 200
    follower, queued = Follower(session["id"], monkeypatch), assemblies(monkeypatch)
    assert follower.waiting.wait(30)

    assert put_part(api, session["id"], differing, chunks(second)[differing - 1]).status_code == 200
    assert api.post(f"/api/v1/uploads/{session['id']}/complete/", {"sha256": sha(second)},
                    format="json").status_code == 202

    assert follower.result() is True  # what it read is not the file declared: it ran the assembly
    assert queued == [False, True]  # the completion's, which found it claimed; then the follower's
    evaluation = Evaluation.objects.get()
    assert evaluation.sha256 == sha(second) and evaluation.row_count == 600
    assert UploadSession.objects.get(pk=session["id"]).state == "complete"


def test_a_follower_refuses_a_bad_file_once_completed_and_leaves_nothing(api, version, monkeypatch):
    _, frame = evaluation_csv(600)
    frame.loc[450, "y_score"] = 1.7
    data = frame.to_csv(index=False).encode()
    session = start(api, version, data).json()
    parts = chunks(data)
    assert put_part(api, session["id"], 1, parts[0]).status_code == 200
    follower = Follower(session["id"], monkeypatch)
    for number, chunk in enumerate(parts[1:], start=2):
        assert put_part(api, session["id"], number, chunk).status_code == 200
    assert follower.waiting.wait(30)
    assert UploadSession.objects.get(pk=session["id"]).state == "open"  # refused only once completed

    assert api.post(f"/api/v1/uploads/{session['id']}/complete/").status_code == 202
    assert follower.result() is True

    rejected = api.get(f"/api/v1/uploads/{session['id']}/").json()
    assert rejected["state"] == "rejected"
    (problem,) = rejected["problems"]
    assert problem["column"] == "y_score" and problem["rows"] == [452]
    assert not Evaluation.objects.exists() and _all_files() == []


def test_an_aborted_upload_ends_its_follower(api, version, settings):
    settings.PORTAL_UPLOAD_FOLLOW_WAIT_SECONDS = 0.2
    data, _ = evaluation_csv(300)
    session = start(api, version, data).json()
    assert put_part(api, session["id"], 1, chunks(data)[0]).status_code == 200
    assert api.delete(f"/api/v1/uploads/{session['id']}/").status_code == 204

    assert uploads.upload_follow(session_id=session["id"]) is False  # never claimed: it is not open
    assert UploadSession.objects.get(pk=session["id"]).started_at is None and _all_files() == []


def test_the_first_part_of_a_file_asks_a_worker_to_follow_it(api, version, scientist, settings, monkeypatch):
    """Asked to start once the upload has been open ``PORTAL_UPLOAD_FOLLOW_AFTER_SECONDS``: a file sent in a
    moment is checked once complete, as the follower would only take the CPU that receiving it needs."""
    asked = []
    monkeypatch.setattr(uploads, "enqueue_follow", lambda pk, countdown: asked.append((str(pk), countdown)))
    current_app.conf.task_always_eager = False  # as in production (conftest puts it back)
    settings.PORTAL_UPLOAD_FOLLOW_AFTER_SECONDS = 3
    data, _ = evaluation_csv(300)
    parts = chunks(data)

    session = start(api, version, data).json()
    assert put_part(api, session["id"], 2, parts[1]).status_code == 200
    assert asked == []
    assert put_part(api, session["id"], 1, parts[0]).status_code == 200
    ((pk, countdown),) = asked
    assert pk == session["id"] and 2 < countdown <= 3
    UploadSession.objects.filter(pk=pk).update(created_at=timezone.now() - timedelta(seconds=10))
    assert put_part(api, session["id"], 1, parts[0]).status_code == 200  # sent again: asked again; one claims it
    assert asked[1] == (session["id"], 0)

    asked.clear()
    small = start(api, version, data[:PART - 10]).json()  # one part: its completion comes with it
    assert put_part(api, small["id"], 1, data[:PART - 10]).status_code == 200
    settings.PORTAL_UPLOAD_FOLLOW_WAIT_SECONDS = 0  # following off
    other = start(api, version, data).json()
    assert put_part(api, other["id"], 1, parts[0]).status_code == 200
    assert asked == []


@pytest.mark.worker
def test_a_real_worker_follows_an_upload_and_it_is_done_once_completed(api, version, settings, tmp_path):
    """The worker claims the upload from its first part and reads the others as they come."""
    settings.PORTAL_UPLOAD_PART_BYTES, settings.PORTAL_UPLOAD_FOLLOW_AFTER_SECONDS = 2**20, 0
    data, frame = evaluation_csv(120_000)
    assert len(data) > 2 * 2**20
    session = start(api, version, data).json()
    parts = [data[offset:offset + 2**20] for offset in range(0, len(data), 2**20)]
    env = {"PORTAL_MEDIA_ROOT": str(tmp_path), "PORTAL_UPLOAD_PART_MB": "1", "PORTAL_MAX_UPLOAD_MB": "1",
           "PORTAL_UPLOAD_FOLLOW_AFTER_SECONDS": "0"}
    with worker("follow", env=env) as (proc, log):
        assert put_part(api, session["id"], 1, parts[0]).status_code == 200
        wait_for(lambda: UploadSession.objects.filter(pk=session["id"], started_at__isnull=False).exists(),
                 timeout=90, what="the worker to follow the upload", log_path=log)
        for number, chunk in enumerate(parts[1:], start=2):
            assert put_part(api, session["id"], number, chunk).status_code == 200
        assert api.post(f"/api/v1/uploads/{session['id']}/complete/").status_code == 202
        done = wait_for(lambda: Evaluation.objects.filter(status="done").first(), timeout=90,
                        what="the evaluation to be done", log_path=log)
        # The follower stored the file; the assembly the completion queued (it may come after) found it claimed.
        wait_for(lambda: re.search(r"monitoring\.assemble_upload\[[^]]+\] succeeded in [0-9.]+s: False",
                                   log.read_text()), timeout=60, what="the completion's assembly", log_path=log)
        assert proc.poll() is None, "worker died"
    assert re.search(r"monitoring\.follow_upload\[[^]]+\] succeeded in [0-9.]+s: True", log.read_text())
    assert done.row_count == 120_000 and done.sha256 == sha(data)
    assert done.metrics["overall"]["accuracy"] == pytest.approx(accuracy_score(frame.y_true, frame.y_pred))
    assert UploadSession.objects.get(pk=session["id"]).state == "complete" and stored_parts(session["id"]) == []
