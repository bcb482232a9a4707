"""The client's command line without a server: options in either place, exit statuses, --field."""

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import build_backend
import pytest
from mlops_portal_client.cli import build_parser, main, pick

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("argv", [
    ["--url", "http://portal:8000", "--token", "t", "upload", "--version", "12", "results.csv"],
    ["upload", "--url", "http://portal:8000", "--token", "t", "--version", "12", "results.csv"],
    ["--url", "http://portal:8000", "upload", "--token", "t", "--version", "12", "results.csv"],
])
def test_connection_options_go_before_or_after_the_command(argv):
    args = build_parser().parse_args(argv)
    assert (args.url, args.token, args.version, args.file) == ("http://portal:8000", "t", 12, "results.csv")


def test_the_token_is_required(monkeypatch, capsys):
    monkeypatch.delenv("PORTAL_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(["status", "1"])
    assert exit_.value.code == 2 and "--token (or PORTAL_TOKEN) is required" in capsys.readouterr().err


def test_an_unreachable_portal_exits_3(capsys):
    assert main(["--url", "http://127.0.0.1:9", "--token", "t", "status", "1"]) == 3
    assert "Cannot reach the portal at http://127.0.0.1:9" in capsys.readouterr().err


def test_a_missing_file_exits_2_naming_it(capsys, tmp_path):
    missing = tmp_path / "nope.csv"
    assert main(["--url", "http://127.0.0.1:9", "--token", "t", "upload", "--version", "1", str(missing)]) == 2
    assert f"Cannot read {missing}" in capsys.readouterr().err


def test_bad_json_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--token", "t", "register-version", "--model", "m", "--version", "1", "--metrics", "{oops"])
    assert exit_.value.code == 2 and "not JSON" in capsys.readouterr().err


def test_an_s3_url_without_its_sha256_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--token", "t", "register-evaluation", "--version", "1", "s3://lake/eval/march.parquet"])
    assert exit_.value.code == 2 and "--sha256 is required for an s3:// URL" in capsys.readouterr().err


def test_concurrency_is_a_count_of_parts_at_least_one(capsys):
    upload = ["--url", "http://portal:8000", "--token", "t", "upload", "--version", "1"]
    assert build_parser().parse_args([*upload, "results.csv"]).concurrency == 2
    assert build_parser().parse_args([*upload, "--concurrency", "4", "results.csv"]).concurrency == 4
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*upload, "--concurrency", "0", "results.csv"])
    assert exit_.value.code == 2 and "must be at least 1" in capsys.readouterr().err


def test_field_reaches_inside_the_answer():
    answer = {"id": 3, "governance": {"status": "compliant", "reasons": []}}
    assert pick(answer, "governance.status") == "compliant" and pick(answer, "id") == 3
    with pytest.raises(KeyError):
        pick(answer, "governance.nope")


def test_the_old_module_still_runs_the_client():
    answer = subprocess.run([sys.executable, "-m", "mlops_portal.client", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert answer.returncode == 0 and "register-model" in answer.stdout and "governance" in answer.stdout


def test_the_package_needs_only_the_standard_library():
    """Nothing outside the standard library is imported, by a fresh interpreter that cannot see the portal."""
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'client')!r}); import mlops_portal_client.cli; "
            "print(sorted({m.split('.')[0] for m in sys.modules} - sys.stdlib_module_names - {'__main__'}))")
    # -I -S: no site-packages, no .pth hooks, no environment.
    answer = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0, answer.stderr
    assert set(eval(answer.stdout)) <= {"mlops_portal_client"}  # noqa: S307 - our own printed list


def test_the_build_backend_makes_a_wheel_and_an_sdist_with_the_whole_package(tmp_path):
    with zipfile.ZipFile(tmp_path / build_backend.build_wheel(str(tmp_path))) as wheel:
        names = set(wheel.namelist())
        scripts = wheel.read("mlops_portal_client-1.0.0.dist-info/entry_points.txt").decode()
    assert {"mlops_portal_client/cli.py", "mlops_portal_client/py.typed",
            "mlops_portal_client-1.0.0.dist-info/RECORD"} <= names
    assert "mlops-portal = mlops_portal_client.cli:main" in scripts
    with tarfile.open(tmp_path / build_backend.build_sdist(str(tmp_path))) as sdist:
        members = set(sdist.getnames())
    assert {f"mlops_portal_client-1.0.0/{name}" for name in (
        "pyproject.toml", "build_backend.py", "PKG-INFO", "mlops_portal_client/client.py")} <= members
