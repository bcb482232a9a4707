"""The files MLflow logs with a model, read into the version's environment, framework and signature (pure)."""

import pytest

from apps.integrations import mlflow_env as env
from apps.integrations.mlflow_client import artifact_path

MLMODEL = """
flavors:
  python_function:
    python_version: 3.11.4
  sklearn:
    sklearn_version: 1.6.1
signature:
  inputs: '[{"type": "double", "name": "income"}]'
  outputs: '[{"type": "long"}]'
  params: null
"""


def test_it_takes_python_from_python_env_and_packages_from_requirements():
    files = {"python_env.yaml": "python: 3.11.7\ndependencies:\n- -r requirements.txt\n",
             "requirements.txt": "mlflow==3.1.0\nscikit-learn==1.6.1\n# a comment\npandas>=2\n-r other.txt\n",
             "conda.yaml": "dependencies:\n- python=3.10.1\n- pip:\n  - numpy==1.0\n", "MLmodel": MLMODEL}
    assert env.fingerprint(files) == {"python": "3.11.7", "packages": {"mlflow": "3.1.0", "scikit-learn": "1.6.1"}}


def test_it_falls_back_to_conda_then_mlmodel():
    conda = "dependencies:\n- python=3.10.1\n- pip:\n  - numpy==1.26.4\n  - torch[cpu]==2.2.0 ; python_version>'3'\n"
    assert env.fingerprint({"conda.yaml": conda}) == {"python": "3.10.1",
                                                      "packages": {"numpy": "1.26.4", "torch": "2.2.0"}}
    assert env.fingerprint({"MLmodel": MLMODEL}) == {"python": "3.11.4"}
    assert env.fingerprint({}) == {}


def test_it_names_the_framework_and_reads_the_signature():
    assert env.framework(MLMODEL) == "scikit-learn 1.6.1"
    assert env.framework("flavors:\n  python_function: {}\n  catboost: {}\n") == "catboost"
    assert env.signature(MLMODEL) == {"inputs": [{"type": "double", "name": "income"}], "outputs": [{"type": "long"}]}


def test_a_broken_file_is_refused_with_its_name():
    with pytest.raises(env.EnvironmentFileError, match="python_env.yaml is not valid YAML"):
        env.fingerprint({"python_env.yaml": "python: [3.11"})
    with pytest.raises(env.EnvironmentFileError, match="conda.yaml does not hold a mapping"):
        env.fingerprint({"conda.yaml": "- just a list"})


def test_production_marks_are_the_aliases_and_stage_named_in_the_settings():
    names = ["champion", "prod", "Production"]
    assert env.production_marks(aliases=["prod", "challenger", "champion"], stage="Production", names=names) == [
        "alias champion", "alias prod", "stage Production"]
    assert env.production_marks(aliases=["challenger"], stage="Staging", names=names) == []


def test_only_artifacts_served_by_the_tracking_server_are_read():
    assert artifact_path("mlflow-artifacts:/0/models/m-1/artifacts") == "0/models/m-1/artifacts"
    assert artifact_path("mlflow-artifacts://host:5000/0/x") == "0/x"
    assert artifact_path("s3://bucket/0/x") is None
