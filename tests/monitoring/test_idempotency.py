"""Idempotency-Key: a replay returns the first evaluation only for the same file and the same options."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.core.errors import ConflictError, DomainError
from apps.monitoring import services, storage
from apps.monitoring.models import Evaluation
from tests.inventory.factories import ModelVersionFactory
from tests.monitoring.test_services import evaluation_csv
from tests.reviews.helpers import assessed_version


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


@pytest.fixture
def api(scientist):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(scientist)
    return client


def api_upload(api, version, data: bytes, key: str, **options):
    body = {"model_version": version.pk, "file": SimpleUploadedFile("eval.csv", data), "kind": "validation",
            "sensitive_features": "sex", **options}
    return api.post("/api/v1/evaluations/", body, format="multipart", HTTP_IDEMPOTENCY_KEY=key)


FIRST = {"filename": "eval.csv", "kind": "validation", "sensitive_features": ["sex"], "positive_label": "1",
         "columns": {}}
# (option changed on the replay, its new value, the name the conflict gives it)
CHANGES = [
    ("kind", "production", "kind"),
    ("sensitive_features", [], "sensitive_features"),
    ("sensitive_features", ["sex", "income"], "sensitive_features"),
    ("positive_label", "0", "positive_label"),
    ("columns", {"score": "income"}, "column names"),
    ("filename", "other.csv", "file name"),
]


def upload(actor, version, data, key, **changes):
    return services.evaluation_upload(actor=actor, version=version, data=data, idempotency_key=key,
                                      **{**FIRST, **changes})


def test_it_replays_the_same_file_with_the_same_options(scientist):
    version = assessed_version(team__members=[scientist])
    data, _ = evaluation_csv()
    first, created = upload(scientist, version, data, "run-1")
    again, created_again = upload(scientist, version, data, "run-1")
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert first.idempotency_request["sha256"] == storage.sha256(data)


@pytest.mark.parametrize(("option", "value", "named"), CHANGES)
def test_it_refuses_a_replay_with_other_options(scientist, option, value, named):
    version = assessed_version(team__members=[scientist])
    data, _ = evaluation_csv()
    first, _ = upload(scientist, version, data, "run-1")
    with pytest.raises(ConflictError, match=f"already used for a different upload .*its {named} differ"):
        upload(scientist, version, data, "run-1", **{option: value})
    assert list(Evaluation.objects.values_list("pk", flat=True)) == [first.pk]


def test_it_refuses_a_replay_with_another_file_or_version(scientist):
    version = assessed_version(team__members=[scientist])
    data, _ = evaluation_csv()
    upload(scientist, version, data, "run-1")
    with pytest.raises(ConflictError, match="its file differ"):
        upload(scientist, version, evaluation_csv(seed=2)[0], "run-1")
    with pytest.raises(ConflictError, match="its model_version differ"):
        upload(scientist, ModelVersionFactory(model=version.model), data, "run-1")


def test_it_refuses_a_replay_after_the_task_type_changed(scientist):
    version = assessed_version(team__members=[scientist])
    data, _ = evaluation_csv()
    upload(scientist, version, data, "run-1")
    version.model.task_type = "regression"
    with pytest.raises(ConflictError, match="model's task type"):
        upload(scientist, version, data, "run-1")


def test_a_replay_through_the_api_with_another_kind_is_a_409(api, scientist):
    version = assessed_version(team__members=[scientist])
    data, _ = evaluation_csv()
    assert api_upload(api, version, data, "run-42").status_code == 201
    replay = api_upload(api, version, data, "run-42")
    assert replay.status_code == 200 and replay["Idempotent-Replayed"] == "true"

    production = api_upload(api, version, data, "run-42", kind="production")

    assert production.status_code == 409
    assert "its kind differ" in production.json()["detail"]
    assert Evaluation.objects.get().kind == "validation"


def test_long_keys_that_share_a_prefix_do_not_collide(api, scientist):
    version = assessed_version(team__members=[scientist])
    data, _ = evaluation_csv()
    first = api_upload(api, version, data, "k" * 200 + "-a")
    second = api_upload(api, version, data, "k" * 200 + "-b")
    assert (first.status_code, second.status_code) == (201, 201)
    assert Evaluation.objects.count() == 2


def test_a_key_over_255_characters_is_refused_not_cut(api, scientist):
    version = assessed_version(team__members=[scientist])
    response = api_upload(api, version, evaluation_csv()[0], "k" * 256)
    assert response.status_code == 400
    assert response.json()["field"] == "Idempotency-Key"
    assert "at most 255" in response.json()["detail"]
    assert not Evaluation.objects.exists()


def test_a_key_of_255_characters_is_kept_whole(scientist):
    evaluation, _ = upload(scientist, assessed_version(team__members=[scientist]), evaluation_csv()[0], "k" * 255)
    evaluation.refresh_from_db()
    assert evaluation.idempotency_key == "k" * 255


def test_the_service_refuses_an_over_long_key_too(scientist):
    with pytest.raises(DomainError, match="at most 255"):
        upload(scientist, assessed_version(team__members=[scientist]), evaluation_csv()[0], "k" * 1000)


def test_a_key_stored_before_the_fingerprint_is_judged_on_its_file_and_version(scientist):
    version = assessed_version(team__members=[scientist])
    data, _ = evaluation_csv()
    first, _ = upload(scientist, version, data, "run-1")
    Evaluation.objects.filter(pk=first.pk).update(  # as the migration leaves a key stored before
        idempotency_request={"version": version.pk, "sha256": first.sha256})
    assert upload(scientist, version, data, "run-1", kind="production") == (first, False)
    with pytest.raises(ConflictError, match="its file differ"):
        upload(scientist, version, evaluation_csv(seed=2)[0], "run-1")
