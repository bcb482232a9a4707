"""Uploads, stored copies and previews go through Django's storage API, so an S3-compatible store can keep them.

The store here is a real S3 HTTP endpoint on loopback (moto's server, in a process of its own); the portal
reaches it through django-storages and boto3 exactly as it would reach AWS or MinIO. The web side (this test
process) and a real Celery worker get different, empty media folders: the evaluation can only be computed if
the worker reads what the web process stored from the bucket.
"""

import os
import subprocess
import sys

import pytest

from apps.core import storage as files
from apps.monitoring import services
from apps.monitoring.models import Evaluation
from tests.celery_helpers import ROOT, wait_for, worker
from tests.monitoring.test_services import evaluation_csv
from tests.reviews.helpers import assessed_version
from tests.s3_server import CREDENTIALS

BUCKET = "portal-files"


@pytest.fixture(scope="module")
def portal_bucket(s3_endpoint):
    s3_endpoint[1].create_bucket(Bucket=BUCKET)
    return s3_endpoint


@pytest.fixture
def s3(portal_bucket, settings, tmp_path, monkeypatch):
    url, client = portal_bucket
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    web_media = tmp_path / "web-media"
    web_media.mkdir()
    settings.MEDIA_ROOT = web_media
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": BUCKET, "endpoint_url": url, "location": "portal", "default_acl": None,
                    "file_overwrite": False, "addressing_style": "path"}}}
    env = {**CREDENTIALS, "PORTAL_STORAGE": "s3", "PORTAL_S3_BUCKET": BUCKET, "PORTAL_S3_ENDPOINT_URL": url,
           "PORTAL_S3_PREFIX": "portal", "PORTAL_S3_ADDRESSING_STYLE": "path",
           "PORTAL_MEDIA_ROOT": str(tmp_path / "worker-media")}
    yield client, web_media, env
    listed = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    for item in listed:
        client.delete_object(Bucket=BUCKET, Key=item["Key"])


def _keys(client) -> set[str]:
    return {item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


@pytest.mark.django_db
def test_an_upload_is_stored_in_the_bucket_and_computed_from_it(s3, make_user):
    client, web_media, _ = s3
    scientist = make_user("data_scientist")
    version = assessed_version(team__members=[scientist])
    data, _ = evaluation_csv()

    evaluation, _ = services.evaluation_upload(actor=scientist, version=version, data=data, filename="eval.csv",
                                               sensitive_features=["sex"])
    assert services.evaluation_compute(evaluation_id=evaluation.pk) is True

    evaluation.refresh_from_db()
    assert {f"portal/{evaluation.raw_path}", f"portal/{evaluation.parquet_path}"} <= _keys(client)
    body = client.get_object(Bucket=BUCKET, Key=f"portal/{evaluation.raw_path}")["Body"].read()
    assert body == data
    assert evaluation.status == "done" and evaluation.metrics["overall"]["accuracy"] is not None
    assert not any(web_media.rglob("*")), "nothing was written to the local disk"


@pytest.mark.django_db
def test_a_truncated_copy_left_by_an_interrupted_write_is_replaced_not_trusted(s3):
    client, _, _ = s3
    name = "monitoring/raw/ab/abc.csv"
    client.put_object(Bucket=BUCKET, Key=f"portal/{name}", Body=b"half")

    stored = files.put(name, b"the whole file")

    assert stored == name and files.read(name) == b"the whole file"


@pytest.mark.django_db
def test_a_missing_file_reads_as_not_found(s3):
    with pytest.raises(FileNotFoundError):
        files.read("monitoring/raw/00/nothing.csv")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_web_and_worker_share_the_bucket_and_no_disk(s3, make_user, django_capture_on_commit_callbacks):
    client, web_media, env = s3
    scientist = make_user("data_scientist")
    version = assessed_version(team__members=[scientist])
    with worker("shared-storage", env=env) as (_, log):
        with django_capture_on_commit_callbacks(execute=True):
            evaluation, _ = services.evaluation_upload(actor=scientist, version=version, data=evaluation_csv()[0],
                                                       filename="eval.csv", sensitive_features=["sex"])
        done = wait_for(lambda: Evaluation.objects.filter(pk=evaluation.pk, status="done").first(),
                        timeout=90, what="the worker to compute the evaluation from the bucket", log_path=log)

    assert done.metrics["overall"]["accuracy"] is not None
    assert f"portal/{done.parquet_path}" in _keys(client)
    assert not any(web_media.rglob("*"))
    worker_media = env["PORTAL_MEDIA_ROOT"]
    assert not os.path.exists(worker_media) or not os.listdir(worker_media)


def test_the_settings_refuse_s3_without_a_bucket_and_an_unknown_backend():
    def settings_with(**env):
        result = subprocess.run([sys.executable, "-c", "import mlops_portal.settings"], cwd=ROOT,
                                env={**os.environ, **env}, capture_output=True, text=True)
        return result.returncode, result.stderr

    code, stderr = settings_with(PORTAL_STORAGE="s3", PORTAL_S3_BUCKET="")
    assert code != 0 and "PORTAL_STORAGE=s3 needs PORTAL_S3_BUCKET" in stderr
    code, stderr = settings_with(PORTAL_STORAGE="ftp")
    assert code != 0 and "PORTAL_STORAGE must be filesystem or s3, not 'ftp'" in stderr
    code, _ = settings_with(PORTAL_STORAGE="s3", PORTAL_S3_BUCKET="portal-files")
    assert code == 0
