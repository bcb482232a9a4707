"""Environment fidelity: compare the fingerprint a version was validated in with where it runs.

A fingerprint is ``{"python": "3.11.7", "os": "Linux", "packages": {"scikit-learn": "1.6.1", ...}}``.
Models are sensitive to the Python minor version and to the major.minor version of
their libraries (pickles, default hyperparameters, numerical kernels), so those
differences are flagged; patch releases are not. Pure functions, no Django imports.
"""

import platform
from dataclasses import asdict, dataclass
from importlib import metadata

KEY_PACKAGES = ("scikit-learn", "pandas", "numpy", "scipy", "xgboost", "lightgbm", "torch", "tensorflow")


@dataclass(frozen=True)
class Difference:
    component: str
    validated: str
    runtime: str

    def __str__(self) -> str:
        return f"{self.component}: validated {self.validated}, runs {self.runtime}"

    def as_dict(self) -> dict:
        return asdict(self)


def current_fingerprint(packages=KEY_PACKAGES) -> dict:
    """The fingerprint of the interpreter this code runs in."""
    found = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"python": platform.python_version(), "os": platform.system(), "packages": found}


def _minor(version: str) -> str:
    return ".".join(str(version).split(".")[:2])


def differences(validated: dict | None, runtime: dict | None) -> list[Difference]:
    """What differs between two fingerprints in a way that can change a model's behaviour."""
    if not validated or not runtime:
        return []
    found = []
    if validated.get("python") and runtime.get("python") and _minor(validated["python"]) != _minor(runtime["python"]):
        found.append(Difference("Python", validated["python"], runtime["python"]))
    if validated.get("os") and runtime.get("os") and validated["os"].lower() != runtime["os"].lower():
        found.append(Difference("OS", validated["os"], runtime["os"]))
    runtime_packages = {k.lower(): v for k, v in (runtime.get("packages") or {}).items()}
    for name, version in sorted((validated.get("packages") or {}).items()):
        running = runtime_packages.get(name.lower())
        if running is None:
            found.append(Difference(name, str(version), "not installed"))
        elif _minor(version) != _minor(running):
            found.append(Difference(name, str(version), str(running)))
    return found
