"""A PEP 517 build backend in the standard library, so ``pip install ./client`` needs nothing to download.

A pure-Python package with one console script needs no more than this: a wheel is a zip of the package and a
``.dist-info`` directory (METADATA, WHEEL, entry_points.txt, RECORD), described in the packaging
specifications. Name, version, summary, Python requirement and scripts come from ``pyproject.toml``'s
``[project]`` table, so there is one place to change them.
"""

import base64
import hashlib
import io
import tarfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PACKAGE = "mlops_portal_client"


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _dist_name(project: dict) -> str:
    return f"{project['name'].replace('-', '_')}-{project['version']}"


def _metadata(project: dict) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}",
             f"Summary: {project['description']}", f"Requires-Python: {project['requires-python']}",
             f"License: {project['license']['text']}", "Description-Content-Type: text/markdown", ""]
    return "\n".join(lines) + "\n" + (ROOT / project["readme"]).read_text()


def _package_files() -> list[Path]:
    return sorted(p for p in (ROOT / PACKAGE).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".typed"))


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings=None) -> list[str]:
    return []


def get_requires_for_build_sdist(config_settings=None) -> list[str]:
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None) -> str:
    project = _project()
    dist = _dist_name(project)
    info = f"{dist}.dist-info"
    scripts = "".join(f"{name} = {target}\n" for name, target in project.get("scripts", {}).items())
    members = [(p.relative_to(ROOT).as_posix(), p.read_bytes()) for p in _package_files()]
    members += [
        (f"{info}/METADATA", _metadata(project).encode()),
        (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: mlops-portal-client build_backend\n"
                          b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
        (f"{info}/entry_points.txt", f"[console_scripts]\n{scripts}".encode()),
    ]
    record = "\n".join([*(_record_line(name, data) for name, data in members), f"{info}/RECORD,,"]) + "\n"
    filename = f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / filename, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in [*members, (f"{info}/RECORD", record.encode())]:
            wheel.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return filename


def build_sdist(sdist_directory, config_settings=None) -> str:
    project = _project()
    dist = _dist_name(project)
    files = [ROOT / "pyproject.toml", ROOT / "build_backend.py", ROOT / project["readme"], *_package_files()]
    filename = f"{dist}.tar.gz"
    with tarfile.open(Path(sdist_directory) / filename, "w:gz") as sdist:
        for path in files:
            sdist.add(path, arcname=f"{dist}/{path.relative_to(ROOT).as_posix()}")
        pkg_info = _metadata(project).encode()
        entry = tarfile.TarInfo(f"{dist}/PKG-INFO")
        entry.size = len(pkg_info)
        sdist.addfile(entry, io.BytesIO(pkg_info))
    return filename
