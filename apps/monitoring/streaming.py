"""Check a file too large to hold in memory and write its Parquet copy, batch by batch (no Django imports).

``ingest.parse_evaluation`` reads a whole upload; a file assembled from an upload's parts may be gigabytes.
Here Arrow reads it in record batches (``pyarrow.csv.open_csv`` or ``ParquetFile.iter_batches``), each batch
goes through ingest's own column checks (labels, scores, timestamps, sensitive features, features) and is
appended to the Parquet copy as one row group, so memory holds one batch whatever the row count. What only
the whole file can tell (the set of labels, the groups of a sensitive feature) is counted across batches and
judged at the end. Checking stops at the first batch with problems: the file is refused, and the caller
deletes the partial copy. Row numbers follow ingest's (CSV header is row 1), without its blank-line
correction: Arrow skips blank lines, so a CSV with blank lines between rows gets row numbers off by them.

JSON Lines above the in-memory limit are refused: CSV and Parquet stream, JSON Lines do not.
"""

from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from apps.monitoring import ingest
from apps.monitoring.ingest import IngestError, Problem
from apps.monitoring.metrics import MISSING_GROUP

# Arrow's CSV reader parses about 32 blocks ahead of the consumer whatever the file's size: 8 MB blocks bound that
# to about 256 MB (measured with pyarrow 26: 16 MB blocks held the whole of a 360 MB file).
BLOCK_BYTES = 8 * 1024 * 1024
MAX_WARNINGS = 20
TEXT = pa.dictionary(pa.int32(), pa.string())


@dataclass
class Streamed:
    """What a streamed check found: the same facts ``ParsedEvaluation`` gives, without the data."""

    file_format: str
    row_count: int = 0
    columns: list[str] = field(default_factory=list)
    feature_columns: tuple[str, ...] = ()
    score_column: str | None = None
    timestamp_column: str | None = None
    labels: tuple[str, ...] = ()
    probability_columns: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    period: tuple[datetime | None, datetime | None] = (None, None)


def _format(path: str) -> str:
    with open(path, "rb") as handle:
        head = handle.read(ingest.SNIFF_BYTES)
    if head.startswith(b"PAR1"):
        return "parquet"
    for magic, name in ingest.COMPRESSED_MAGIC.items():
        if head.startswith(magic):
            raise IngestError([Problem(None, (), f"the file is compressed ({name}); upload it uncompressed")])
    body = head.removeprefix(ingest.UTF8_BOM).lstrip()
    if not body:
        raise IngestError([Problem(None, (), "the file is empty")])
    if body[:1] in (b"{", b"["):
        raise IngestError([Problem(None, (), "large files are read as they stream, which CSV and Parquet allow "
                                             "and JSON is not; upload this file as CSV or Parquet")])
    return "csv"


def _batches(path: str, file_format: str, text_columns: Sequence[str], block_bytes: int
             ) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(row number of the batch's first row, batch) in file order."""
    if file_format == "parquet":
        first = 1
        for batch in pq.ParquetFile(path).iter_batches(batch_size=max(1, block_bytes // 64)):
            yield first, batch
            first += batch.num_rows
        return
    with open(path, "rb") as handle:
        sample = handle.read(ingest.SNIFF_BYTES).removeprefix(ingest.UTF8_BOM).decode("utf-8", errors="replace")
    delimiter = ingest._sniff_delimiter(sample)
    header = next(iter(sample.splitlines()), "")
    names = [name.strip().strip('"') for name in header.split(delimiter)]
    types = {name: pa.string() for name in text_columns if name in names}
    reader = pa_csv.open_csv(path, read_options=pa_csv.ReadOptions(block_size=block_bytes),
                             parse_options=pa_csv.ParseOptions(delimiter=delimiter),
                             convert_options=pa_csv.ConvertOptions(column_types=types))
    first = 2
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise IngestError([Problem(None, (), f"after row {first - 1:,}: {exc}")]) from exc
        yield first, batch
        first += batch.num_rows


@dataclass
class _Totals:
    """What the whole file must satisfy, counted batch by batch."""

    labels: Counter = field(default_factory=Counter)
    groups: dict[str, Counter] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    first_stamp: pd.Timestamp | None = None
    last_stamp: pd.Timestamp | None = None

    def warn(self, messages: Sequence[str]) -> None:
        for message in messages:
            if "does not occur" not in message and len(self.warnings) < MAX_WARNINGS:
                self.warnings.append(message)


def _check_batch(frame: pd.DataFrame, first_row: int, *, spec: dict, totals: _Totals) -> tuple[pd.DataFrame, dict]:
    """One batch through ingest's column checks; answers the normalised frame and what each column is."""
    checks = ingest._Checks(frame, ingest._RowNumbers(first_row))
    target, prediction, score_column = spec["target"], spec["prediction"], spec["score"]
    score, probability_columns = None, {}
    if spec["task_type"] == "binary":
        totals.labels.update(ingest._binary_targets(checks, (target, prediction), spec["positive_label"], None))
        if score_column in frame.columns:
            score = score_column
            values = checks.numbers(score_column)
            checks.unit_interval(score_column, values)
            frame[score_column] = values
    elif spec["task_type"] == "multiclass":
        labels = ingest._multiclass_targets(checks, (target, prediction), None)
        totals.labels.update(labels)
        probability_columns = ingest._probability_columns(checks, score_column, labels)
    else:
        for column in (target, prediction):
            frame[column] = checks.numbers(column)
    timestamp = spec["timestamp"] if spec["timestamp"] in frame.columns else None
    if timestamp:
        ingest._timestamps(checks, timestamp)
        stamps = frame[timestamp].dropna()
        if len(stamps):
            low, high = stamps.min(), stamps.max()
            totals.first_stamp = low if totals.first_stamp is None else min(totals.first_stamp, low)
            totals.last_stamp = high if totals.last_stamp is None else max(totals.last_stamp, high)
    for column in spec["sensitive_features"]:
        ingest._sensitive(checks, column, 0, spec["max_groups"])
        if column in checks.df and isinstance(checks.df[column].dtype, pd.CategoricalDtype):
            counts = checks.df[column].value_counts()
            totals.groups.setdefault(column, Counter()).update({str(k): int(v) for k, v in counts.items()})
    special = {target, prediction, score, timestamp, *spec["sensitive_features"], *probability_columns.values()}
    features = tuple(column for column in frame.columns if column not in special)
    ingest._features(checks, features)
    if checks.problems:
        raise IngestError(checks.problems)
    totals.warn(checks.warnings)
    return checks.df, {"score": score, "timestamp": timestamp, "features": features,
                       "probability_columns": probability_columns}


def _final_checks(spec: dict, totals: _Totals, min_group_rows: int) -> list[Problem]:
    problems = []
    found = sorted(totals.labels)
    if spec["task_type"] == "binary":
        columns = f"'{spec['target']}', '{spec['prediction']}'"
        if len(found) > 2:
            problems.append(Problem(None, (), f"{columns} hold the labels {ingest._labels_text(found)} across the "
                                              "file; a binary evaluation has a positive and a negative label"))
        elif spec["positive_label"] not in found and len(found) > 1:
            problems.append(Problem(None, (), f"the positive label {spec['positive_label']!r} does not occur in "
                                              f"{columns} (labels found: {ingest._labels_text(found)}); "
                                              "set the positive label to one of them"))
        elif spec["positive_label"] not in found:
            totals.warnings.append(f"the positive label {spec['positive_label']!r} does not occur; every row "
                                   "is negative")
    if spec["task_type"] == "multiclass" and len(found) > ingest.MAX_CLASSES:
        problems.append(Problem(None, (), f"the labels hold {len(found):,} distinct values; a multiclass "
                                          f"evaluation has at most {ingest.MAX_CLASSES:,} classes"))
    for column, counts in totals.groups.items():
        if len(counts) > spec["max_groups"]:
            problems.append(Problem(column, (), f"has {len(counts):,} distinct values; a sensitive feature may "
                                                f"have at most {spec['max_groups']:,} groups "
                                                "(PORTAL_MAX_GROUPS_PER_FEATURE); group the values or leave the "
                                                "column out"))
            continue
        small = [f"'{label}' ({count})" for label, count in sorted(counts.items()) if 0 < count < min_group_rows]
        if small:
            totals.warnings.append(f"sensitive feature '{column}': groups {', '.join(small[:10])} have fewer than "
                                   f"{min_group_rows} rows; their rates are unreliable")
        if MISSING_GROUP in counts:
            totals.warnings.append(f"sensitive feature '{column}': {counts[MISSING_GROUP]:,} rows without a value "
                                   f"are grouped as '{MISSING_GROUP}'")
    return problems


def _arrow(frame: pd.DataFrame) -> pa.Table:
    """A batch as Arrow with one schema for every batch: text categories as dictionary<int32, string>, and
    whole numbers (but 0/1 labels) as float64, since pandas turns an integer batch with a gap into floats."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = [pa.field(f.name, TEXT) if pa.types.is_dictionary(f.type)
              else pa.field(f.name, pa.float64()) if pa.types.is_integer(f.type) and f.type != pa.int8()
              else f for f in table.schema]
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def _missing(names: Sequence[str], required: Sequence[str]) -> list[Problem]:
    present = ", ".join(f"'{column}'" for column in list(names)[:20])
    return [Problem(column, (), f"is missing; the file has the columns {present}")
            for column in required if column not in names]


def check_and_convert(path: str, *, parquet_path: str, spec: dict | None, max_groups: int = 1000,
                      min_group_rows: int = 30, block_bytes: int = BLOCK_BYTES) -> Streamed:
    """Check the file at ``path`` and write its Parquet copy to ``parquet_path``, one row group per batch.

    ``spec``: target, prediction, score, timestamp (column names), sensitive_features, task_type and
    positive_label of an evaluation; None for reference data, which gets the table checks only. Raises
    ``IngestError`` with the problems of the first batch that has any, or of the whole file's totals.
    """
    file_format = _format(path)
    if spec is not None:
        spec = {**spec, "positive_label": str(spec["positive_label"]).strip(), "max_groups": max_groups}
        labels = (spec["target"], spec["prediction"]) if spec["task_type"] != "regression" else ()
        text_columns = (*labels, *spec["sensitive_features"])
    else:
        text_columns = ()
    result, totals, writer, described = Streamed(file_format), _Totals(), None, {}
    # The Parquet copy is written by a thread while the next batch is read and checked (Arrow releases the GIL
    # in both); waiting for the previous write before handing over the next keeps two batches in memory at most.
    pending, background = None, ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer")
    try:
        for first_row, batch in _batches(path, file_format, text_columns, block_bytes):
            if writer is None:
                names = batch.schema.names
                ingest._check_shape(pd.DataFrame(columns=names, index=[0]), file_format)
                required = [] if spec is None else [spec["target"], spec["prediction"], *spec["sensitive_features"]]
                if problems := _missing(names, required):
                    raise IngestError(problems)
                result.columns = list(names)
            nested = [f.name for f in batch.schema if pa.types.is_nested(f.type)]
            if nested:
                raise IngestError([Problem(column, (), ingest.NESTED) for column in nested])
            frame = batch.to_pandas(strings_to_categorical=True)
            if spec is not None:
                frame, described = _check_batch(frame, first_row, spec=spec, totals=totals)
            table = _arrow(frame)
            if writer is None:
                writer = pq.ParquetWriter(parquet_path, table.schema, compression="zstd")
            if pending is not None:
                pending.result()
            pending = background.submit(writer.write_table, table.cast(writer.schema))
            result.row_count += len(frame)
        if pending is not None:
            pending.result()
    finally:
        background.shutdown(wait=True)
        if writer is not None:
            writer.close()
    if not result.row_count:
        raise IngestError([Problem(None, (), "the file has a header but no data rows" if file_format == "csv"
                                   else "the file has no rows")])
    if spec is not None:
        if problems := _final_checks(spec, totals, min_group_rows):
            raise IngestError(problems)
        result.labels = tuple(sorted(totals.labels))
        result.score_column, result.timestamp_column = described["score"], described["timestamp"]
        result.feature_columns, result.probability_columns = described["features"], described["probability_columns"]
        result.period = (_datetime(totals.first_stamp), _datetime(totals.last_stamp))
    result.warnings = totals.warnings
    return result


def _datetime(stamp: pd.Timestamp | None) -> datetime | None:
    return None if stamp is None or pd.isna(stamp) else stamp.to_pydatetime()

