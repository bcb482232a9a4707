"""Memory benchmark of the batched computation: `.venv/bin/python bench/memory_bench.py [--rows 1000000 10000000]`.

For each row count, writes a binary evaluation (labels, a score to 3 decimals, 2 sensitive attributes, 25
features: 10 integer-valued, 10 amounts to 2 decimals, 2 continuous float64 with a distinct value in almost every
row, 3 categorical) to a temporary Parquet file in chunks of 500,000 rows (never whole in memory), in row groups
of ``ingest.PARQUET_ROW_GROUP_ROWS`` rows, plus a 200,000-row reference. Then each measurement runs in a fresh
subprocess, which reports its wall time and its peak resident memory above its resident memory after the imports
(``/proc/self/status``: the peak VmHWM, reset through ``/proc/self/clear_refs`` once the libraries are loaded and
warmed up, minus VmRSS at that moment; psutil is not installed and ``getrusage``'s peak cannot be reset):

* ``batched``: ``batches.compute_metrics`` (metrics, fairness for both attributes, drift of 25 features and of
  the score and prediction), the portal's computation;
* ``pandas``: ``pandas.read_parquet`` of the same file, nothing computed: the reference a whole-file approach
  starts from (only at row counts up to ``--pandas-max``, default 1,000,000);
* ``whole``: the previous computation, ``services.compute_metrics`` on the whole file read by
  ``ingest.read_parquet_bytes`` (only up to ``--pandas-max`` rows);
* ``scan``: a plain ``pyarrow`` ``iter_batches`` pass over the file (``pre_buffer=False``, as ``batches``
  reads), counting rows: the floor a batched reader cannot go below.

Prints a markdown table; ratios are against ``pandas`` (or ``scan`` where ``pandas`` was not run).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHUNK_ROWS = 500_000
REFERENCE_ROWS = 200_000
INTEGERS = tuple(f"n{i}" for i in range(10))
AMOUNTS = tuple(f"a{i}" for i in range(10))
CONTINUOUS = ("z0", "z1")
CATEGORIES = ("c0", "c1", "c2")
FEATURES = (*INTEGERS, *AMOUNTS, *CONTINUOUS, *CATEGORIES)
COLUMNS = {"target": "y_true", "prediction": "y_pred", "score": "y_score", "timestamp": None,
           "sensitive_features": ["sex", "region"], "features": list(FEATURES), "probability_columns": {}}


def _chunk(rows: int, seed: int, shift: float):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "west", "centre"], size=rows, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    y_true = rng.integers(0, 2, size=rows).astype(np.int8)
    score = np.clip(0.3 * y_true + 0.35 + rng.normal(0, 0.2, size=rows), 0, 1).round(3)
    columns = {"y_true": y_true, "y_pred": (score >= 0.5).astype(np.int8), "y_score": score,
               "sex": pd.Categorical(rng.choice(["female", "male"], size=rows)), "region": pd.Categorical(region)}
    for index, name in enumerate(INTEGERS):
        columns[name] = rng.integers(0, 100 + 10 * index, size=rows) + int(shift * index)
    for name in AMOUNTS:
        columns[name] = (rng.lognormal(4, 1, size=rows) + shift).round(2)
    for name in CONTINUOUS:
        columns[name] = rng.normal(shift, 1, size=rows)
    for index, name in enumerate(CATEGORIES):
        columns[name] = pd.Categorical(rng.choice([f"v{j}" for j in range(4 + 3 * index)], size=rows))
    return pd.DataFrame(columns)


def write(path: Path, rows: int, *, seed: int, shift: float = 0.0) -> None:
    """The data set, written chunk by chunk so the generator never holds it whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from apps.monitoring.ingest import PARQUET_ROW_GROUP_ROWS

    writer = None
    try:
        for start in range(0, rows, CHUNK_ROWS):
            table = pa.Table.from_pandas(_chunk(min(CHUNK_ROWS, rows - start), seed + start, shift),
                                         preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=PARQUET_ROW_GROUP_ROWS)
    finally:
        if writer is not None:
            writer.close()


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> None:
    """Start the peak (VmHWM) afresh at the current RSS: the imports' own peak is not the work's (Linux 4.0+)."""
    Path("/proc/self/clear_refs").write_text("5")


def measure(mode: str, path: str, reference: str) -> dict:
    """One measurement, in this (fresh) process: wall time and peak RSS above the RSS after the imports."""
    import pandas as pd
    import pyarrow.parquet as pq

    from apps.monitoring import batches

    if mode == "whole":
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlops_portal.settings")
        django.setup()
        from apps.monitoring import ingest
        from apps.monitoring.services import compute_metrics
    # Warm up what every mode uses (Arrow's memory pool and thread pool, pandas' conversion), so the growth
    # measured is the data's, not the libraries' one-off start-up.
    pq.ParquetFile(path).read_row_group(0, columns=["y_true"]).to_pandas()
    _reset_peak()
    baseline = _status_kb("VmRSS")
    started = time.perf_counter()
    rows = None
    if mode == "batched":
        result, rows = batches.compute_metrics([path], task_type="binary", columns=COLUMNS, reference=reference)
        assert len(result["drift"]) == len(FEATURES) and result["overall"]["roc_auc"] is not None
    elif mode == "pandas":
        rows = len(pd.read_parquet(path))
    elif mode == "whole":
        frame = ingest.read_parquet_bytes(Path(path).read_bytes())
        compute_metrics(frame, task_type="binary", columns=COLUMNS,
                        reference=ingest.read_parquet_bytes(Path(reference).read_bytes()))
        rows = len(frame)
    elif mode == "scan":
        rows = 0
        for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=batches.BATCH_ROWS):
            rows += batch.num_rows
    seconds = time.perf_counter() - started
    peak = _status_kb("VmHWM")
    return {"mode": mode, "rows": rows, "seconds": seconds, "peak_growth_mb": max(0, peak - baseline) / 1024}


def run(mode: str, path: Path, reference: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--measure", mode, str(path), str(reference)],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--pandas-max", type=int, default=1_000_000,
                        help="largest row count at which the whole-file measurements run")
    parser.add_argument("--dir", help="where the generated files go (default: a temporary folder)")
    parser.add_argument("--measure", nargs=3, metavar=("MODE", "PATH", "REFERENCE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {platform.processor() or platform.machine()} · "
          f"{os.cpu_count()} cores · Python {platform.python_version()}")
    print("| rows | measurement | time | peak RSS growth | time ratio | memory ratio | file size |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        reference = Path(folder) / "reference.parquet"
        write(reference, REFERENCE_ROWS, seed=10**9, shift=0.0)
        for rows in args.rows:
            path = Path(folder) / f"evaluation-{rows}.parquet"
            started = time.perf_counter()
            write(path, rows, seed=1, shift=0.1)
            size = path.stat().st_size / 1024**2
            print(f"| {rows:,} | (generate, chunked) | {time.perf_counter() - started:.1f} s | | | | {size:,.0f} MB |",
                  flush=True)
            modes = ["pandas", "whole", "scan", "batched"] if rows <= args.pandas_max else ["scan", "batched"]
            results = {mode: run(mode, path, reference) for mode in modes}
            base = results.get("pandas") or results["scan"]
            for mode, result in results.items():
                assert result["rows"] == rows, result
                time_ratio = result["seconds"] / base["seconds"]
                memory_ratio = result["peak_growth_mb"] / base["peak_growth_mb"] if base["peak_growth_mb"] else 0
                print(f"| {rows:,} | {mode} | {result['seconds']:.1f} s | {result['peak_growth_mb']:,.0f} MB | "
                      f"{time_ratio:.2f}x | {memory_ratio:.2f}x | |", flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
