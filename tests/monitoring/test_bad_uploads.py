"""Malformed evaluation uploads through the API: each is refused with a clear 400 and stores nothing.

The corpus (tests/monitoring/corpus.py) is generated in memory. Below it, a property test that
``parse_evaluation`` fails only with ``IngestError`` whatever the bytes, and the CSV exports'
protection against formula injection.
"""

import csv
import hashlib
import io
import json
import string
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from apps.core.models import AuditEvent
from apps.monitoring import ingest, uploads
from apps.monitoring.models import Evaluation, ReferenceData
from apps.risk import services as risk_services
from tests.factories import api_key_for
from tests.inventory.factories import MLModelFactory
from tests.monitoring.corpus import (
    HARMLESS_AS_REFERENCE,
    Case,
    crash_class_uploads,
    malformed_uploads,
    oversized_upload,
)
from tests.reviews.helpers import assessed_version
from tests.risk.factories import ratings

URL = "/api/v1/evaluations/"
CASES = malformed_uploads()


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def api(make_user) -> APIClient:
    client = APIClient(raise_request_exception=False)  # a crash shows as a 500 in the assertion
    client.user = make_user("data_scientist", username="dana")  # make them a member of the model's team
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(client.user)}")
    return client


def stored_files(root: Path) -> list[Path]:
    return [path for path in Path(root).rglob("*") if path.is_file()] if Path(root).exists() else []


def post(api: APIClient, version, case: Case):
    body = {"model_version": version.pk, "file": SimpleUploadedFile(case.filename, case.data), "kind": "validation",
            **case.fields}
    return api.post(URL, body, format="multipart")


def assert_refused(response, case: Case, media: Path, audit_before: int) -> None:
    assert response.status_code == 400, (case.name, response.status_code, response.content[:500])
    body = response.json()
    assert body["detail"].startswith("The file was rejected and nothing was stored"), case.name
    assert body["problems"], case.name
    for problem in body["problems"]:
        assert set(problem) == {"column", "rows", "message"} and problem["message"]
    text = "; ".join(str(ingest.Problem(p["column"], tuple(p["rows"]), p["message"])) for p in body["problems"]).lower()
    missing = [word for word in case.words if word.lower() not in text]
    assert not missing, (case.name, missing, body["problems"])
    assert not Evaluation.objects.exists(), case.name
    assert not stored_files(media), (case.name, stored_files(media))
    assert AuditEvent.objects.count() == audit_before, case.name


def test_the_corpus_has_at_least_forty_distinct_files():
    assert len(CASES) >= 40
    assert len({case.data for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [case for case in CASES if case.data], ids=lambda case: case.name)
def test_it_refuses_a_malformed_upload_with_a_400_and_stores_nothing(api, media, case):
    version = assessed_version(team__members=[api.user])
    audit_before = AuditEvent.objects.count()

    response = post(api, version, case)

    assert_refused(response, case, media, audit_before)


def test_it_refuses_an_upload_over_the_size_limit_with_a_400_and_stores_nothing(api, media, settings):
    settings.PORTAL_MAX_UPLOAD_BYTES = 4096
    case = oversized_upload(4096)
    version = assessed_version(team__members=[api.user])
    audit_before = AuditEvent.objects.count()

    response = post(api, version, case)

    assert_refused(response, case, media, audit_before)


def test_it_refuses_an_empty_file_like_any_other_and_stores_nothing(api, media):
    (empty,) = [case for case in CASES if not case.data]
    version = assessed_version(team__members=[api.user])
    audit_before = AuditEvent.objects.count()

    response = post(api, version, empty)

    # The serializer lets an empty file through to the parser, so the answer has the usual shape.
    assert response.status_code == 400
    assert "empty" in " ".join(p["message"] for p in response.json()["problems"]).lower()
    assert not Evaluation.objects.exists() and not stored_files(media)
    assert AuditEvent.objects.count() == audit_before


def test_it_names_the_setting_that_refused_an_upload(api, media, settings):
    settings.PORTAL_MAX_ROWS = 2
    case = Case("three-rows", b"y_true,y_pred,y_score,sex\n1,1,0.9,f\n0,0,0.2,m\n1,0,0.4,f\n",
                ("3 rows", "at most 2", "PORTAL_MAX_ROWS"))
    version = assessed_version(team__members=[api.user])
    audit_before = AuditEvent.objects.count()

    response = post(api, version, case)

    assert_refused(response, case, media, audit_before)


def test_a_good_upload_after_the_refusals_is_stored(api, media):
    # The control: the same request with a well-formed file is accepted, so the refusals above are the file's.
    version = assessed_version(team__members=[api.user])
    good = Case("good", b"y_true,y_pred,y_score,sex\n1,1,0.9,female\n0,0,0.2,male\n", ())

    response = post(api, version, good)

    assert response.status_code == 201, response.content[:500]
    assert Evaluation.objects.count() == 1 and stored_files(media)


# --- files that crashed or bloated the process: refused by the parser alone, and through the reference API ----

CRASH_CLASS = crash_class_uploads()
ROOT = Path(__file__).resolve().parents[2]
# Run in a child process: before the bounds existed the first case killed the interpreter (SIGSEGV in Arrow).
PARSE_CRASH_CLASS = """
import json
from apps.monitoring import ingest
from tests.monitoring.corpus import crash_class_uploads

outcomes = {}
for case in crash_class_uploads():
    sensitive = [name for name in case.fields.get("sensitive_features", "").split(",") if name]
    for reader, parse in (("evaluation", lambda c: ingest.parse_evaluation(c.data, filename=c.filename,
                                                                           sensitive_features=sensitive)),
                          ("reference", lambda c: ingest.read_table(c.data, filename=c.filename))):
        try:
            parse(case)
            outcomes[f"{case.name} {reader}"] = "accepted"
        except ingest.IngestError as error:
            outcomes[f"{case.name} {reader}"] = "refused: " + str(error)
print(json.dumps(outcomes))
"""


def test_the_parser_refuses_every_crash_class_file_without_crashing():
    result = subprocess.run([sys.executable, "-c", PARSE_CRASH_CLASS], cwd=ROOT, capture_output=True, text=True,
                            timeout=600, check=False)

    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
    outcomes = json.loads(result.stdout)
    for case in CRASH_CLASS:
        evaluation, reference = outcomes[f"{case.name} evaluation"], outcomes[f"{case.name} reference"]
        assert evaluation.startswith("refused: "), (case.name, evaluation[:300])
        missing = [word for word in case.words if word.lower() not in evaluation.lower()]
        assert not missing, (case.name, missing, evaluation[:300])
        expected = "accepted" if case.name in HARMLESS_AS_REFERENCE else "refused: "
        assert reference.startswith(expected), (case.name, reference[:300])


def post_reference(api: APIClient, version, case: Case):
    return api.post(f"/api/v1/model-versions/{version.pk}/reference/",
                    {"file": SimpleUploadedFile(case.filename, case.data)}, format="multipart")


@pytest.mark.parametrize("case", [case for case in CRASH_CLASS if case.name not in HARMLESS_AS_REFERENCE],
                         ids=lambda case: case.name)
def test_it_refuses_a_crash_class_reference_file_with_a_400_and_stores_nothing(api, media, case):
    version = assessed_version(team__members=[api.user])
    audit_before = AuditEvent.objects.count()

    response = post_reference(api, version, case)

    assert response.status_code == 400, (case.name, response.status_code, response.content[:500])
    body = response.json()
    assert body["detail"].startswith("The file was rejected and nothing was stored"), case.name
    assert body["problems"] and all(problem["message"] for problem in body["problems"]), case.name
    assert not ReferenceData.objects.exists() and not stored_files(media), case.name
    assert AuditEvent.objects.count() == audit_before, case.name


def test_deep_nesting_inside_a_csv_cell_is_plain_text_to_the_reference_upload(api, media):
    (case,) = [case for case in CRASH_CLASS if case.name in HARMLESS_AS_REFERENCE]
    version = assessed_version(team__members=[api.user])

    response = post_reference(api, version, case)

    assert response.status_code == 201, response.content[:500]
    assert ReferenceData.objects.get().row_count == 3


# --- hostile files uploaded in parts: the streamed check refuses them, and nothing is kept ----------------------

def _parquet_bytes(table, **options) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


ROWS = 20_000
STREAMED = [
    Case("csv-quote-left-open-in-the-last-piece",
         b"y_true,y_pred,y_score\n" + b"1,1,0.9\n" * 600 + b'0,0,"0.2\n' + b"1,0,0.4\n" * 20,
         ("row 602", "never closed", "runs to the end of the file"), filename="big.csv"),
    Case("csv-whole-number-beyond-2-53", b"y_true,y_pred,account\n" + b"1,1,7\n" * 900 + b"0,0,9007199254740993\n",
         ("account", "row 902", "beyond ±2**53"), filename="big.csv"),
    Case("csv-not-utf8-mid-file", b"y_true,y_pred,city\n" + b"1,1,Paris\n" * 900 + b"0,0,K\xf6ln\n",
         ("city", "row 902", "not UTF-8"), filename="big.csv"),
    Case("parquet-row-group-over-the-decoded-bound",
         _parquet_bytes(pa.table({"y_true": np.ones(ROWS, np.int8), "y_pred": np.ones(ROWS, np.int8),
                                  "x": np.zeros(ROWS)})),
         ("row group 1", "PORTAL_MAX_DECODED_MB", "smaller row groups"), filename="big.parquet"),
    Case("parquet-decompression-bomb",
         _parquet_bytes(pa.table({"y_true": np.zeros(3_000_000, np.int8)}), compression="zstd"),
         ("3000000 rows", "decompression bomb"), filename="big.parquet"),
    Case("csv-group-name-with-a-control-character-mid-file",
         b"y_true,y_pred,sex\n" + b"1,1,female\n0,0,male\n" * 450 + b"0,0,ma\x07le\n",
         ("sex", "row 902", "U+0007", "printable"), filename="big.csv", fields={"sensitive_features": ["sex"]}),
    Case("parquet-binary-column", _parquet_bytes(pa.table({"y_true": [1, 0], "y_pred": [1, 0],
                                                           "blob": pa.array([b"\x00", b"\x01"])})),
         ("blob", "binary values"), filename="big.parquet"),
]


@pytest.mark.parametrize("case", STREAMED, ids=lambda case: case.name)
def test_a_hostile_file_in_parts_is_rejected_with_its_problems_and_leaves_nothing(
        api, media, settings, monkeypatch, django_capture_on_commit_callbacks, case):
    settings.PORTAL_UPLOAD_PART_BYTES = 1024
    settings.PORTAL_MAX_UPLOAD_BYTES = 1024  # every file above is checked as it streams
    settings.PORTAL_MAX_DECODED_BYTES = 100 * 1024  # the bound on a row group, handed to the streamed check
    monkeypatch.setattr(uploads, "STREAM_BLOCK_BYTES", 4096)
    version = assessed_version(team__members=[api.user])
    digest = hashlib.sha256(case.data).hexdigest()

    session = api.post("/api/v1/uploads/", {"model_version": version.pk, "filename": case.filename,
                                            "size": len(case.data), "sha256": digest, **case.fields},
                       format="json").json()
    for number, offset in enumerate(range(0, len(case.data), 1024), start=1):
        chunk = case.data[offset:offset + 1024]
        assert api.generic("PUT", f"/api/v1/uploads/{session['id']}/parts/{number}/", chunk,
                           content_type="application/octet-stream",
                           HTTP_X_PART_SHA256=hashlib.sha256(chunk).hexdigest()).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/uploads/{session['id']}/complete/").status_code == 202
    body = api.get(f"/api/v1/uploads/{session['id']}/").json()

    assert body["state"] == "rejected" and body["evaluation"] is None, body
    text = "; ".join(str(ingest.Problem(p["column"], tuple(p["rows"]), p["message"])) for p in body["problems"])
    assert not [word for word in case.words if word not in text], text
    assert not Evaluation.objects.exists() and not stored_files(media)
    assert AuditEvent.objects.filter(action="upload.rejected", object_id=session["id"]).count() == 1


# --- parse_evaluation never fails with anything but IngestError ----------------------------------------------

def _parse_or_refuse(data: bytes, **kwargs) -> None:
    try:
        parsed = ingest.parse_evaluation(data, filename=kwargs.pop("filename", "eval.csv"), **kwargs)
    except ingest.IngestError as error:
        assert error.problems and all(str(problem) for problem in error.problems)
    else:
        assert isinstance(parsed, ingest.ParsedEvaluation) and parsed.row_count > 0


PROPERTY = hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CELL = st.one_of(
    st.sampled_from(["", "0", "1", "2", "0.5", "1.7", "-0.1", "NaN", "inf", "-Infinity", "1e400", "abc", "0,5",
                     '"', '""', '"a,b"', "\t", " ", "2024-05-31T14:00:00Z", "yesterday", "True", "é"]),
    st.text(alphabet=string.printable + "éü€\u2028", max_size=8),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**20, 10**20).map(str),
)
NAMES = st.sampled_from(["y_true", "y_pred", "y_score", "timestamp", "sex", "income", "", "y_score_1", "a"])


@PROPERTY
@given(data=st.binary(max_size=2048), filename=st.sampled_from(["eval.csv", "eval.jsonl", "eval.parquet", "x"]))
def test_it_parses_or_refuses_arbitrary_bytes(data, filename):
    _parse_or_refuse(data, filename=filename)


@PROPERTY
@given(
    names=st.lists(NAMES, min_size=1, max_size=7),
    rows=st.lists(st.lists(CELL, min_size=0, max_size=8), max_size=12),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    task_type=st.sampled_from(["binary", "multiclass", "regression"]),
    sensitive=st.sampled_from([(), ("sex",), ("income",)]),
    quote=st.booleans(),
)
def test_it_parses_or_refuses_random_csvs(names, rows, delimiter, newline, task_type, sensitive, quote):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline,
                        quoting=csv.QUOTE_ALL if quote else csv.QUOTE_MINIMAL)
    writer.writerow(names)
    writer.writerows(rows)
    _parse_or_refuse(buffer.getvalue().encode(), task_type=task_type, sensitive_features=sensitive)


@PROPERTY
@given(lines=st.lists(st.one_of(
    st.dictionaries(NAMES, st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), CELL,
                                     st.lists(st.integers(), max_size=2)), max_size=5),
    st.text(max_size=20),
), max_size=8))
def test_it_parses_or_refuses_random_json_lines(lines):
    text = "\n".join(json.dumps(line) if isinstance(line, dict) else line for line in lines)
    _parse_or_refuse(text.encode(), filename="eval.jsonl")


# --- CSV exports do not hand spreadsheets a formula -------------------------------------------------------------

def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response).decode() if response.streaming else
                                       response.content.decode())))


def test_the_inventory_and_risk_register_exports_escape_formula_cells(client_as):
    model = MLModelFactory(name="=cmd|' /C calc'!A0", purpose="@SUM(A1:A9)")
    values = ratings()
    values["degradation"]["rationale"] = "+SUM(1)"
    draft = risk_services.assessment_save_draft(actor=None, model=model, ratings=values, exposure=model.exposure)
    risk_services.assessment_submit(actor=None, assessment=draft, based_on_id=None)
    client = client_as("executive")

    inventory = read_csv(client.get(reverse("inventory:export")))
    register = read_csv(client.get(reverse("risk:register-export")))

    (row,) = [row for row in inventory[1:] if row[0] == model.slug]
    assert row[inventory[0].index("name")] == "'=cmd|' /C calc'!A0"
    assert row[inventory[0].index("purpose")] == "'@SUM(A1:A9)"
    names = {row[register[0].index("model")] for row in register[1:]}
    assert names == {"'=cmd|' /C calc'!A0"}
    rationales = [row[register[0].index("rationale")] for row in register[1:]]
    assert "'+SUM(1)" in rationales and "+SUM(1)" not in rationales
    cells = [cell for row in inventory[1:] + register[1:] for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]
