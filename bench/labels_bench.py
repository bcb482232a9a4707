"""Late labels at scale: `.venv/bin/python bench/labels_bench.py [--rows 10000000] [--labels 1000000]`.

Writes an evaluation's Parquet copy of ``--rows`` rows (a prediction id ``p000000042`` and 20 float64 features,
in row groups of ``ingest.PARQUET_ROW_GROUP_ROWS``, chunk by chunk) and a label file's ids (``--labels`` of them,
every other one an id of the evaluation, the rest unknown). Each measurement runs in a fresh process, which
reports its wall time and its peak resident memory above its resident memory once the libraries are loaded
(``memory_bench``'s method: VmHWM reset through ``/proc/self/clear_refs``):

* ``check``: ``labels.check``, what the web process runs when a label file is added: the evaluation's ids read a
  batch at a time (``batches.column_batches``) against an ``IdIndex`` of the label file's ids;
* ``check, whole copy`` (reference): what it did before, and what a direct implementation does: the copy read
  whole (``storage.read``), its id column as pandas, Arrow's ``is_in`` of the label ids against it;
* ``join``: ``LateLabels.join`` of every batch of the copy (``batches.BATCH_ROWS`` rows, as the worker's
  computation reads it) to the labels as the portal stores them once checked (the known ones, with their
  evaluation rows: ``labels.stored``), read once into an array along the rows;
* ``join by id``: the same join through an ``IdIndex`` of the label ids built once, as label files stored
  without their rows (before 2026-12-07) still are;
* ``join, index_in per batch`` (reference): the join before that, Arrow's ``index_in`` of each batch against every
  label id, which builds a hash table of all of them on each call.

The readings of each group must agree (the unknown ids counted, the rows labelled); the table gives time and
memory ratios against the group's reference, its first line.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

CHUNK_ROWS = 1_000_000
FEATURES = 20


def _id(numbers):
    import numpy as np

    return np.char.add("p", np.char.zfill(np.asarray(numbers).astype(str), 9))


def write(folder: Path, rows: int, labels: int) -> tuple[Path, Path, Path]:
    """The evaluation's copy, the label file (ids, then a 0/1 label) and its known labels as stored once checked,
    written a chunk at a time."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from apps.monitoring import ingest
    from apps.monitoring import labels as late_labels

    copy, label_file, stored = folder / "copy.parquet", folder / "labels.parquet", folder / "stored.parquet"
    rng = np.random.default_rng(0)
    writer = None
    try:
        for start in range(0, rows, CHUNK_ROWS):
            count = min(CHUNK_ROWS, rows - start)
            table = pa.table({"prediction_id": pa.array(_id(np.arange(start, start + count))),
                              **{f"x{k}": rng.normal(0, 1, count) for k in range(FEATURES)}})
            if writer is None:
                writer = pq.ParquetWriter(copy, table.schema, compression="lz4")
            writer.write_table(table, row_group_size=ingest.PARQUET_ROW_GROUP_ROWS)
    finally:
        if writer is not None:
            writer.close()
    known = rng.choice(rows, size=labels // 2 + labels % 2, replace=False)
    unknown = np.arange(rows, rows + labels // 2)  # ids past the evaluation's last
    numbers = rng.permutation(np.r_[known, unknown])
    values = rng.integers(0, 2, len(numbers))
    pq.write_table(pa.table({"prediction_id": pa.array(_id(numbers)), "y_true": pa.array(values)}), label_file)
    kept = numbers < rows  # the ids of the evaluation: p000000042 is its row 42
    frame = pd.DataFrame({"prediction_id": _id(numbers[kept]), "y_true": values[kept].astype(np.int8)})  # as ingest
    stored.write_bytes(ingest.to_parquet_bytes(late_labels.stored(frame, numbers[kept], id_column="prediction_id",
                                                                  target_column="y_true")))
    return copy, label_file, stored


def measure(mode: str, copy: str, label_file: str, stored: str) -> dict:
    import memory_bench
    import pandas as pd
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from apps.monitoring import batches, ingest, labels

    label_frame = pd.read_parquet(label_file)
    pq.ParquetFile(copy).read_row_group(0, columns=["prediction_id"])  # Arrow's pools warmed up
    memory_bench._reset_peak()
    baseline = memory_bench._status_kb("VmRSS")
    started = time.perf_counter()
    if mode == "check":
        class Parsed:
            df, rows = label_frame, ingest._RowNumbers(2)

        def ids():
            with open(copy, "rb") as handle:
                yield from batches.column_batches(handle, "prediction_id")

        problems = labels.check(Parsed, id_column="prediction_id", evaluation_ids=ids(), labelled_ids=iter(()),
                                evaluation_name="the evaluation").problems
        unknown = re.search(r"\(([\d,]+) unknown ids\)", problems[0].message) if problems else None
        answer = int(unknown.group(1).replace(",", "")) if unknown else 0
    elif mode == "check, whole copy":
        predicted = ingest.read_parquet_bytes(Path(copy).read_bytes(), columns=["prediction_id"])["prediction_id"]
        known = pc.is_in(labels._arrow(label_frame["prediction_id"]), value_set=labels._arrow(predicted))
        answer = int((~known.to_numpy(zero_copy_only=False)).sum())
    elif mode == "join":
        answer, start = 0, 0
        with open(copy, "rb") as handle, open(stored, "rb") as stored_labels:
            late = labels.LateLabels([stored_labels], id_column="prediction_id", target_column="y_true")
            for frame in batches.frames(handle, columns=["prediction_id"]):
                answer += int(late.join(frame, start)["y_true"].notna().sum())
                start += len(frame)
    elif mode == "join by id":
        late = labels.LateLabels([label_frame], id_column="prediction_id", target_column="y_true")
        answer = 0
        with open(copy, "rb") as handle:
            for frame in batches.frames(handle, columns=["prediction_id"]):
                answer += int(late.join(frame)["y_true"].notna().sum())
    elif mode == "join, index_in per batch":
        late = labels.LateLabels([label_frame], id_column="prediction_id", target_column="y_true")
        late.index = _IndexIn(late.index.ids)
        answer = 0
        with open(copy, "rb") as handle:
            for frame in batches.frames(handle, columns=["prediction_id"]):
                answer += int(late.join(frame)["y_true"].notna().sum())
    else:
        raise ValueError(mode)
    seconds = time.perf_counter() - started
    return {"mode": mode, "answer": answer, "seconds": seconds,
            "peak_growth_mb": max(0, memory_bench._status_kb("VmHWM") - baseline) / 1024}


class _IndexIn:
    """The join's lookup as it was: Arrow's ``index_in`` against every label id, a hash table built per call."""

    def __init__(self, ids):
        self.ids = ids

    def positions(self, values):
        import pyarrow.compute as pc

        from apps.monitoring import labels

        return pc.index_in(labels._text(values), value_set=self.ids).fill_null(-1).to_numpy(zero_copy_only=False)


def run(mode: str, files: tuple[Path, Path, Path]) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mlops_portal.settings"}
    done = subprocess.run([sys.executable, __file__, "--measure", mode, *map(str, files)],
                          capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


# Each group's reference first, then what the portal does.
GROUPS = (("check, whole copy", "check"), ("join, index_in per batch", "join by id", "join"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the evaluation")
    parser.add_argument("--labels", type=int, default=1_000_000, help="ids in the label file (half unknown)")
    parser.add_argument("--dir", help="where the generated files go (default: a temporary folder)")
    parser.add_argument("--measure", nargs=4, metavar=("MODE", "COPY", "LABELS", "STORED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {platform.processor() or platform.machine()} · "
          f"{os.cpu_count()} cores · Python {platform.python_version()} · {args.rows:,} rows, "
          f"{args.labels:,} label ids\n")
    print("| measurement | answer | time | peak RSS growth | time ratio | memory ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        files = write(Path(folder), args.rows, args.labels)
        for group in GROUPS:
            results = [run(mode, files) for mode in group]
            for result in results[1:]:
                if result["answer"] != results[0]["answer"]:
                    raise SystemExit(f"{result['mode']} answered {result['answer']}, {group[0]} "
                                     f"{results[0]['answer']}")
            base = results[0]
            for result in results:
                memory = result["peak_growth_mb"] / base["peak_growth_mb"] if base["peak_growth_mb"] else 0
                print(f"| {result['mode']} | {result['answer']:,} | {result['seconds']:.2f} s | "
                      f"{result['peak_growth_mb']:,.0f} MB | {result['seconds'] / base['seconds']:.2f}x | "
                      f"{memory:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
