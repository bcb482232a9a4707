"""Large files in parts (POST /api/v1/uploads/, PUT parts, complete): the API, the worker's assembly, the sweep.

Parts are 1 KB here (``PORTAL_UPLOAD_PART_BYTES``) so a 20 KB file has twenty of them; the streamed check
(files over ``PORTAL_MAX_UPLOAD_MB``) is reached by lowering that limit to 4 KB and Arrow's block to 4 KB.
"""

import errno
import fcntl
import hashlib
import io
import os
import shutil
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db import OperationalError
from django.utils import timezone
from rest_framework.test import APIClient
from sklearn.metrics import accuracy_score, roc_auc_score

from apps.core import storage as files
from apps.core import uncached
from apps.core.errors import ConflictError
from apps.core.models import AuditEvent
from apps.monitoring import batches, services, streaming, uploads
from apps.monitoring.models import Evaluation, ReferenceData, UploadSession
from tests.factories import api_key_for
from tests.monitoring.test_services import evaluation_csv
from tests.reviews.helpers import assessed_version

pytestmark = pytest.mark.django_db
PART = 1024


@pytest.fixture(autouse=True)
def _small_parts(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PORTAL_UPLOAD_PART_BYTES = PART


@pytest.fixture
def streamed(settings, monkeypatch):
    """Files over 4 KB are checked as they stream, in blocks of 4 KB (several batches per file)."""
    settings.PORTAL_MAX_UPLOAD_BYTES = 4 * 1024
    monkeypatch.setattr(uploads, "STREAM_BLOCK_BYTES", 4 * 1024)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def start(api, version, data: bytes, **options):
    body = {"model_version": version.pk, "filename": "big.csv", "size": len(data), "sha256": sha(data),
            "sensitive_features": ["sex"], **options}
    return api.post("/api/v1/uploads/", body, format="json")


def put_part(api, session_id, number: int, chunk: bytes, digest: str | None = None):
    return api.generic("PUT", f"/api/v1/uploads/{session_id}/parts/{number}/", chunk,
                       content_type="application/octet-stream", HTTP_X_PART_SHA256=digest or sha(chunk))


def send_all(api, session_id, data: bytes, skip=()):
    for number, offset in enumerate(range(0, len(data), PART), start=1):
        if number not in skip:
            assert put_part(api, session_id, number, data[offset:offset + PART]).status_code == 200


def upload_in_parts(api, version, data: bytes, django_capture_on_commit_callbacks, **options) -> dict:
    session = start(api, version, data, **options).json()
    send_all(api, session["id"], data)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/uploads/{session['id']}/complete/").status_code == 202
    return api.get(f"/api/v1/uploads/{session['id']}/").json()


def stored_parts(session_id) -> list[str]:
    try:
        return files.backend().listdir(f"monitoring/uploads/{session_id}")[1]
    except FileNotFoundError:
        return []


def test_it_answers_the_parts_to_send(api, version):
    data, _ = evaluation_csv(200)
    response = start(api, version, data)
    assert response.status_code == 201
    body = response.json()
    assert body["parts"] == -(-len(data) // PART) and body["part_size"] == PART and body["state"] == "open"
    assert body["urls"]["complete"] == f"/api/v1/uploads/{body['id']}/complete/"
    assert AuditEvent.objects.filter(action="upload.started", object_id=body["id"]).count() == 1


def test_parts_make_the_same_evaluation_as_a_direct_upload(api, version, django_capture_on_commit_callbacks):
    data, frame = evaluation_csv(400)
    with django_capture_on_commit_callbacks(execute=True):
        direct = api.post("/api/v1/evaluations/", {"model_version": version.pk, "sensitive_features": "sex",
                                                   "file": _file(data)}, format="multipart").json()

    session = upload_in_parts(api, version, data, django_capture_on_commit_callbacks)

    assert session["state"] == "complete" and session["evaluation"] != direct["id"]
    chunked = Evaluation.objects.get(pk=session["evaluation"])
    assert chunked.status == "done" and chunked.sha256 == sha(data) and chunked.row_count == 400
    assert chunked.metrics == Evaluation.objects.get(pk=direct["id"]).metrics
    assert stored_parts(session["id"]) == []


def test_the_whole_files_hash_may_come_with_completion_instead_of_the_start(
        api, version, streamed, django_capture_on_commit_callbacks):
    data, frame = evaluation_csv(600)
    session = start(api, version, data, sha256="").json()
    assert session["sha256"] == ""
    send_all(api, session["id"], data)
    complete = f"/api/v1/uploads/{session['id']}/complete/"

    missing = api.post(complete, {}, format="json")
    malformed = api.post(complete, {"sha256": "not-hex"}, format="json")
    assert missing.status_code == 400 and "sha256 is required" in missing.json()["detail"]
    assert malformed.status_code == 400 and UploadSession.objects.get().state == "open"
    with django_capture_on_commit_callbacks(execute=True):
        accepted = api.post(complete, {"sha256": sha(data)}, format="json")

    assert accepted.status_code == 202 and accepted.json()["sha256"] == sha(data)
    evaluation = Evaluation.objects.get(pk=api.get(f"/api/v1/uploads/{session['id']}/").json()["evaluation"])
    assert evaluation.sha256 == sha(data) and evaluation.row_count == 600 and evaluation.status == "done"


@pytest.mark.parametrize("hashed_at", ["start", "completion"])
def test_completion_is_audited_with_the_hash_it_gave(api, version, scientist, hashed_at):
    data, _ = evaluation_csv(200)
    session = start(api, version, data, sha256="" if hashed_at == "completion" else sha(data)).json()
    send_all(api, session["id"], data)
    complete = f"/api/v1/uploads/{session['id']}/complete/"

    assert api.post(complete, {"sha256": sha(data)}, format="json").status_code == 202
    assert api.post(complete, {"sha256": sha(data)}, format="json").status_code == 202  # answered as it stands

    event = AuditEvent.objects.get(action="upload.submitted", object_id=session["id"])
    expected = {"state": ["open", "processing"]}
    if hashed_at == "completion":  # upload.started recorded it empty: this event says who declared it
        expected["sha256"] = ["", sha(data)]
    assert event.actor == scientist and event.changes == expected


def test_a_completion_whose_audit_event_fails_leaves_the_upload_open(api, version, scientist, monkeypatch):
    data, _ = evaluation_csv(200)
    session = start(api, version, data, sha256="").json()
    send_all(api, session["id"], data)

    def failing_audit(**_):
        raise OperationalError("database is locked")

    monkeypatch.setattr(uploads, "audit_record", failing_audit)
    with pytest.raises(OperationalError):
        uploads.upload_complete(actor=scientist, session=UploadSession.objects.get(), sha256=sha(data))

    left = UploadSession.objects.get()
    assert left.state == "open" and left.sha256 == ""


def test_a_hash_at_completion_other_than_the_one_declared_at_the_start_is_refused(api, version):
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()
    send_all(api, session["id"], data)

    response = api.post(f"/api/v1/uploads/{session['id']}/complete/", {"sha256": sha(data + b"x")}, format="json")

    assert response.status_code == 400 and "declared when the upload started" in response.json()["detail"]
    assert UploadSession.objects.get().state == "open" and UploadSession.objects.get().sha256 == sha(data)


def test_a_file_whose_hash_given_at_completion_differs_is_rejected_and_leaves_nothing(
        api, version, django_capture_on_commit_callbacks):
    data, _ = evaluation_csv(200)
    before = set(_all_files())
    session = start(api, version, data, sha256="").json()
    send_all(api, session["id"], data)

    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/api/v1/uploads/{session['id']}/complete/", {"sha256": sha(b"another file")}, format="json")

    session = api.get(f"/api/v1/uploads/{session['id']}/").json()
    assert session["state"] == "rejected" and "a part differs from the file" in session["problems"][0]["message"]
    assert not Evaluation.objects.exists() and set(_all_files()) == before


def test_a_streamed_file_gets_the_metrics_of_scikit_learn(api, version, streamed, django_capture_on_commit_callbacks):
    data, frame = evaluation_csv(600)
    session = upload_in_parts(api, version, data, django_capture_on_commit_callbacks)

    assert session["state"] == "complete", session
    evaluation = Evaluation.objects.get(pk=session["evaluation"])
    assert evaluation.status == "done", evaluation.error
    assert evaluation.row_count == 600 and evaluation.columns["sensitive_features"] == ["sex"]
    assert pq.ParquetFile(files.backend().path(evaluation.parquet_path)).num_row_groups > 1  # one per batch
    overall = evaluation.metrics["overall"]
    assert overall["accuracy"] == pytest.approx(accuracy_score(frame.y_true, frame.y_pred))
    assert overall["roc_auc"] == pytest.approx(roc_auc_score(frame.y_true, frame.y_score))
    female = frame[frame.sex == "female"]
    assert evaluation.metrics["groups"]["sex"]["female"]["accuracy"] == pytest.approx(
        accuracy_score(female.y_true, female.y_pred))
    assert AuditEvent.objects.filter(action="upload.completed", object_id=session["id"]).count() == 1


def test_parts_raw_file_and_copy_are_written_and_read_past_the_page_cache_and_are_exact(
        api, version, streamed, monkeypatch, django_capture_on_commit_callbacks):
    # Through the cache, each new page written or read costs CPU (0.5 s per 200 MB here); the parts are read once
    # by the worker, the raw file not soon, the copy once by the explanation. The bytes stay exact.
    opened, reads = [], []

    class Recorded(uncached.UncachedFile):
        def __init__(self, path, **kwargs):
            super().__init__(path, **kwargs)
            opened.append((os.path.basename(path).split(".incoming-")[0], self.direct))

    def open_part(name):
        part = real_open_part(name)
        reads.append(isinstance(part, io.FileIO) and bool(fcntl.fcntl(part.fileno(), fcntl.F_GETFL) & os.O_DIRECT))
        return part

    real_open_part = uploads._open_part
    monkeypatch.setattr(uploads, "UncachedFile", Recorded)
    monkeypatch.setattr(streaming, "UncachedFile", Recorded)
    monkeypatch.setattr(uploads, "_open_part", open_part)
    data, _ = evaluation_csv(600)
    session = upload_in_parts(api, version, data, django_capture_on_commit_callbacks)

    parts = -(-len(data) // PART)
    evaluation = Evaluation.objects.get(pk=session["evaluation"])
    assert sorted(name for name, _ in opened) == sorted([*map(str, range(1, parts + 1)), "copy.parquet", "file"])
    assert all(direct for _, direct in opened)  # this disk takes O_DIRECT (ext4)
    assert reads == [True] * parts
    assert files.read(evaluation.raw_path) == data
    stored = files.read(evaluation.parquet_path)
    assert hashlib.sha256(stored).hexdigest() in evaluation.parquet_path  # named by what was hashed as written
    assert pq.read_table(pa.BufferReader(stored)).num_rows == 600


def test_a_direct_read_refused_reads_on_through_the_storage_from_where_it_stopped(
        api, version, streamed, monkeypatch, django_capture_on_commit_callbacks):
    real_readinto, refused = io.FileIO.readinto, []

    class Refusing(io.FileIO):
        def readinto(self, buffer):
            if not refused and self.tell() == 0:  # the first part's first read
                refused.append(self.name)
                raise OSError(errno.EINVAL, "Invalid argument")
            return real_readinto(self, buffer)

    monkeypatch.setattr(uploads, "_open_part", lambda name: Refusing(
        os.open(files.local_path(name), os.O_RDONLY | os.O_DIRECT), "rb"))
    data, _ = evaluation_csv(600)
    session = upload_in_parts(api, version, data, django_capture_on_commit_callbacks)

    assert refused and session["state"] == "complete", session
    evaluation = Evaluation.objects.get(pk=session["evaluation"])
    assert evaluation.row_count == 600 and files.read(evaluation.raw_path) == data


def test_a_streamed_file_with_a_bad_value_mid_file_is_rejected_and_leaves_nothing(
        api, version, streamed, django_capture_on_commit_callbacks):
    _, frame = evaluation_csv(600)
    frame.loc[450, "y_score"] = 1.7
    data = frame.to_csv(index=False).encode()
    before = set(_all_files())

    session = upload_in_parts(api, version, data, django_capture_on_commit_callbacks)

    assert session["state"] == "rejected" and session["evaluation"] is None
    (problem,) = session["problems"]
    assert problem["column"] == "y_score" and problem["rows"] == [452] and "outside [0, 1]" in problem["message"]
    assert not Evaluation.objects.exists() and set(_all_files()) == before
    assert AuditEvent.objects.filter(action="upload.rejected", object_id=session["id"]).count() == 1


def test_a_file_without_a_required_column_is_rejected_with_its_problems(
        api, version, django_capture_on_commit_callbacks):
    _, frame = evaluation_csv(200)
    data = frame.drop(columns=["y_pred"]).to_csv(index=False).encode()

    session = upload_in_parts(api, version, data, django_capture_on_commit_callbacks)

    assert session["state"] == "rejected"
    assert session["problems"][0]["column"] == "y_pred" and "is missing" in session["problems"][0]["message"]
    assert not Evaluation.objects.exists() and stored_parts(session["id"]) == [] and _all_files() == []


def test_a_streamed_file_without_a_required_column_is_rejected(api, version, streamed,
                                                               django_capture_on_commit_callbacks):
    _, frame = evaluation_csv(300)
    data = frame.drop(columns=["sex"]).to_csv(index=False).encode()

    session = upload_in_parts(api, version, data, django_capture_on_commit_callbacks)

    assert session["state"] == "rejected" and session["problems"][0]["column"] == "sex"
    assert not Evaluation.objects.exists() and _all_files() == []


def test_a_part_longer_than_the_part_size_is_413_and_not_stored(api, version):
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()

    response = put_part(api, session["id"], 1, data[:PART + 1])

    assert response.status_code == 413 and "at most 1,024 bytes" in response.json()["detail"]
    assert stored_parts(session["id"]) == [] and api.get(f"/api/v1/uploads/{session['id']}/").json()["received"] == []


def test_a_part_whose_hash_differs_is_refused_and_not_stored(api, version):
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()

    response = put_part(api, session["id"], 1, data[:PART], digest=sha(b"something else"))

    assert response.status_code == 400 and "damaged on the way" in response.json()["detail"]
    assert stored_parts(session["id"]) == []


def test_a_part_sent_again_replaces_the_first(api, version):
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()
    put_part(api, session["id"], 2, b"x" * PART)

    assert put_part(api, session["id"], 2, data[PART:2 * PART]).status_code == 200

    assert stored_parts(session["id"]) == ["2"]
    with files.open_file(f"monitoring/uploads/{session['id']}/2") as handle:
        assert handle.read() == data[PART:2 * PART]


@pytest.mark.parametrize("store", ["local", "remote"])
@pytest.mark.parametrize("damage", ["another hash", "cut short"])
def test_a_damaged_resend_keeps_the_earlier_good_part(api, version, monkeypatch, store, damage):
    if store == "remote":  # S3 has no local paths: the part goes through a spool and the storage's copy
        monkeypatch.setattr(files, "local_path", lambda name: None)
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()
    good = data[PART:2 * PART]
    assert put_part(api, session["id"], 2, good).status_code == 200
    damaged = b"x" * PART if damage == "another hash" else good[:-1]

    response = put_part(api, session["id"], 2, damaged, digest=sha(good))

    assert response.status_code == 400
    assert stored_parts(session["id"]) == ["2"]
    with files.open_file(f"monitoring/uploads/{session['id']}/2") as handle:
        assert handle.read() == good


@pytest.mark.parametrize("store", ["local", "remote"])
def test_a_part_still_arriving_when_the_upload_is_completed_is_refused_and_the_worker_reads_the_parts_as_completed(
        api, version, scientist, monkeypatch, store):
    # A resend of part 2 is on its way when the upload is completed: the parts are now the worker's to read, so the
    # resend must not replace the one completion saw (its body arrives before the state is known).
    if store == "remote":
        monkeypatch.setattr(files, "local_path", lambda name: None)
    data, _ = evaluation_csv(200)
    session_id = start(api, version, data).json()["id"]
    send_all(api, session_id, data)
    good, other = data[PART:2 * PART], b"y" * PART

    class CompletedMidway(io.BytesIO):
        def read(self, size=-1):
            if self.tell() == 0:
                uploads.upload_complete(actor=scientist, session=UploadSession.objects.get(pk=session_id))
            return super().read(size)

    with pytest.raises(ConflictError, match="it takes no more parts"):
        uploads.upload_part_put(actor=scientist, session=UploadSession.objects.get(pk=session_id), number=2,
                                stream=CompletedMidway(other), declared_length=PART, part_sha256=sha(other))

    with files.open_file(f"monitoring/uploads/{session_id}/2") as handle:
        assert handle.read() == good
    assert UploadSession.objects.get(pk=session_id).parts["2"]["sha256"] == sha(good)
    count = UploadSession.objects.get(pk=session_id).part_count
    assert sorted(stored_parts(session_id), key=int) == [str(n) for n in range(1, count + 1)]  # nothing left beside


def test_a_local_store_receives_a_part_in_place_without_a_second_copy(api, version, monkeypatch):
    def copied(*args, **kwargs):
        raise AssertionError("the part was copied into storage a second time")

    monkeypatch.setattr(files, "put_file", copied)
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()

    assert put_part(api, session["id"], 1, data[:PART]).status_code == 200

    with files.open_file(f"monitoring/uploads/{session['id']}/1") as handle:
        assert handle.read() == data[:PART]


def test_get_lists_the_received_parts_to_resume(api, version):
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()
    send_all(api, session["id"], data, skip={2, 4})

    body = api.get(f"/api/v1/uploads/{session['id']}/").json()

    assert body["missing"] == [2, 4] and body["received"] == [n for n in range(1, body["parts"] + 1) if n not in (2, 4)]


def test_completing_with_a_missing_part_names_it(api, version):
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()
    send_all(api, session["id"], data, skip={3})

    response = api.post(f"/api/v1/uploads/{session['id']}/complete/")

    assert response.status_code == 409 and "parts are missing: 3." in response.json()["detail"]
    assert UploadSession.objects.get(pk=session["id"]).state == "open"


def test_a_file_whose_whole_hash_differs_is_rejected_and_leaves_nothing(
        api, version, django_capture_on_commit_callbacks):
    data, _ = evaluation_csv(200)
    declared = data[:-1] + b"9"  # same size, another hash: the parts sent are not the file declared
    session = start(api, version, data, sha256=sha(declared)).json()
    send_all(api, session["id"], data)
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/api/v1/uploads/{session['id']}/complete/")

    body = api.get(f"/api/v1/uploads/{session['id']}/").json()

    assert body["state"] == "rejected" and "SHA-256" in body["problems"][0]["message"]
    assert not Evaluation.objects.exists() and _all_files() == []


def test_another_persons_upload_is_404(api, version, make_user):
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(make_user('admin'))}")

    assert other.get(f"/api/v1/uploads/{session['id']}/").status_code == 404
    assert put_part(other, session["id"], 1, data[:PART]).status_code == 404
    assert other.post(f"/api/v1/uploads/{session['id']}/complete/").status_code == 404
    assert other.delete(f"/api/v1/uploads/{session['id']}/").status_code == 404
    assert stored_parts(session["id"]) == []


def test_abort_deletes_the_parts(api, version, django_capture_on_commit_callbacks):
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()
    send_all(api, session["id"], data, skip={1})

    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/uploads/{session['id']}/").status_code == 204

    assert stored_parts(session["id"]) == [] and UploadSession.objects.get(pk=session["id"]).state == "aborted"
    assert put_part(api, session["id"], 1, data[:PART]).status_code == 409


def test_abort_also_deletes_what_a_killed_web_process_left_beside_the_parts(
        api, version, django_capture_on_commit_callbacks):
    import os

    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()
    send_all(api, session["id"], data, skip={2})
    folder = files.local_path(f"monitoring/uploads/{session['id']}")
    with open(os.path.join(folder, "2.incoming-0123456789abcdef"), "wb") as half_written:
        half_written.write(data[PART:PART + 100])

    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/uploads/{session['id']}/").status_code == 204

    assert not os.path.exists(folder)


def test_the_sweep_deletes_parts_of_expired_uploads(api, version):
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()
    send_all(api, session["id"], data, skip={1})

    assert uploads.uploads_expire(now=timezone.now() + timedelta(hours=25)) == 1

    assert stored_parts(session["id"]) == [] and UploadSession.objects.get(pk=session["id"]).state == "expired"


def test_the_sweep_deletes_what_a_killed_worker_left_once_the_upload_ended(
        api, version, django_capture_on_commit_callbacks):
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()
    send_all(api, session["id"], data)
    folder = files.local_path(f"monitoring/uploads/{session['id']}")
    dead = os.path.join(folder, "portal-upload-killed")  # an earlier assembly's scratch, its worker killed mid-check
    os.makedirs(dead)
    with open(os.path.join(dead, "copy.parquet"), "wb") as copy:
        copy.write(b"PAR1" * 1000)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/uploads/{session['id']}/complete/").status_code == 202
    assert UploadSession.objects.get(pk=session["id"]).state == "complete"
    assert stored_parts(session["id"]) == [] and os.listdir(folder) == ["portal-upload-killed"]  # parts only

    uploads.uploads_expire()
    assert os.path.isdir(dead)  # ended a moment ago: its own worker may still be cleaning up

    uploads.uploads_expire(now=timezone.now() + uploads.FOLDER_GRACE + timedelta(minutes=1))
    assert not os.path.exists(folder)


def test_the_sweep_leaves_open_uploads_and_folders_it_does_not_know(api, version):
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()
    send_all(api, session["id"], data, skip={2})
    root = files.local_path(uploads.UPLOADS_FOLDER)
    orphan = os.path.join(root, "6f1c0c1e-8d2b-4a5e-9a34-4d0b6f1d2c3a")  # an upload whose record is gone
    stranger = os.path.join(root, "not-an-upload")
    for path in (orphan, stranger):
        os.makedirs(path)
        with open(os.path.join(path, "1"), "wb") as leftover:
            leftover.write(b"x")
    later = timezone.now() + timedelta(hours=2)

    assert uploads._sweep_folders(timezone.now()) == []  # the orphan was written a moment ago
    assert uploads._sweep_folders(later) == ["6f1c0c1e-8d2b-4a5e-9a34-4d0b6f1d2c3a"]

    assert not os.path.exists(orphan) and os.path.isdir(stranger)
    assert len(stored_parts(session["id"])) == -(-len(data) // PART) - 1  # still open: every part kept


def test_check_folders_killed_workers_left_in_the_temporary_folder_are_swept_when_a_worker_starts(
        tmp_path, monkeypatch):
    """With a remote store a check works in the worker machine's temporary folder, where the hourly sweep (run on
    whichever machine takes it) cannot see: each worker process sweeps its own machine's when it starts."""
    from celery.signals import worker_process_init

    monkeypatch.setattr(uploads.tempfile, "tempdir", str(tmp_path))
    hours_ago = timezone.now().timestamp() - 2 * 3600

    def folder(name: str, *, written_at: float, fresh_file: bool = False) -> str:
        path = tmp_path / name
        (path / "inner").mkdir(parents=True)
        for leftover in (path / "file", path / "inner" / "copy.parquet"):
            leftover.write_bytes(b"x" * 100)
            os.utime(leftover, (written_at, written_at))
        if fresh_file:  # a live check is writing this one
            (path / "inner" / "copy.parquet").write_bytes(b"y")
        for directory in (path / "inner", path):
            os.utime(directory, (written_at, written_at))
        return str(path)

    dead = folder(f"{uploads.SCRATCH_PREFIX}dead", written_at=hours_ago)
    live = folder(f"{uploads.SCRATCH_PREFIX}live", written_at=hours_ago, fresh_file=True)
    recent = folder(f"{uploads.SCRATCH_PREFIX}recent", written_at=timezone.now().timestamp())
    other = folder("someone-elses", written_at=hours_ago)

    from mlops_portal.celery import app

    app.loader.import_default_modules()  # as a worker starting does: the apps' tasks modules, with their receivers
    worker_process_init.send(sender=None)

    assert not os.path.exists(dead)
    assert all(os.path.isdir(path) for path in (live, recent, other))
    later = uploads.sweep_scratch(idle=timedelta(0))  # once idle (here: at once), the others go too
    assert sorted(later) == sorted(os.path.basename(path) for path in (live, recent)) and os.path.isdir(other)


def test_a_file_over_the_maximum_is_refused_before_any_part(api, version, settings):
    settings.PORTAL_MAX_LARGE_UPLOAD_BYTES = 5 * 2**30
    response = api.post("/api/v1/uploads/", {"model_version": version.pk, "filename": "huge.csv",
                                             "size": 6 * 2**30, "sha256": "a" * 64}, format="json")

    assert response.status_code == 413 and "PORTAL_MAX_LARGE_UPLOAD_GB" in response.json()["detail"]
    assert not UploadSession.objects.exists()


def test_a_file_the_disk_has_no_room_for_is_refused_before_any_part(api, version, monkeypatch):
    data, _ = evaluation_csv(200)
    room = shutil.disk_usage(os.path.dirname(files.local_path("x")))
    monkeypatch.setattr(uploads.shutil, "disk_usage",
                        lambda path: room._replace(free=int(len(data) * uploads.DISK_FACTOR) - 1))

    response = start(api, version, data)

    assert response.status_code == 507, response.content
    assert "needs about" in response.json()["detail"] and "Nothing was stored" in response.json()["detail"]
    assert not UploadSession.objects.exists()
    monkeypatch.setattr(uploads.shutil, "disk_usage", lambda path: room._replace(free=int(len(data) * 3)))
    assert start(api, version, data).status_code == 201


def test_the_room_open_uploads_still_need_is_not_offered_to_another(api, version, monkeypatch):
    data, _ = evaluation_csv(200)
    room = shutil.disk_usage(os.path.dirname(files.local_path("x")))
    monkeypatch.setattr(uploads.shutil, "disk_usage",
                        lambda path: room._replace(free=int(len(data) * uploads.DISK_FACTOR * 1.5)))
    first = start(api, version, data).json()

    refused = start(api, version, data)

    assert refused.status_code == 507, refused.content
    assert "is kept for 1 upload in progress" in refused.json()["detail"]
    assert UploadSession.objects.count() == 1
    assert api.delete(f"/api/v1/uploads/{first['id']}/").status_code == 204
    assert start(api, version, data).status_code == 201


def test_a_person_has_at_most_the_configured_number_of_uploads_open(api, version, scientist, make_user, settings):
    settings.PORTAL_MAX_OPEN_UPLOADS = 2
    data, _ = evaluation_csv(50)
    first, _ = start(api, version, data).json(), start(api, version, data)
    UploadSession.objects.create(version=version, filename="old.csv", size_bytes=10, part_size=PART,
                                 created_by=scientist, expires_at=timezone.now() - timedelta(minutes=1))

    refused = start(api, version, data)

    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert "You have 2 uploads in parts open" in detail and "PORTAL_MAX_OPEN_UPLOADS" in detail
    assert first["id"] in detail and "Nothing was stored" in detail
    assert UploadSession.objects.filter(state="open").count() == 3  # the expired one is not counted
    member = make_user("data_scientist")
    version.model.team.members.add(member)
    colleague = APIClient()
    colleague.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(member)}")
    assert start(colleague, version, data).status_code == 201  # the limit is each person's
    assert api.delete(f"/api/v1/uploads/{first['id']}/").status_code == 204
    assert start(api, version, data).status_code == 201


def test_a_part_the_disk_fills_up_under_is_507_and_the_earlier_copy_stays(api, version, monkeypatch):
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()
    assert put_part(api, session["id"], 1, data[:PART]).status_code == 200
    real = uploads._receive

    def full(stream, out, **kwargs):
        out.write(b"half a part")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(uploads, "_receive", full)
    response = put_part(api, session["id"], 1, data[:PART])

    assert response.status_code == 507 and "disk filled up while part 1" in response.json()["detail"]
    assert stored_parts(session["id"]) == ["1"]
    assert files.backend().open(f"monitoring/uploads/{session['id']}/1").read() == data[:PART]
    monkeypatch.setattr(uploads, "_receive", real)
    assert put_part(api, session["id"], 2, data[PART:2 * PART]).status_code == 200


def test_a_worker_without_room_to_check_the_file_rejects_it_and_keeps_nothing(
        api, version, monkeypatch, django_capture_on_commit_callbacks):
    data, _ = evaluation_csv(200)
    session = start(api, version, data).json()
    send_all(api, session["id"], data)
    room = shutil.disk_usage(os.path.dirname(files.local_path("x")))
    monkeypatch.setattr(uploads.shutil, "disk_usage", lambda path: room._replace(free=len(data)))

    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/uploads/{session['id']}/complete/").status_code == 202

    session = api.get(f"/api/v1/uploads/{session['id']}/").json()
    assert session["state"] == "rejected" and "the worker's disk has" in session["problems"][0]["message"]
    assert not Evaluation.objects.exists() and stored_parts(session["id"]) == []


def test_only_the_models_team_starts_an_upload(version, make_user):
    outsider = APIClient()
    outsider.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(make_user('data_scientist'))}")
    data, _ = evaluation_csv(50)

    assert start(outsider, version, data).status_code == 403
    assert not UploadSession.objects.exists()


def test_a_large_reference_file_is_streamed_into_reference_data(api, version, streamed,
                                                                django_capture_on_commit_callbacks):
    _, frame = evaluation_csv(400)
    data = frame[["income", "sex"]].to_csv(index=False).encode()

    session = upload_in_parts(api, version, data, django_capture_on_commit_callbacks, purpose="reference")

    assert session["state"] == "complete"
    reference = ReferenceData.objects.get(pk=session["reference"])
    assert reference.row_count == 400 and reference.columns == ["income", "sex"]
    copy = pd.read_parquet(files.backend().path(reference.parquet_path))
    assert copy["income"].tolist() == pytest.approx(frame["income"].tolist())


def test_a_bad_file_that_is_not_the_one_declared_is_refused_for_its_hash(
        api, version, django_capture_on_commit_callbacks):
    _, frame = evaluation_csv(200)
    frame.loc[3, "y_score"] = 1.7
    data = frame.to_csv(index=False).encode()
    session = start(api, version, data, sha256=sha(data[:-1] + b"9")).json()
    send_all(api, session["id"], data)
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/api/v1/uploads/{session['id']}/complete/")

    body = api.get(f"/api/v1/uploads/{session['id']}/").json()

    # The whole file is hashed even though its check stopped at row 5: the person learns the file is not theirs.
    assert body["state"] == "rejected" and len(body["problems"]) == 1 and "SHA-256" in body["problems"][0]["message"]


def test_the_checked_file_is_moved_into_storage_not_copied(api, version, django_capture_on_commit_callbacks):
    data, _ = evaluation_csv(300)

    session = upload_in_parts(api, version, data, django_capture_on_commit_callbacks)

    evaluation = Evaluation.objects.get(pk=session["evaluation"])
    assert files.read(evaluation.raw_path) == data
    # Nothing left of the assembly: the raw file and the Parquet copy were moved, the scratch folder is gone.
    assert sorted(_all_files()) == sorted([evaluation.raw_path, evaluation.parquet_path])


def test_a_production_file_whose_labels_come_later_is_accepted_in_parts(
        api, version, django_capture_on_commit_callbacks):
    _, frame = evaluation_csv(300)
    frame["prediction_id"] = [f"p{i}" for i in range(len(frame))]
    data = frame.drop(columns=["y_true"]).to_csv(index=False).encode()

    session = upload_in_parts(api, version, data, django_capture_on_commit_callbacks, kind="production")

    assert session["state"] == "complete", session["problems"]
    evaluation = Evaluation.objects.get(pk=session["evaluation"])
    assert evaluation.columns["prediction_id"] == "prediction_id" and evaluation.status == "done"
    assert evaluation.metrics["labels"]["labelled_rows"] == 0


def test_a_streamed_file_whose_labels_come_later_gets_them_like_a_direct_upload(
        api, version, scientist, monkeypatch, django_capture_on_commit_callbacks):
    from tests.monitoring.test_late_labels import add_labels, csv_bytes, predictions, upload_pending

    monkeypatch.setattr(uploads, "STREAM_BLOCK_BYTES", 4 * 1024)  # several pieces, the direct upload still allowed
    frame = predictions(400)
    direct = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    session = upload_in_parts(api, version, csv_bytes(frame.drop(columns="y_true")),
                              django_capture_on_commit_callbacks, kind="production")
    streamed_evaluation = Evaluation.objects.get(pk=session["evaluation"])
    assert streamed_evaluation.columns["prediction_id"] == "prediction_id"
    assert pq.ParquetFile(files.backend().path(streamed_evaluation.parquet_path)).num_row_groups > 1

    for evaluation in (direct, streamed_evaluation):
        add_labels(scientist, evaluation, frame[["prediction_id", "y_true"]].iloc[:250],
                   django_capture_on_commit_callbacks)
    streamed_evaluation.refresh_from_db()

    overall = streamed_evaluation.metrics["overall"]
    labelled = frame.iloc[:250]
    assert overall["accuracy"] == pytest.approx(accuracy_score(labelled.y_true, labelled.y_pred))
    assert streamed_evaluation.metrics["labels"]["labelled_rows"] == 250
    assert overall == direct.metrics["overall"] and streamed_evaluation.metrics["groups"] == direct.metrics["groups"]


@pytest.mark.parametrize("path", ["whole", "streamed"])
def test_an_upload_in_parts_joins_its_labels_by_the_prediction_id_column_it_names(
        api, version, scientist, settings, monkeypatch, django_capture_on_commit_callbacks, path):
    from tests.monitoring.test_late_labels import add_labels, csv_bytes, predictions

    if path == "streamed":
        settings.PORTAL_MAX_UPLOAD_BYTES = 4 * 1024
        monkeypatch.setattr(uploads, "STREAM_BLOCK_BYTES", 4 * 1024)
    frame = predictions(400).rename(columns={"prediction_id": "request_id"})

    session = upload_in_parts(api, version, csv_bytes(frame.drop(columns="y_true")),
                              django_capture_on_commit_callbacks, kind="production", prediction_id_column="request_id")

    assert session["state"] == "complete", session["problems"]
    assert session["options"]["prediction_id_column"] == "request_id"
    evaluation = Evaluation.objects.get(pk=session["evaluation"])
    assert evaluation.columns["prediction_id"] == "request_id" and "request_id" not in evaluation.columns["features"]
    add_labels(scientist, evaluation, frame[["request_id", "y_true"]].iloc[:250], django_capture_on_commit_callbacks)
    labelled = frame.iloc[:250]
    assert evaluation.metrics["labels"]["labelled_rows"] == 250
    assert evaluation.metrics["overall"]["accuracy"] == pytest.approx(accuracy_score(labelled.y_true, labelled.y_pred))


def test_an_upload_in_parts_without_its_target_or_the_named_id_column_is_rejected(
        api, version, django_capture_on_commit_callbacks):
    from tests.monitoring.test_late_labels import csv_bytes, predictions

    frame = predictions(300).drop(columns="y_true")  # its ids are in prediction_id, not the column named

    session = upload_in_parts(api, version, csv_bytes(frame), django_capture_on_commit_callbacks,
                              kind="production", prediction_id_column="request_id")

    assert session["state"] == "rejected"
    assert any("request_id" in problem["message"] for problem in session["problems"]), session["problems"]
    assert not Evaluation.objects.exists()


def test_a_streamed_file_with_an_id_repeated_across_batches_is_rejected(
        api, version, streamed, django_capture_on_commit_callbacks):
    from tests.monitoring.test_late_labels import csv_bytes, predictions

    frame = predictions(400).drop(columns="y_true")
    frame.loc[390, "prediction_id"] = "p3"

    session = upload_in_parts(api, version, csv_bytes(frame), django_capture_on_commit_callbacks, kind="production")

    assert session["state"] == "rejected"
    (problem,) = session["problems"]
    assert problem["rows"] == [5, 392] and "'p3' appears more than once" in problem["message"]
    assert not Evaluation.objects.exists()


def test_a_prediction_id_column_is_not_a_feature_of_a_streamed_file(
        api, version, streamed, django_capture_on_commit_callbacks):
    _, frame = evaluation_csv(300)
    frame["prediction_id"] = [f"p{i}" for i in range(len(frame))]

    session = upload_in_parts(api, version, frame.to_csv(index=False).encode(), django_capture_on_commit_callbacks)

    assert Evaluation.objects.get(pk=session["evaluation"]).columns["features"] == ["income"]


def test_json_lines_in_parts_make_the_evaluation_of_a_direct_upload(
        api, version, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(uploads, "STREAM_BLOCK_BYTES", 2 * 1024)  # several pieces; the direct upload still allowed
    _, frame = evaluation_csv(400)
    data = frame.to_json(orient="records", lines=True).encode()
    with django_capture_on_commit_callbacks(execute=True):
        direct = api.post("/api/v1/evaluations/", {"model_version": version.pk, "sensitive_features": "sex",
                                                   "file": _file(data, "eval.jsonl")}, format="multipart").json()

    session = upload_in_parts(api, version, data, django_capture_on_commit_callbacks, filename="big.jsonl")

    assert session["state"] == "complete", session["problems"]
    streamed_evaluation, direct_evaluation = (Evaluation.objects.get(pk=session["evaluation"]),
                                              Evaluation.objects.get(pk=direct["id"]))
    assert streamed_evaluation.file_format == direct_evaluation.file_format == "jsonl"
    assert pq.ParquetFile(files.backend().path(streamed_evaluation.parquet_path)).num_row_groups > 1
    assert streamed_evaluation.status == "done" and streamed_evaluation.row_count == 400
    assert streamed_evaluation.metrics == direct_evaluation.metrics
    assert streamed_evaluation.columns == direct_evaluation.columns


def test_json_lines_with_a_nested_value_mid_file_are_rejected_and_leave_nothing(
        api, version, streamed, django_capture_on_commit_callbacks):
    _, frame = evaluation_csv(400)
    lines = frame.to_json(orient="records", lines=True).encode().split(b"\n")
    lines[349] = b'{"y_true": 1, "y_pred": 1, "y_score": 0.9, "sex": "male", "income": [1, 2]}'
    before = set(_all_files())

    session = upload_in_parts(api, version, b"\n".join(lines), django_capture_on_commit_callbacks)

    assert session["state"] == "rejected" and session["evaluation"] is None
    (problem,) = session["problems"]
    assert problem["column"] == "income" and problem["rows"] == [350] and "nested" in problem["message"]
    assert not Evaluation.objects.exists() and set(_all_files()) == before


def test_a_large_json_array_is_still_refused(api, version, streamed, django_capture_on_commit_callbacks):
    _, frame = evaluation_csv(200)
    data = frame.to_json(orient="records").encode()

    session = upload_in_parts(api, version, data, django_capture_on_commit_callbacks)

    assert session["state"] == "rejected" and "JSON is not" in session["problems"][0]["message"]
    assert not Evaluation.objects.exists()


def _file(data: bytes, name: str = "eval.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="text/csv")


def _all_files() -> list[str]:
    """Every file the monitoring app stored (raw uploads, Parquet copies, parts)."""
    store, found = files.backend(), []

    def walk(folder: str) -> None:
        try:
            folders, names = store.listdir(folder)
        except FileNotFoundError:
            return
        found.extend(f"{folder}/{name}" for name in names)
        for name in folders:
            walk(f"{folder}/{name}")

    walk("monitoring")
    return sorted(found)


# --- Metrics computed in the same pass as the check ------------------------------------------------------------


def _same(found, expected, where="metrics"):
    """Two metric documents equal, floats within 1e-9 (summed over batches of other sizes)."""
    if isinstance(expected, dict):
        assert isinstance(found, dict) and found.keys() == expected.keys(), where
        for key in expected:
            _same(found[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(found, list) and len(found) == len(expected), where
        for index, (one, other) in enumerate(zip(found, expected, strict=True)):
            _same(one, other, f"{where}[{index}]")
    elif isinstance(expected, float):
        assert found == pytest.approx(expected, rel=1e-9, abs=1e-12, nan_ok=True), where
    else:
        assert found == expected, where


def _stored_metrics(evaluation: Evaluation) -> dict:
    return {key: value for key, value in evaluation.metrics.items() if key != "explanations"}


@pytest.fixture
def sent(monkeypatch) -> list:
    """The computation tasks sent to the broker (not run)."""
    queued = []
    monkeypatch.setattr(services, "enqueue", lambda pk: queued.append(pk) or True)
    return queued


def test_an_upload_is_done_when_recorded_with_the_metrics_the_task_computes(
        api, version, streamed, sent, django_capture_on_commit_callbacks):
    _, reference = evaluation_csv(300, seed=1)
    upload_in_parts(api, version, reference.to_csv(index=False).encode(), django_capture_on_commit_callbacks,
                    purpose="reference")
    data, _ = evaluation_csv(600, seed=2, shift=8.0)

    session = upload_in_parts(api, version, data, django_capture_on_commit_callbacks)

    evaluation = Evaluation.objects.get(pk=session["evaluation"])
    # Recorded done by the worker that checked it: no second read of the file, no task sent for it.
    assert evaluation.status == "done" and evaluation.attempts == 1 and sent == []
    metrics = _stored_metrics(evaluation)
    assert metrics["drift"]["income"]["psi"] > 0.2 and metrics["prediction_drift"]["score"]  # against the reference
    expected, rows = services._batched_metrics([evaluation])
    assert rows == 600
    _same(metrics, expected)
    assert [event.action for event in AuditEvent.objects.for_object(evaluation).order_by("seq")][:2] == [
        "evaluation.uploaded", "evaluation.computed"]


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_json_lines_and_parquet_files_are_computed_with_their_check_too(
        api, version, streamed, sent, django_capture_on_commit_callbacks, file_format):
    _, frame = evaluation_csv(500, seed=5)
    data = (frame.to_json(orient="records", lines=True).encode() if file_format == "jsonl"
            else frame.to_parquet(index=False, row_group_size=100))

    session = upload_in_parts(api, version, data, django_capture_on_commit_callbacks)

    evaluation = Evaluation.objects.get(pk=session["evaluation"])
    assert evaluation.file_format == file_format and evaluation.status == "done" and sent == []
    metrics = _stored_metrics(evaluation)
    assert metrics["overall"]["accuracy"] == pytest.approx(accuracy_score(frame["y_true"], frame["y_pred"]))
    _same(metrics, services._batched_metrics([evaluation])[0])


@pytest.mark.parametrize("task_type", ["multiclass", "regression"])
def test_other_task_types_are_computed_with_the_check_as_the_task_computes_them(
        api, scientist, streamed, sent, django_capture_on_commit_callbacks, task_type):
    version = assessed_version(team__members=[scientist], task_type=task_type)
    rng = np.random.default_rng(3)
    truth = rng.choice(["a", "b", "c"], 500) if task_type == "multiclass" else rng.normal(10, 2, 500).round(3)
    guess = (np.where(rng.random(500) < 0.7, truth, "a") if task_type == "multiclass"
             else (truth + rng.normal(0, 1, 500)).round(3))
    frame = pd.DataFrame({"y_true": truth, "y_pred": guess, "sex": rng.choice(["female", "male"], 500),
                          "income": rng.normal(50, 10, 500).round(2)})

    session = upload_in_parts(api, version, frame.to_csv(index=False).encode(), django_capture_on_commit_callbacks)

    evaluation = Evaluation.objects.get(pk=session["evaluation"])
    assert evaluation.status == "done" and sent == []
    _same(_stored_metrics(evaluation), services._batched_metrics([evaluation])[0])


def test_production_rows_without_labels_are_done_with_coverage_and_their_labels_join_later(
        api, version, streamed, sent, django_capture_on_commit_callbacks):
    _, frame = evaluation_csv(400, seed=4)
    frame = frame.drop(columns="y_true").assign(prediction_id=[f"p{i}" for i in range(400)])

    session = upload_in_parts(api, version, frame.to_csv(index=False).encode(), django_capture_on_commit_callbacks,
                              kind="production")

    evaluation = Evaluation.objects.get(pk=session["evaluation"])
    assert evaluation.status == "done" and evaluation.columns["prediction_id"] == "prediction_id" and sent == []
    metrics = _stored_metrics(evaluation)
    assert metrics["labels"] == {"rows": 400, "labelled_rows": 0, "coverage": 0.0}
    _same(metrics, services._batched_metrics([evaluation])[0])


def test_when_the_metrics_cannot_be_computed_with_the_check_the_evaluation_is_queued_for_its_task(
        api, version, streamed, sent, monkeypatch, django_capture_on_commit_callbacks):
    def broken(self, table):
        raise RuntimeError("a bug in the accumulator")

    monkeypatch.setattr(batches.Following, "add", broken)
    data, _ = evaluation_csv(300)

    session = upload_in_parts(api, version, data, django_capture_on_commit_callbacks)

    # The file is accepted all the same; the computation task computes it (its failure, if any, is the one shown).
    evaluation = Evaluation.objects.get(pk=session["evaluation"])
    assert session["state"] == "complete" and evaluation.status == "queued" and evaluation.attempts == 0
    assert sent == [evaluation.pk]


def test_when_the_computed_metrics_cannot_be_stored_the_claim_is_released_and_the_task_sent(
        api, version, streamed, sent, monkeypatch, django_capture_on_commit_callbacks):
    def unavailable(evaluation, result, *, mine):
        raise OperationalError("the database went away")

    monkeypatch.setattr(services, "store_metrics", unavailable)
    data, _ = evaluation_csv(300)

    session = upload_in_parts(api, version, data, django_capture_on_commit_callbacks)

    evaluation = Evaluation.objects.get(pk=session["evaluation"])
    assert session["state"] == "complete" and evaluation.status == "queued" and evaluation.attempts == 0
    assert evaluation.started_at is None and sent == [evaluation.pk]
