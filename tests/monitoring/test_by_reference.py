"""Evaluations registered by reference: a Parquet data set under PORTAL_DATA_ROOTS, read where it is."""

import decimal
import hashlib
import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import accuracy_score, roc_auc_score

from apps.core.models import AuditEvent
from apps.monitoring import services
from apps.monitoring.models import Evaluation
from tests.inventory.factories import ModelVersionFactory

URL = "/api/v1/evaluations/by-reference/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def roots(settings, tmp_path):
    root = tmp_path / "lake"
    root.mkdir()
    settings.PORTAL_DATA_ROOTS = [str(root)]
    return root


def _data_set(path, n=600, seed=0) -> tuple[pd.DataFrame, str]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, n), 0, 1).round(3)
    frame = pd.DataFrame({"y_true": y, "y_pred": (score >= 0.5).astype(int), "y_score": score,
                          "sex": rng.choice(["female", "male"], n), "income": rng.normal(50, 10, n),
                          "timestamp": pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(np.arange(n), "h")})
    frame.to_parquet(path, row_group_size=128)
    return frame, hashlib.sha256(path.read_bytes()).hexdigest()


def _scientist_of(version, client_as):
    client = client_as("data_scientist")
    version.model.team.members.add(client.user)
    return client


def _post(client, **body):
    return client.post(URL, json.dumps(body), content_type="application/json")


def test_it_registers_a_data_set_under_a_root_and_computes_it_in_place(roots, client_as,
                                                                         django_capture_on_commit_callbacks):
    version = ModelVersionFactory()
    client = _scientist_of(version, client_as)
    frame, digest = _data_set(roots / "march.parquet")

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, model_version=version.pk, path=str(roots / "march.parquet"), sha256=digest,
                         kind="production", sensitive_features=["sex"])

    assert response.status_code == 201, response.content
    evaluation = Evaluation.objects.get(pk=response.json()["id"])
    assert evaluation.status == "done", evaluation.error
    assert evaluation.source_uri == str((roots / "march.parquet").resolve())
    assert evaluation.raw_path == evaluation.parquet_path == "" and evaluation.row_count == 600
    assert evaluation.period_start == datetime(2026, 3, 1, tzinfo=UTC)
    overall = evaluation.metrics["overall"]
    assert overall["accuracy"] == pytest.approx(accuracy_score(frame.y_true, frame.y_pred), abs=1e-12)
    assert overall["roc_auc"] == pytest.approx(roc_auc_score(frame.y_true, frame.y_score), abs=1e-12)
    assert set(evaluation.metrics["groups"]["sex"]) == {"female", "male"}
    assert AuditEvent.objects.filter(action="evaluation.registered", object_id=str(evaluation.pk)).exists()


def test_its_windows_hash_the_data_set_once_for_all_of_them(roots, client_as, django_capture_on_commit_callbacks,
                                                             monkeypatch):
    from apps.monitoring import datasets, services

    version = ModelVersionFactory()
    frame, digest = _data_set(roots / "march.parquet")
    with django_capture_on_commit_callbacks(execute=True):
        _post(_scientist_of(version, client_as), model_version=version.pk, path=str(roots / "march.parquet"),
              sha256=digest, kind="production")
    hashed, original = [], datasets._sha256
    monkeypatch.setattr(datasets, "_sha256", lambda handle: hashed.append(handle.name) or original(handle))
    weeks = [(datetime(2026, 3, day, tzinfo=UTC), datetime(2026, 3, day + 7, tzinfo=UTC)) for day in (1, 8, 15)]

    windows = services.windows_compute(version=version, cadence="weekly", bounds=weeks)

    assert hashed == [str((roots / "march.parquet").resolve())]
    assert [window.row_count for window in windows] == [7 * 24] * 3
    assert windows[1].metrics["overall"]["accuracy"] == pytest.approx(
        accuracy_score(frame.y_true[168:336], frame.y_pred[168:336]), abs=1e-12)


def test_a_changed_data_set_fails_its_evaluation_and_stores_no_metrics(roots, client_as,
                                                                       django_capture_on_commit_callbacks):
    version = ModelVersionFactory()
    client = _scientist_of(version, client_as)
    _, digest = _data_set(roots / "march.parquet")
    wrong = hashlib.sha256(b"another file").hexdigest()

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, model_version=version.pk, path=str(roots / "march.parquet"), sha256=wrong)

    evaluation = Evaluation.objects.get(pk=response.json()["id"])
    assert evaluation.status == "failed" and evaluation.metrics is None
    assert "has changed since it was registered" in evaluation.error and digest in evaluation.error


def test_a_malformed_sha256_is_refused_before_anything_is_recorded(roots, client_as):
    version = ModelVersionFactory()
    _data_set(roots / "march.parquet")
    response = _post(_scientist_of(version, client_as), model_version=version.pk, path=str(roots / "march.parquet"),
                     sha256="not-a-hash")
    assert response.status_code == 400 and "64 characters" in str(response.json())
    assert not Evaluation.objects.exists()


def test_it_is_off_until_roots_are_configured(settings, tmp_path, client_as):
    settings.PORTAL_DATA_ROOTS = []
    version = ModelVersionFactory()
    _, digest = _data_set(tmp_path / "march.parquet")

    response = _post(_scientist_of(version, client_as), model_version=version.pk, path=str(tmp_path / "march.parquet"),
                     sha256=digest)

    assert response.status_code == 400 and "PORTAL_DATA_ROOTS is empty" in response.content.decode()
    assert not Evaluation.objects.exists()


@pytest.mark.parametrize(("where", "message"), [
    ("outside", "is outside the folders"),
    ("dotdot", "contains '..'"),
    ("symlink", "is outside the folders"),
    ("missing", "does not exist"),
    ("relative", "is not an absolute path"),
    ("url", "a URL of a kind the portal cannot read"),
])
def test_it_refuses_paths_that_are_not_files_under_a_root(roots, tmp_path, client_as, where, message):
    version = ModelVersionFactory()
    outside = tmp_path / "private"
    outside.mkdir()
    _, digest = _data_set(outside / "secret.parquet")
    (roots / "link.parquet").symlink_to(outside / "secret.parquet")
    path = {"outside": str(outside / "secret.parquet"), "dotdot": f"{roots}/../private/secret.parquet",
            "symlink": str(roots / "link.parquet"), "missing": str(roots / "nothing.parquet"),
            "relative": "lake/secret.parquet", "url": "https://example.org/secret.parquet"}[where]

    response = _post(_scientist_of(version, client_as), model_version=version.pk, path=path, sha256=digest)

    assert response.status_code == 400 and message in response.content.decode()
    assert not Evaluation.objects.exists()


def test_it_names_a_missing_column_from_the_footer(roots, client_as):
    version = ModelVersionFactory()
    _, digest = _data_set(roots / "march.parquet")

    response = _post(_scientist_of(version, client_as), model_version=version.pk, path=str(roots / "march.parquet"),
                     sha256=digest, sensitive_features=["age_band"])

    assert response.status_code == 400 and "'age_band'" in response.content.decode()


@pytest.mark.parametrize("role", ["reviewer", "executive", "data_scientist"])
def test_only_the_models_team_of_data_scientists_registers(roots, client_as, role):
    version = ModelVersionFactory()
    _, digest = _data_set(roots / "march.parquet")
    client = client_as(role)  # a data scientist, but not of this model's team

    response = _post(client, model_version=version.pk, path=str(roots / "march.parquet"), sha256=digest)

    assert response.status_code == 403
    assert not Evaluation.objects.exists()


def test_its_page_says_where_the_data_set_is_read_from(roots, client_as, django_capture_on_commit_callbacks):
    version = ModelVersionFactory()
    client = _scientist_of(version, client_as)
    _, digest = _data_set(roots / "march.parquet")
    with django_capture_on_commit_callbacks(execute=True):
        evaluation_id = _post(client, model_version=version.pk, path=str(roots / "march.parquet"),
                              sha256=digest).json()["id"]

    page = client.get(f"/monitoring/evaluations/{evaluation_id}/").content.decode()

    assert "Read in place from" in page and str((roots / "march.parquet").resolve()) in page


def test_a_list_of_sensitive_features_longer_than_any_file_could_hold_is_refused(roots, client_as):
    from apps.monitoring import ingest

    version = ModelVersionFactory()
    _, digest = _data_set(roots / "march.parquet")
    response = _post(_scientist_of(version, client_as), model_version=version.pk, path=str(roots / "march.parquet"),
                     sha256=digest, sensitive_features=[f"c{n}" for n in range(ingest.MAX_COLUMNS + 1)])
    assert response.status_code == 400 and "sensitive_features" in response.json()
    assert not Evaluation.objects.exists()


def test_a_data_set_whose_footer_an_upload_would_refuse_is_refused_before_anything_is_recorded(
        roots, client_as, settings):
    import pyarrow as pa
    import pyarrow.parquet as pq

    settings.PORTAL_MAX_DECODED_BYTES = 64 * 1024  # a row group may take this much once decoded
    version = ModelVersionFactory()
    client = _scientist_of(version, client_as)
    rows = 20_000
    pq.write_table(pa.table({"y_true": np.ones(rows, np.int8), "y_pred": np.ones(rows, np.int8),
                             "blob": pa.array([b"\x00"] * rows)}), roots / "hostile.parquet")
    digest = hashlib.sha256((roots / "hostile.parquet").read_bytes()).hexdigest()

    response = _post(client, model_version=version.pk, path=str(roots / "hostile.parquet"), sha256=digest)

    text = response.content.decode()
    assert response.status_code == 400 and "'blob'" in text and "binary values" in text
    assert "row group 1" in text and "PORTAL_MAX_DECODED_MB" in text
    assert not Evaluation.objects.exists()


def test_decimal_columns_are_numbers_as_in_an_upload_not_categories(roots, client_as,
                                                                     django_capture_on_commit_callbacks):
    version = ModelVersionFactory()
    client = _scientist_of(version, client_as)
    frame, _ = _data_set(roots / "floats.parquet")
    services.reference_upload(actor=client.user, version=version, filename="reference.csv",
                              data=frame[["income"]].round(2).to_csv(index=False).encode())
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name, scale in (("income", 2), ("y_score", 3)):  # e.g. a warehouse's NUMERIC(10, 2)
        values = pa.array([decimal.Decimal(f"{value:.{scale}f}") for value in frame[name]], pa.decimal128(10, scale))
        table = table.set_column(table.schema.get_field_index(name), name, values)
    pq.write_table(table, roots / "decimals.parquet", row_group_size=128)
    digest = hashlib.sha256((roots / "decimals.parquet").read_bytes()).hexdigest()

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, model_version=version.pk, path=str(roots / "decimals.parquet"), sha256=digest,
                         kind="production", sensitive_features=["sex"])

    evaluation = Evaluation.objects.get(pk=response.json()["id"])
    assert evaluation.status == "done", evaluation.error
    income = evaluation.metrics["drift"]["income"]
    assert income["kind"] == "numeric" and income["psi"] == pytest.approx(0.0, abs=1e-9)
    assert income["p_value"] == pytest.approx(ks_2samp(frame.income.round(2), frame.income.round(2)).pvalue)
    assert evaluation.metrics["overall"]["roc_auc"] == pytest.approx(roc_auc_score(frame.y_true, frame.y_score))


# --- A data set's rows get an upload's checks ---------------------------------------------------------------------
# Found by probing: the footer was checked at registration, the rows never were. A sensitive attribute with 5,000
# distinct values was stored as 5,000 groups (a 1 MB metrics document; nothing bounded it), and a group named
# "x\u202eevil" plus 100 KB was stored and shown, bidirectional override and all, where an upload refuses both.

def _register_frame(roots, client_as, capture, frame: pd.DataFrame, **version_fields) -> Evaluation:
    version = ModelVersionFactory(**version_fields)
    client = _scientist_of(version, client_as)
    path = roots / "rows.parquet"
    frame.to_parquet(path, row_group_size=1000)
    with capture(execute=True):
        response = _post(client, model_version=version.pk, path=str(path), kind="production",
                         sha256=hashlib.sha256(path.read_bytes()).hexdigest(), sensitive_features=["sex"])
    assert response.status_code == 201, response.content
    return Evaluation.objects.get(pk=response.json()["id"])


def _hostile_case(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    if name == "groups":
        frame["sex"] = [f"person-{n}" for n in range(len(frame))]
    elif name == "bidi":
        frame.loc[2500, "sex"] = "x\u202eevil"
    elif name == "length":
        frame.loc[2500, "sex"] = "y" * 5000
    elif name == "labels":
        frame.loc[2500, "y_true"] = 7
    return frame


@pytest.mark.parametrize(("case", "expected"), [
    ("groups", ["column 'sex'", "3,000 distinct values", "at most 50 groups (PORTAL_MAX_GROUPS_PER_FEATURE)"]),
    ("bidi", ["column 'sex', row 2501", "U+202E"]),
    ("length", ["column 'sex', row 2501", "longer than 4.0 KB", "PORTAL_MAX_LINE_KB"]),
    ("labels", ["column 'y_true', row 2501"]),
])
def test_rows_an_upload_would_refuse_fail_the_evaluation_and_store_nothing(roots, client_as, settings, case,
                                                                          expected, django_capture_on_commit_callbacks):
    settings.PORTAL_MAX_GROUPS_PER_FEATURE, settings.PORTAL_MAX_LINE_BYTES = 50, 4096
    frame, _ = _data_set(roots / "clean.parquet", n=3000)

    evaluation = _register_frame(roots, client_as, django_capture_on_commit_callbacks, _hostile_case(case, frame))

    assert evaluation.status == "failed" and evaluation.metrics is None
    assert "does not pass the checks an uploaded file gets" in evaluation.error
    for text in expected:
        assert text in evaluation.error, evaluation.error


def test_the_same_rows_without_the_hostile_value_are_computed(roots, client_as, settings,
                                                               django_capture_on_commit_callbacks):
    settings.PORTAL_MAX_GROUPS_PER_FEATURE, settings.PORTAL_MAX_LINE_BYTES = 50, 4096
    frame, _ = _data_set(roots / "clean.parquet", n=3000)

    evaluation = _register_frame(roots, client_as, django_capture_on_commit_callbacks, frame)

    assert evaluation.status == "done", evaluation.error
    assert evaluation.metrics["overall"]["accuracy"] == pytest.approx(accuracy_score(frame.y_true, frame.y_pred))
    assert set(evaluation.metrics["groups"]["sex"]) == {"female", "male"}


def test_it_gets_the_warnings_an_upload_would_get(roots, client_as, django_capture_on_commit_callbacks):
    frame, _ = _data_set(roots / "clean.parquet", n=3000)
    frame.loc[:9, "sex"] = "other"  # ten rows: too few to judge the group by

    evaluation = _register_frame(roots, client_as, django_capture_on_commit_callbacks, frame)

    assert evaluation.status == "done", evaluation.error
    assert len(evaluation.warnings) == 1 and "'other'" in evaluation.warnings[0]
    assert "fewer than 30 rows" in evaluation.warnings[0], evaluation.warnings
    page = client_as("executive").get(f"/monitoring/evaluations/{evaluation.pk}/").content.decode()
    assert "fewer than 30 rows" in page


@pytest.mark.parametrize("task_type", ["binary", "regression", "multiclass"])
def test_data_sets_without_score_or_timestamp_columns_are_checked_and_computed(roots, client_as, task_type,
                                                                                django_capture_on_commit_callbacks):
    frame, _ = _data_set(roots / "clean.parquet", n=600)
    frame = frame.drop(columns=["y_score", "timestamp"])
    if task_type == "regression":
        frame["y_true"], frame["y_pred"] = frame["income"] * 2, frame["income"] * 2 + 1
    elif task_type == "multiclass":
        frame["y_true"] = frame["y_true"] + frame["y_pred"]  # 0, 1 and 2

    evaluation = _register_frame(roots, client_as, django_capture_on_commit_callbacks, frame,
                                 model__task_type=task_type)

    assert evaluation.status == "done", evaluation.error
    assert evaluation.metrics["overall"]["count" if task_type == "regression" else "accuracy"] is not None
