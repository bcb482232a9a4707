"""The data scientists' client against a live server: standard library only, real HTTP."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

from mlops_portal.client import PortalClient, PortalError
from tests.factories import api_key_for
from tests.monitoring.test_services import evaluation_csv
from tests.reviews.helpers import assessed_version

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sam(make_user):
    return make_user("data_scientist", username="sam")


@pytest.fixture
def token(sam, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return api_key_for(sam)


def test_the_client_uploads_a_dataframe_and_waits_for_the_metrics(live_server, token, sam):
    version = assessed_version(team__members=[sam])  # sam's team uploads to its own model
    _, frame = evaluation_csv()
    client = PortalClient(live_server.url, token)
    evaluation = client.upload_evaluation(version.pk, frame, sensitive_features=["sex"])
    assert evaluation["status"] in ("queued", "done")
    result = client.wait(evaluation["id"], timeout=60)
    assert result["status"] == "done"
    assert result["metrics"]["overall"]["accuracy"] == pytest.approx(accuracy_score(frame.y_true, frame.y_pred))


def test_the_command_line_uploads_a_file_and_reports_problems(live_server, token, tmp_path, sam):
    version = assessed_version(team__members=[sam])  # sam's team uploads to its own model
    good = tmp_path / "results.csv"
    good.write_bytes(evaluation_csv()[0])
    ok = subprocess.run([sys.executable, "-m", "mlops_portal.client", "--url", live_server.url, "--token", token,
                         "upload", "--version", str(version.pk), "--sensitive-features", "sex", "--wait", str(good)],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "done"

    bad = tmp_path / "bad.csv"
    pd.DataFrame({"y_true": [1, 0], "y_pred": [1, 0], "y_score": [0.9, 1.7]}).to_csv(bad, index=False)
    refused = subprocess.run([sys.executable, "-m", "mlops_portal.client", "--url", live_server.url, "--token", token,
                              "upload", "--version", str(version.pk), str(bad)],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert "HTTP 400" in refused.stderr and "column 'y_score'" in refused.stderr and "row 3" in refused.stderr


def test_a_replayed_upload_with_the_same_key_creates_one_evaluation(live_server, token, sam):
    from apps.monitoring.models import Evaluation

    version = assessed_version(team__members=[sam])  # sam's team uploads to its own model
    data, _ = evaluation_csv()
    client = PortalClient(live_server.url, token)
    first = client.upload_evaluation(version.pk, data, idempotency_key="run-42")
    second = client.upload_evaluation(version.pk, data, idempotency_key="run-42")
    assert first["id"] == second["id"] and Evaluation.objects.count() == 1


def test_a_wrong_token_is_a_clear_error(live_server, db):
    with pytest.raises(PortalError, match="HTTP 401"):
        PortalClient(live_server.url, "not-a-token").evaluation(1)


def test_the_command_line_registers_a_data_set_by_reference_hashing_it_itself(live_server, token, tmp_path, sam,
                                                                              settings):
    version = assessed_version(team__members=[sam])
    settings.PORTAL_DATA_ROOTS = [str(tmp_path)]
    _, frame = evaluation_csv()
    frame.to_parquet(tmp_path / "results.parquet")
    command = [sys.executable, "-m", "mlops_portal.client", "--url", live_server.url, "--token", token,
               "register-evaluation", "--version", str(version.pk), "--sensitive-features", "sex"]

    done = subprocess.run([*command, "--wait", str(tmp_path / "results.parquet")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    refused = subprocess.run([*command, str(tmp_path.parent / "elsewhere.parquet")], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["status"] == "done" and answer["source_uri"] == str((tmp_path / "results.parquet").resolve())
    assert answer["metrics"]["overall"]["accuracy"] == pytest.approx(accuracy_score(frame.y_true, frame.y_pred))
    assert refused.returncode == 2 and "elsewhere.parquet" in refused.stderr  # not readable here to hash
