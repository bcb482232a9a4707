"""Evaluations registered by an s3:// URL (PORTAL_DATA_BUCKETS): read in place from a real S3 endpoint.

The endpoint is moto's server on loopback (``s3_endpoint``), reached through boto3 as AWS or MinIO would be.
"""

import hashlib
import uuid

import boto3
import pytest
from botocore.stub import Stubber
from sklearn.metrics import accuracy_score

from apps.monitoring import datasets
from apps.monitoring.models import Evaluation
from tests.inventory.factories import ModelVersionFactory
from tests.monitoring.test_by_reference import _data_set, _post, _scientist_of
from tests.s3_server import CREDENTIALS

LAKE, VERSIONED = "lake", "versioned-lake"


@pytest.fixture(scope="module")
def buckets(s3_endpoint):
    url, client = s3_endpoint
    client.create_bucket(Bucket=LAKE)
    client.create_bucket(Bucket=VERSIONED)
    client.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
    return url, client


@pytest.fixture
def lake(buckets, settings, monkeypatch, tmp_path):
    url, client = buckets
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PORTAL_DATA_BUCKETS = [f"{LAKE}/evaluations", VERSIONED]
    settings.PORTAL_DATA_S3 = {"endpoint_url": url, "region_name": "us-east-1", "addressing_style": "path"}
    return client


def _put(client, tmp_path, *, bucket=LAKE, seed=0, n=600):
    """A data set stored at a new key; (its s3:// URL, frame, SHA-256, bytes)."""
    key = f"evaluations/{uuid.uuid4().hex}.parquet"
    frame, digest = _data_set(tmp_path / f"{seed}.parquet", n=n, seed=seed)
    data = (tmp_path / f"{seed}.parquet").read_bytes()
    client.put_object(Bucket=bucket, Key=key, Body=data)
    return f"s3://{bucket}/{key}", frame, digest, data


def test_an_object_gives_the_metrics_of_the_same_file_registered_by_path(
    lake, settings, tmp_path, client_as, django_capture_on_commit_callbacks, monkeypatch
):
    settings.PORTAL_DATA_ROOTS = [str(tmp_path)]
    version = ModelVersionFactory()
    client = _scientist_of(version, client_as)
    uri, frame, digest, data = _put(lake, tmp_path, n=20_000)  # pyarrow reads the last 64 KB at once
    ranges, make_client = [], datasets._client

    def counting_client(options):
        s3 = make_client(options)
        s3.meta.events.register(
            "before-call.s3.GetObject", lambda params, **_: ranges.append(params["headers"]["Range"])
        )
        return s3

    monkeypatch.setattr(datasets, "_client", counting_client)
    with django_capture_on_commit_callbacks(execute=True):
        by_url = _post(client, model_version=version.pk, path=uri, sha256=digest, sensitive_features=["sex"])
        footer_ranges = list(ranges)
        by_path = _post(
            client,
            model_version=version.pk,
            path=str(tmp_path / "0.parquet"),
            sha256=digest,
            sensitive_features=["sex"],
        )

    assert by_url.status_code == 201, by_url.content
    from_url, from_path = (Evaluation.objects.get(pk=r.json()["id"]) for r in (by_url, by_path))
    assert from_url.status == from_path.status == "done", from_url.error
    assert from_url.source_uri == uri and from_url.raw_path == from_url.parquet_path == ""
    assert from_url.size_bytes == len(data) and from_url.row_count == 20_000 and from_url.columns == from_path.columns
    assert from_url.metrics == from_path.metrics
    assert from_url.metrics["overall"]["accuracy"] == pytest.approx(accuracy_score(frame.y_true, frame.y_pred))
    footer_starts = [int(r.removeprefix("bytes=").split("-")[0]) for r in footer_ranges]
    metadata_start = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    assert footer_starts and min(footer_starts) >= metadata_start - 64 * 1024, "registration read no row"
    assert not any((tmp_path / "media").rglob("*")), "nothing was copied"


def test_a_wrong_sha256_fails_the_evaluation_and_stores_nothing(
    lake, tmp_path, client_as, django_capture_on_commit_callbacks
):
    version = ModelVersionFactory()
    uri, _, digest, _ = _put(lake, tmp_path)
    wrong = hashlib.sha256(b"another file").hexdigest()

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(_scientist_of(version, client_as), model_version=version.pk, path=uri, sha256=wrong)

    evaluation = Evaluation.objects.get(pk=response.json()["id"])
    assert evaluation.status == "failed" and evaluation.metrics is None
    assert "has changed since it was registered" in evaluation.error and digest in evaluation.error
    assert not any((tmp_path / "media").rglob("*"))


@pytest.mark.parametrize("bucket", [LAKE, VERSIONED])
def test_an_object_replaced_after_it_was_hashed_is_never_read_in_its_place(
    lake, tmp_path, client_as, bucket, django_capture_on_commit_callbacks, monkeypatch
):
    version = ModelVersionFactory()
    uri, frame, digest, _ = _put(lake, tmp_path, bucket=bucket)
    replacement = _data_set(tmp_path / "replacement.parquet", seed=1)[0]
    hash_then_replace = datasets._sha256

    def replaced_after_hashing(handle):
        actual = hash_then_replace(handle)
        lake.put_object(Bucket=bucket, Key=uri.split("/", 3)[3], Body=(tmp_path / "replacement.parquet").read_bytes())
        return actual

    monkeypatch.setattr(datasets, "_sha256", replaced_after_hashing)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(_scientist_of(version, client_as), model_version=version.pk, path=uri, sha256=digest)

    evaluation = Evaluation.objects.get(pk=response.json()["id"])
    if bucket == LAKE:  # the ETag no longer matches: the first read of the rows fails
        assert evaluation.status == "failed" and evaluation.metrics is None
        assert f"the object {uri} changed since it was registered" in evaluation.error, evaluation.error
    else:  # the pinned version is still there, and is the one read
        assert evaluation.status == "done", evaluation.error
        assert evaluation.metrics["overall"]["accuracy"] == pytest.approx(accuracy_score(frame.y_true, frame.y_pred))
        assert accuracy_score(frame.y_true, frame.y_pred) != accuracy_score(replacement.y_true, replacement.y_pred)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("other-bucket", "is outside the buckets"),
        ("outside-prefix", "is outside the buckets"),
        ("prefix-lookalike", "is outside the buckets"),
        ("dotdot", "'..' segment"),
        ("missing", "does not exist"),
        ("not-parquet", "is not a readable Parquet file"),
        ("gs", "a URL of a kind the portal cannot read"),
    ],
)
def test_it_refuses_objects_it_may_not_or_cannot_read(lake, tmp_path, client_as, where, message):
    version = ModelVersionFactory()
    _, _, digest, data = _put(lake, tmp_path)
    lake.put_object(Bucket=LAKE, Key="evaluations/notes.parquet", Body=b"not parquet at all")
    for key in ("private/secret.parquet", "evaluations-private/secret.parquet"):
        lake.put_object(Bucket=LAKE, Key=key, Body=data)
    path = {
        "other-bucket": f"s3://{VERSIONED}-other/evaluations/x.parquet",
        "outside-prefix": f"s3://{LAKE}/private/secret.parquet",
        "prefix-lookalike": f"s3://{LAKE}/evaluations-private/secret.parquet",
        "dotdot": f"s3://{LAKE}/evaluations/../private/secret.parquet",
        "missing": f"s3://{LAKE}/evaluations/nothing.parquet",
        "not-parquet": f"s3://{LAKE}/evaluations/notes.parquet",
        "gs": "gs://lake/evaluations/x.parquet",
    }[where]

    response = _post(_scientist_of(version, client_as), model_version=version.pk, path=path, sha256=digest)

    assert response.status_code == 400 and message in response.content.decode()
    assert not Evaluation.objects.exists()


@pytest.mark.parametrize("refused", ["head", "get"])
def test_a_403_says_the_key_may_be_missing_before_blaming_permissions(settings, client_as, monkeypatch, refused):
    """Without s3:ListBucket, S3 answers a missing key 403 (a HEAD's without a body: code "403"; a GET's with
    AccessDenied). moto answers it 404 whatever the credentials, so the answer is stubbed at the client."""
    settings.PORTAL_DATA_BUCKETS = [f"{LAKE}/evaluations"]
    key = "evaluations/marhc.parquet"
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="portal", aws_secret_access_key="secret")
    stubber = Stubber(s3)
    if refused == "head":
        stubber.add_client_error("head_object", "403", "Forbidden", http_status_code=403,
                                 expected_params={"Bucket": LAKE, "Key": key})
    else:
        stubber.add_response("head_object", {"ContentLength": 4096, "ETag": '"pinned"'},
                             expected_params={"Bucket": LAKE, "Key": key})
        stubber.add_client_error("get_object", "AccessDenied", "Access Denied", http_status_code=403)
    monkeypatch.setattr(datasets, "_client", lambda options: s3)
    version = ModelVersionFactory()

    with stubber:
        response = _post(_scientist_of(version, client_as), model_version=version.pk,
                         path=f"s3://{LAKE}/{key}", sha256="a" * 64)

    message = response.json()["detail"]
    assert response.status_code == 400, message
    assert f"403 Access Denied for 's3://{LAKE}/{key}'" in message
    assert "no object exists at that key" in message and "lack s3:ListBucket" in message
    assert "may not read it" in message and f"`aws s3 ls s3://{LAKE}/{key}`" in message
    assert not Evaluation.objects.exists()
    stubber.assert_no_pending_responses()


def test_it_is_off_until_buckets_are_configured(settings, client_as):
    settings.PORTAL_DATA_BUCKETS = []
    version = ModelVersionFactory()

    response = _post(
        _scientist_of(version, client_as),
        model_version=version.pk,
        path=f"s3://{LAKE}/evaluations/march.parquet",
        sha256="a" * 64,
    )

    assert response.status_code == 400 and "PORTAL_DATA_BUCKETS is empty" in response.content.decode()
    assert not Evaluation.objects.exists()
