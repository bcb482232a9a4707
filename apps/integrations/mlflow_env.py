"""What an MLflow model version says of itself, read from the files MLflow logs with it. Pure, no Django.

MLflow writes ``MLmodel`` (flavors, signature, the Python version), ``requirements.txt``, ``python_env.yaml`` and
``conda.yaml`` beside every logged model. The portal turns them into the version's validated environment
fingerprint (``apps.inventory.environment``: ``{"python": ..., "packages": {...}}``), its framework and its
signature. MLflow does not record the operating system, so the fingerprint has none.
"""

import json
import re

import yaml

ENVIRONMENT_FILES = ("requirements.txt", "python_env.yaml", "conda.yaml")
MLMODEL = "MLmodel"
# Flavors named by the library a person knows them as, with the MLmodel key holding its version.
FLAVOR_LIBRARIES = {"sklearn": ("scikit-learn", "sklearn_version"), "xgboost": ("xgboost", "xgb_version"),
                    "lightgbm": ("lightgbm", "lgb_version"), "pytorch": ("torch", "pytorch_version"),
                    "tensorflow": ("tensorflow", "keras_version"), "keras": ("keras", "keras_version")}
_PINNED = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#,]+)")


class EnvironmentFileError(ValueError):
    """A file MLflow logged that cannot be read as what its name says."""


def load_yaml(text: str, name: str) -> dict:
    try:
        found = yaml.safe_load(text) if text else {}
    except yaml.YAMLError as exc:
        raise EnvironmentFileError(f"{name} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise EnvironmentFileError(f"{name} does not hold a mapping at its top level.")
    return found


def pinned_packages(lines) -> dict[str, str]:
    """``name==version`` requirements as ``{name: version}``; unpinned ones, options and comments left out."""
    found = {}
    for line in lines:
        match = _PINNED.match(str(line))
        if match:
            found[match.group(1)] = match.group(2)
    return found


def _conda_python_and_pip(conda: dict) -> tuple[str, list[str]]:
    python, pip = "", []
    for dependency in conda.get("dependencies") or []:
        if isinstance(dependency, dict):
            pip += [str(p) for p in dependency.get("pip") or []]
        elif str(dependency).startswith("python="):
            python = str(dependency).split("=", 1)[1]
    return python, pip


def fingerprint(files: dict[str, str]) -> dict:
    """The validated environment from the files MLflow logged (``{file name: text}``); {} when none says anything.

    The Python version comes from ``python_env.yaml``, else ``conda.yaml``, else ``MLmodel``; the packages from
    ``requirements.txt``, else the pip section of ``conda.yaml``.
    """
    python_env = load_yaml(files.get("python_env.yaml", ""), "python_env.yaml")
    conda = load_yaml(files.get("conda.yaml", ""), "conda.yaml")
    mlmodel = load_yaml(files.get(MLMODEL, ""), MLMODEL)
    conda_python, conda_pip = _conda_python_and_pip(conda)
    pyfunc = (mlmodel.get("flavors") or {}).get("python_function") or {}
    python = str(python_env.get("python") or conda_python or pyfunc.get("python_version") or "")
    packages = pinned_packages(files.get("requirements.txt", "").splitlines()) or pinned_packages(conda_pip)
    found = {}
    if python:
        found["python"] = python
    if packages:
        found["packages"] = dict(sorted(packages.items(), key=lambda item: item[0].lower()))
    return found


def framework(mlmodel_text: str) -> str:
    """``scikit-learn 1.6.1`` from the MLmodel flavors; the flavor's name when the library is not a known one."""
    flavors = load_yaml(mlmodel_text, MLMODEL).get("flavors") or {}
    for flavor, settings in flavors.items():
        if flavor == "python_function":
            continue
        library, key = FLAVOR_LIBRARIES.get(flavor, (flavor, ""))
        version = (settings or {}).get(key, "") if key else ""
        return f"{library} {version}".strip()[:60]
    return ""


def signature(mlmodel_text: str) -> dict:
    """The model's signature (inputs, outputs, params) as JSON, as MLflow stores it as JSON strings in MLmodel."""
    stored = load_yaml(mlmodel_text, MLMODEL).get("signature") or {}
    found = {}
    for part in ("inputs", "outputs", "params"):
        value = stored.get(part)
        if not value:
            continue
        try:
            found[part] = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError as exc:
            raise EnvironmentFileError(f"The signature's {part} in MLmodel is not JSON.") from exc
    return found


def production_marks(*, aliases, stage: str, names) -> list[str]:
    """The aliases and the stage that mean production (``names``, from the settings), as sentences' parts."""
    wanted = set(names)
    marks = [f"alias {alias}" for alias in sorted(aliases) if alias in wanted]
    if stage and stage in wanted:
        marks.append(f"stage {stage}")
    return marks
