"""The parts of bench/mlflow_compare.py that need neither MLflow nor a server: statistics, table, verdict,
the pinned requirement, the bulk load into MLflow's tables, and the command line."""

import importlib.util
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "bench" / "mlflow_compare.py"
_spec = importlib.util.spec_from_file_location("mlflow_compare", _PATH)
mlflow_compare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mlflow_compare)


def summary(p50: float, p95: float, n: int = 200) -> dict:
    return {"n": n, "p50": p50, "p95": p95}


def registration(portal_rate: float, mlflow_rate: float) -> dict:
    return {"portal": {**summary(0.02, 0.03, 1000), "rate": portal_rate},
            "mlflow": {**summary(0.05, 0.08, 1000), "rate": mlflow_rate}}


def test_it_takes_nearest_rank_percentiles():
    values = [float(v) for v in range(1, 21)]
    assert mlflow_compare.percentile(values, 0.95) == 19.0
    assert mlflow_compare.percentile(list(reversed(values)), 0.5) == 10.0
    assert mlflow_compare.percentile([0.3], 0.95) == 0.3
    assert mlflow_compare.summary([0.4, 0.1, 0.3, 0.2]) == {"n": 4, "p50": 0.25, "p95": 0.4}


def test_it_refuses_a_percentile_of_nothing():
    with pytest.raises(ValueError):
        mlflow_compare.percentile([], 0.95)


def test_it_formats_times_in_readable_units():
    assert [mlflow_compare.fmt_time(s) for s in (0.000512, 0.0421, 2.5)] == ["512 µs", "42.1 ms", "2.50 s"]


def test_the_ratio_is_mlflow_time_over_portal_time_and_rates_compare_the_other_way():
    reads = [{"name": "get one model", "portal": summary(0.010, 0.020), "mlflow": summary(0.030, 0.050)}]
    head, rows, everywhere = mlflow_compare.result_rows(registration(60.0, 20.0), reads)
    assert everywhere
    assert rows[0][2:5] == ["60.0/s", "20.0/s", "3.00x"]
    assert rows[1][2:5] == ["10.0 ms", "30.0 ms", "3.00x"]
    assert rows[1][7:] == ["2.50x", "yes"]
    assert len(head) == len(rows[0]) == len(rows[1])


@pytest.mark.parametrize("portal_p95", [0.020, 0.060])
def test_a_row_where_the_portal_is_slower_fails_the_run(portal_p95):
    slower_p50 = {"name": "first page", "portal": summary(0.040, 0.060), "mlflow": summary(0.030, 0.050)}
    slower_p95 = {"name": "tag filter", "portal": summary(0.010, portal_p95), "mlflow": summary(0.030, 0.050)}
    _, rows, everywhere = mlflow_compare.result_rows(registration(60.0, 20.0), [slower_p50, slower_p95])
    assert not everywhere
    assert rows[1][-1] == "NO"
    assert rows[2][-1] == ("yes" if portal_p95 < 0.050 else "NO")
    _, rows, everywhere = mlflow_compare.result_rows(registration(10.0, 20.0), [])
    assert (rows[0][-1], everywhere) == ("NO", False)


def test_the_table_is_aligned_markdown():
    text = mlflow_compare.table(["measurement", "portal"], [["get", "1.0 ms"], ["first page of the list", "12.5 ms"]])
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[1].startswith("|---") and lines[2].startswith("| get ") and lines[2].endswith("  1.0 ms |")


def test_it_reads_the_pinned_mlflow_of_the_bench_extra(tmp_path):
    assert mlflow_compare.mlflow_requirement().startswith("mlflow==")
    loose = tmp_path / "pyproject.toml"
    loose.write_text('[project.optional-dependencies]\nbench = ["mlflow>=3"]\n')
    with pytest.raises(SystemExit):
        mlflow_compare.mlflow_requirement(loose)


MLFLOW_TABLES = """
CREATE TABLE registered_models (name VARCHAR(256) NOT NULL, creation_time BIGINT, last_updated_time BIGINT,
    description VARCHAR(5000), workspace VARCHAR(63) DEFAULT 'default' NOT NULL, PRIMARY KEY (workspace, name));
CREATE TABLE registered_model_tags ("key" VARCHAR(250) NOT NULL, value VARCHAR(5000), name VARCHAR(256) NOT NULL,
    workspace VARCHAR(63) DEFAULT 'default' NOT NULL, PRIMARY KEY (workspace, "key", name));
CREATE TABLE model_versions (name VARCHAR(256) NOT NULL, version INTEGER NOT NULL, creation_time BIGINT,
    last_updated_time BIGINT, description VARCHAR(5000), user_id VARCHAR(256), current_stage VARCHAR(20),
    source VARCHAR(500), run_id VARCHAR(32), status VARCHAR(20), status_message VARCHAR(500), run_link VARCHAR(500),
    storage_location VARCHAR(500), workspace VARCHAR(63) DEFAULT 'default' NOT NULL,
    PRIMARY KEY (workspace, name, version));
"""


def test_it_writes_the_same_models_tags_and_versions_into_mlflow_tables(tmp_path):
    database = tmp_path / "mlflow.db"
    with sqlite3.connect(database) as db:
        db.executescript(MLFLOW_TABLES)
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    versions = [{"version": "1.0.0", "stage": "retired", "created_at": at, "updated_at": at},
                {"version": "1.1.0", "stage": "production", "created_at": at, "updated_at": at}]
    mlflow_compare.mlflow_bulk_load(database, [
        {"name": "Model 7", "slug": "model-7", "purpose": "Predict.", "created_at": at, "updated_at": at,
         "tags": ["tag-3", "tag-9"], "versions": versions},
        {"name": "Model 8", "slug": "model-8", "purpose": "Rank.", "created_at": at, "updated_at": at,
         "tags": [], "versions": [{**versions[0], "stage": "development"}]},
    ])
    millis = int(at.timestamp() * 1000)
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT name, creation_time, description, workspace FROM registered_models "
                          "ORDER BY name").fetchall() == [("Model 7", millis, "Predict.", "default"),
                                                          ("Model 8", millis, "Rank.", "default")]
        assert db.execute('SELECT "key", value, name FROM registered_model_tags ORDER BY "key"').fetchall() == [
            ("tag-3", "true", "Model 7"), ("tag-9", "true", "Model 7")]
        assert db.execute("SELECT name, version, current_stage, source, status FROM model_versions "
                          "ORDER BY name, version").fetchall() == [
            ("Model 7", 1, "Archived", "s3://bench/models/model-7/1.0.0", "READY"),
            ("Model 7", 2, "Production", "s3://bench/models/model-7/1.1.0", "READY"),
            ("Model 8", 1, "None", "s3://bench/models/model-8/1.0.0", "READY"),
        ]


def test_help_needs_no_mlflow(capsys):
    with pytest.raises(SystemExit) as exit_:
        mlflow_compare.main(["--help"])
    assert exit_.value.code == 0
    assert "--mlflow-venv" in capsys.readouterr().out


def test_it_refuses_a_registration_count_that_leaves_nothing_to_bulk_load(capsys):
    with pytest.raises(SystemExit) as exit_:
        mlflow_compare.main(["--models", "1000", "--register", "950"])
    assert exit_.value.code == 2
    assert "--register" in capsys.readouterr().err


def test_registration_alternates_systems_model_by_model_and_rates_their_own_time():
    calls = []

    def register(system, seconds):
        def call(index, name):
            calls.append((system, index, name))
            return seconds
        return call

    result = mlflow_compare.register_alternating(["a", "b"], {"portal": register("portal", 0.01),
                                                            "mlflow": register("mlflow", 0.04)})
    assert calls == [("portal", 0, "a"), ("mlflow", 0, "a"), ("portal", 1, "b"), ("mlflow", 1, "b")]
    assert result["portal"]["rate"] == pytest.approx(100.0) and result["mlflow"]["rate"] == pytest.approx(25.0)
    assert result["mlflow"]["spent"] == pytest.approx(0.08) and result["portal"]["n"] == 2


def test_it_counts_the_cpu_time_of_a_process_group_and_waits_for_it_to_go_idle():
    busy = subprocess.Popen([sys.executable, "-c", "import time\nt = time.process_time()\n"
                             "while time.process_time() - t < 0.5: pass\ntime.sleep(30)"],
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while mlflow_compare.group_cpu_seconds(busy.pid) < 0.4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert mlflow_compare.group_cpu_seconds(busy.pid) >= 0.4
        # Asleep now: idle after one calm second, far sooner than the limit.
        started = time.monotonic()
        mlflow_compare.wait_until_idle([busy.pid], seconds=1, limit=10)
        assert time.monotonic() - started < 5
        assert mlflow_compare.group_cpu_seconds(os.getpid() + 10_000_000) == 0
    finally:
        busy.kill()
        busy.wait()
