"""Every client command line the README prints, run as printed in a clean virtualenv against a live server.

The virtualenv is new (``python3 -m venv``), holds nothing but what ``pip install ./client`` puts there, and
installs offline: the client builds with its own standard-library backend.
"""

import io
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from apps.inventory.models import MLModel, ModelVersion
from apps.monitoring.models import Evaluation, ReferenceData
from tests.compliance.factories import UseCaseFactory
from tests.factories import api_key_for
from tests.inventory.factories import TeamFactory
from tests.monitoring.test_services import evaluation_csv

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def readme_client_blocks() -> list[str]:
    """The README's shell blocks that run the client."""
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    return [block for block in blocks if re.search(r"^(\S+=\$\()?mlops-portal ", block, re.M)]


@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory) -> Path:
    """A new virtualenv and a checkout-like directory holding only ``client/``."""
    home = tmp_path_factory.mktemp("readme")
    venv = home / "venv"
    # The system interpreter's venv, not this test run's: nothing of the portal's environment leaks in.
    python = shutil.which("python3", path=os.defpath + os.pathsep + os.environ["PATH"]) or sys.executable
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
    shutil.copytree(ROOT / "client", home / "client", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return home


def shell(block: str, *, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_readme_has_client_commands_and_no_stale_ones():
    blocks = readme_client_blocks()
    assert blocks and any("pip install ./client" in block for block in blocks)
    assert "python -m mlops_portal.client upload --url" not in README  # the form that exited 2


def test_every_readme_client_command_works_as_printed(clean_venv, live_server, make_user, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    sam = make_user("data_scientist", username="sam")
    TeamFactory(name="Retail analytics", slug="retail-analytics", members=[sam])
    use_case = UseCaseFactory(title="Churn risk", business_owner=sam)  # approved, waiting for its model
    data, _ = evaluation_csv(start=datetime(2026, 11, 1, tzinfo=UTC))
    (clean_venv / "results.csv").write_bytes(data)
    (clean_venv / "training_features.csv").write_bytes(evaluation_csv(seed=1)[0])
    # The data set register-evaluation names where it is: the portal may read the checkout's folder.
    settings.PORTAL_DATA_ROOTS = [str(clean_venv)]
    frame = evaluation_csv(seed=2, start=datetime(2026, 11, 1, tzinfo=UTC))[1]
    frame.assign(timestamp=pd.to_datetime(frame.timestamp, utc=True)).to_parquet(clean_venv / "results.parquet")
    outcomes = pd.read_csv(io.BytesIO(evaluation_csv(seed=2)[0])).rename_axis("prediction_id").reset_index()
    outcomes.drop(columns="y_true").to_csv(clean_venv / "predictions.csv", index=False)
    outcomes[["prediction_id", "y_true"]].head(100).to_csv(clean_venv / "outcomes.csv", index=False)
    venv_bin = clean_venv / "venv" / "bin"
    env = {"PATH": f"{venv_bin}{os.pathsep}{os.defpath}", "HOME": str(clean_venv), "PIP_NO_INDEX": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PORTAL_URL": live_server.url, "PORTAL_TOKEN": api_key_for(sam),
           "USE_CASE": use_case.reference}
    outputs = []
    for block in readme_client_blocks():
        done = shell(block, cwd=clean_venv, env=env)
        assert done.returncode == 0, f"README block failed:\n{block}\n--- out\n{done.stdout}\n--- err\n{done.stderr}"
        outputs.append(done.stdout)
    assert (venv_bin / "mlops-portal").exists()
    listing = subprocess.run([venv_bin / "python", "-m", "pip", "list", "--format=freeze"], capture_output=True,
                             text=True, check=True, env=env).stdout
    assert {line.split("==")[0] for line in listing.split()} <= {"mlops-portal-client", "pip", "setuptools"}
    model = MLModel.objects.get(slug="churn-risk")
    version = ModelVersion.objects.get(model=model, version="1.0.0")
    assert version.validation_metrics == {"roc_auc": 0.91}
    assert ReferenceData.objects.filter(version=version).exists()
    evaluations = Evaluation.objects.filter(version=version)
    assert [e.status for e in evaluations] == ["done", "done"]
    assert evaluations.filter(source_uri=str((clean_venv / "results.parquet").resolve())).exists()
    printed = "".join(outputs)
    assert "churn-risk" in printed and '"status": "done"' in printed
    assert "not cleared for production yet" in printed  # a fresh version has no approval: the gate is closed
    late = Evaluation.objects.get(version__version="1.1.0")
    assert late.status == "done" and late.metrics["labels"] == {"rows": 400, "labelled_rows": 100, "coverage": 0.25}
    assert '"labelled_rows": 100' in printed
    use_case.refresh_from_db()
    assert use_case.model == model and model.purpose == "Flag customers likely to leave"
