"""The client sends large files in parts against a live server, survives a failing part and resumes a broken run.

Parts are 1 KB (``PORTAL_UPLOAD_PART_BYTES``) and the client's threshold 1,000 bytes, so a 16 KB file has
sixteen parts. The server's part handler is wrapped to count the parts it receives and to fail some.
"""

import hashlib
import json
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from mlops_portal_client.parts import PartUploader, state_path
from sklearn.metrics import accuracy_score

from apps.monitoring import uploads
from apps.monitoring.models import Evaluation, UploadSession
from mlops_portal.client import PortalClient, PortalError
from tests.factories import api_key_for
from tests.monitoring.test_services import evaluation_csv
from tests.reviews.helpers import assessed_version

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
PART = 1024
# What ``upload_evaluation`` sends (less the version): a run with the same file and fields resumes the upload.
FIELDS = {"purpose": "evaluation", "kind": "validation", "sensitive_features": ["sex"], "positive_label": "1",
          "target_column": "y_true", "prediction_column": "y_pred", "score_column": "y_score",
          "timestamp_column": "timestamp", "prediction_id_column": "prediction_id"}


@pytest.fixture
def sam(make_user):
    return make_user("data_scientist", username="sam")


@pytest.fixture
def token(sam, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PORTAL_UPLOAD_PART_BYTES = PART
    return api_key_for(sam)


@pytest.fixture
def received(monkeypatch):
    """Part numbers the server was sent; ``received.fail`` holds part numbers to answer 500 (once each, or
    always when the number is in ``received.always``)."""
    seen: Counter = Counter()
    seen.fail, seen.always, seen.digests, seen.lock = set(), set(), {}, threading.Lock()
    real = uploads.upload_part_put

    def counted(**kwargs):
        number = kwargs["number"]
        with seen.lock:  # parts arrive on several connections at once
            seen[number] += 1
            seen.digests[number] = kwargs["part_sha256"]
        if number in seen.always or (number in seen.fail and seen[number] == 1):
            raise RuntimeError("the disk hiccuped")  # an unexpected error: the server answers 500
        return real(**kwargs)

    monkeypatch.setattr(uploads, "upload_part_put", counted)
    return seen


def test_a_large_file_goes_in_parts_and_a_failed_part_is_sent_again(live_server, token, sam, tmp_path, received):
    version = assessed_version(team__members=[sam])
    data, frame = evaluation_csv(400)
    path = tmp_path / "results.csv"
    path.write_bytes(data)
    received.fail.add(3)
    progress = []

    evaluation = PortalClient(live_server.url, token).upload_evaluation(
        version.pk, path, sensitive_features=["sex"], chunk_threshold=1000,
        progress=lambda done, total: progress.append((done, total)))

    parts = -(-len(data) // PART)
    assert received[3] == 2 and all(received[n] == 1 for n in range(1, parts + 1) if n != 3)
    assert progress[-1] == (parts, parts) and len(progress) == parts
    result = PortalClient(live_server.url, token).wait(evaluation["id"], timeout=60)
    assert result["status"] == "done"
    assert result["metrics"]["overall"]["accuracy"] == pytest.approx(accuracy_score(frame.y_true, frame.y_pred))
    assert not state_path(path).exists()


def test_a_new_run_of_the_command_sends_only_the_missing_parts(live_server, token, sam, tmp_path, received):
    version = assessed_version(team__members=[sam])
    data, frame = evaluation_csv(400)
    path = tmp_path / "results.csv"
    path.write_bytes(data)
    parts = -(-len(data) // PART)
    received.always.add(3)
    fields = {**FIELDS, "model_version": version.pk}
    with pytest.raises(PortalError, match="HTTP 500"):
        PartUploader(PortalClient(live_server.url, token), retries=1, backoff=0.01, concurrency=1).send(path, fields)
    assert state_path(path).exists() and dict(received) == {1: 1, 2: 1, 3: 2}
    received.always.clear()

    resumed = subprocess.run(
        [sys.executable, "-m", "mlops_portal.client", "--url", live_server.url, "--token", token, "upload",
         "--version", str(version.pk), "--sensitive-features", "sex", "--chunk-threshold-mb", "0.001", "--wait",
         str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert resumed.returncode == 0, resumed.stderr
    assert received[1] == 1 and received[2] == 1 and received[3] == 3
    assert all(received[n] == 1 for n in range(4, parts + 1))
    answer = json.loads(resumed.stdout)
    assert answer["status"] == "done" and UploadSession.objects.get().evaluation_id == answer["id"]
    assert answer["metrics"]["overall"]["accuracy"] == pytest.approx(accuracy_score(frame.y_true, frame.y_pred))
    assert not state_path(path).exists()


@pytest.fixture
def reads(monkeypatch):
    """How many bytes the client read from the file, counted in every read of it."""
    total, real_open = [0], Path.open

    class Counted:
        def __init__(self, handle):
            self.handle = handle

        def read(self, size=-1):
            block = self.handle.read(size)
            total[0] += len(block)
            return block

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    def counted(self, mode="r", *args, **kwargs):
        handle = real_open(self, mode, *args, **kwargs)
        return Counted(handle) if "b" in mode and self.suffix == ".csv" else handle

    monkeypatch.setattr(Path, "open", counted)
    return total


def test_the_file_is_read_once_hashing_every_part_it_sends_and_the_whole_at_completion(
        live_server, token, sam, tmp_path, received, reads, monkeypatch):
    version = assessed_version(team__members=[sam])
    data, _ = evaluation_csv(400)
    path = tmp_path / "results.csv"
    path.write_bytes(data)
    started = []
    real_start = uploads.upload_start
    monkeypatch.setattr(uploads, "upload_start", lambda **kwargs: started.append(kwargs["sha256"]) or
                        real_start(**kwargs))

    session = PartUploader(PortalClient(live_server.url, token), part_size=PART).send(
        path, {**FIELDS, "model_version": version.pk}, wait=False)

    assert reads[0] == len(data)  # one read of the file: no pass over it before the first part is sent
    assert started == [""]  # the whole file's SHA-256 is not known at the start...
    assert session["sha256"] == hashlib.sha256(data).hexdigest()  # ...and given when completing
    expected = {n: hashlib.sha256(data[o:o + PART]).hexdigest() for n, o in enumerate(range(0, len(data), PART), 1)}
    assert received.digests == expected and session["state"] == "processing"


def test_two_connections_send_every_part_once_and_a_new_run_resumes(live_server, token, sam, tmp_path, received,
                                                                      monkeypatch):
    version = assessed_version(team__members=[sam])
    data, frame = evaluation_csv(400)
    path = tmp_path / "results.csv"
    path.write_bytes(data)
    parts = -(-len(data) // PART)
    together = threading.Barrier(2, timeout=10)  # parts 1 and 2 wait for each other: both must be on their way
    counted = uploads.upload_part_put

    def side_by_side(**kwargs):
        if kwargs["number"] in (1, 2):
            together.wait()
        return counted(**kwargs)

    monkeypatch.setattr(uploads, "upload_part_put", side_by_side)
    received.always.add(3)
    fields = {**FIELDS, "model_version": version.pk}
    progress = []
    with pytest.raises(PortalError, match="HTTP 500"):
        PartUploader(PortalClient(live_server.url, token), retries=1, backoff=0.01, concurrency=2).send(path, fields)
    first = dict(received)
    assert first[3] == 2 and state_path(path).exists()
    received.always.clear()

    evaluation = PortalClient(live_server.url, token).upload_evaluation(
        version.pk, path, sensitive_features=["sex"], chunk_threshold=1000, concurrency=2,
        progress=lambda done, total: progress.append((done, total)))

    assert dict(received) == {**dict.fromkeys(range(1, parts + 1), 1), 3: 3}
    assert [done for done, _ in progress] == list(range(len(first), parts + 1)) and progress[-1] == (parts, parts)
    result = PortalClient(live_server.url, token).wait(evaluation["id"], timeout=60)
    assert result["metrics"]["overall"]["accuracy"] == pytest.approx(accuracy_score(frame.y_true, frame.y_pred))
    assert not state_path(path).exists()


def test_without_waiting_the_answer_is_the_upload_the_worker_has_yet_to_check(live_server, token, sam, tmp_path,
                                                                             monkeypatch):
    version = assessed_version(team__members=[sam])
    data, _ = evaluation_csv(400)
    path = tmp_path / "results.csv"
    path.write_bytes(data)
    monkeypatch.setattr(uploads, "enqueue", lambda session_id: True)  # no worker ever takes the assembly

    answer = PortalClient(live_server.url, token).upload_evaluation(
        version.pk, path, sensitive_features=["sex"], chunk_threshold=1000, wait=False)

    session = UploadSession.objects.get()
    assert answer["id"] == str(session.pk) and answer["state"] == session.state == "processing"
    assert answer["evaluation"] is None and not Evaluation.objects.exists() and not state_path(path).exists()


def test_a_refused_large_file_reports_its_problems_like_a_direct_upload(live_server, token, sam, tmp_path):
    version = assessed_version(team__members=[sam])
    _, frame = evaluation_csv(400)
    frame.loc[300, "y_score"] = 1.7
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)

    refused = subprocess.run(
        [sys.executable, "-m", "mlops_portal.client", "--url", live_server.url, "--token", token, "upload",
         "--version", str(version.pk), "--chunk-threshold-mb", "0.001", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert refused.returncode == 1
    assert "HTTP 400" in refused.stderr and "column 'y_score'" in refused.stderr and "302" in refused.stderr
    assert not Evaluation.objects.exists() and UploadSession.objects.get().state == "rejected"


def test_a_production_file_in_parts_keeps_the_prediction_id_column_it_names(live_server, token, sam, tmp_path):
    from tests.monitoring.test_late_labels import predictions

    version = assessed_version(team__members=[sam])
    frame = predictions(300).rename(columns={"prediction_id": "request_id"})
    path = tmp_path / "predictions.csv"
    frame.drop(columns="y_true").to_csv(path, index=False)
    client = PortalClient(live_server.url, token)

    evaluation = client.upload_evaluation(version.pk, path, kind="production", sensitive_features=["sex"],
                                          prediction_id_column="request_id", chunk_threshold=1000)

    assert UploadSession.objects.get().part_count > 1
    assert evaluation["columns"]["prediction_id"] == "request_id"
    labels = tmp_path / "labels.csv"
    frame[["request_id", "y_true"]].to_csv(labels, index=False)
    client.add_labels(evaluation["id"], labels)
    result = client.wait(evaluation["id"], timeout=60)
    assert result["metrics"]["labels"]["labelled_rows"] == 300
    assert result["metrics"]["overall"]["accuracy"] == pytest.approx(accuracy_score(frame.y_true, frame.y_pred))
