"""Late labels: outcomes that arrive after their predictions, joined by prediction id (no Django imports).

A production evaluation uploaded without its target column (``ingest.parse_evaluation`` with
``require_target=False``) keeps a prediction-id column. Label files (``ingest.parse_labels``) are
checked against it here: every id must be one of the evaluation's, and an id already labelled by an
earlier batch is refused (labels are evidence: a correction is a new evaluation, not a silent
overwrite). ``join`` puts the labels of every batch into the evaluation's target column, missing
where no label arrived yet; the metrics are then computed over the labelled rows only, and drift over
all of them.

The metrics document of such an evaluation (or of a window holding one) carries
``"labels": {"rows": N, "labelled_rows": k, "coverage": k / N}``; with ``k == 0`` it has no
``overall``, ``groups`` or ``fairness`` block (performance pending), so no performance threshold
can fire on it.

The check matches ids through an ``IdIndex`` built once over the label file (sorted 64-bit hashes of them): an
evaluation of tens of millions of rows is read a batch at a time against it, so the check never holds the
evaluation's ids, and no batch rebuilds a hash table of every label (Arrow's ``index_in`` does, per call: 3.8 s
for a batch of a million ids against ten million labels). The check also finds each label's evaluation row; the
file is stored sorted by it (``stored``), so a computation reads every label file forward beside the evaluation's
rows, a batch of each at a time, and holds neither ids nor labels (25 files of two million labels, joined by id,
held about 1.7 GB). Files stored before rows were are still joined by id, through one ``IdIndex``.
"""

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from apps.monitoring.ingest import MAX_PREDICTION_ID_CHARS, Problem


def _arrow(ids: pd.Series) -> pa.Array:
    """Ids as an Arrow string array: Arrow's hash kernels match a million ids in a fraction of the time
    ``Series.isin`` and ``Series.map`` take on text."""
    return pa.array(ids.astype(object).to_numpy() if not isinstance(ids.dtype, pd.StringDtype) else ids,
                    type=pa.string(), from_pandas=True)


# A polynomial hash over each id's UTF-8 bytes, computed for a whole array with numpy (no Python string per row).
# Byte positions past the longest id ingest lets through wrap around: the hash stays defined for any text.
_POWERS = np.cumprod(np.full(4 * MAX_PREDICTION_ID_CHARS + 1, 1_000_003, dtype=np.uint64), dtype=np.uint64)


def _text(ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Ids as one large_string array, whatever the file stored (string, large_string, a dictionary of them)."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if pa.types.is_dictionary(ids.type):
        ids = ids.dictionary_decode()
    return ids.cast(pa.large_string())


def id_hashes(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """One 64-bit hash per id (ids without nulls). Equal ids hash alike; different ids may too (by chance, or
    crafted: a polynomial hash modulo 2**64 has known collisions), so a hash only ever names suspects. Computed
    ``_HASH_ROWS`` ids at a time: each of the ids' bytes takes a few 8-byte numbers while it is hashed."""
    array = _text(ids)
    hashes = np.empty(len(array), dtype=np.uint64)
    for start in range(0, len(array), _HASH_ROWS):
        hashes[start:start + _HASH_ROWS] = _hashes(array.slice(start, _HASH_ROWS))
    return hashes


_HASH_ROWS = 16_384


def _hashes(array: pa.Array) -> np.ndarray:
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset:array.offset + len(array) + 1]
    lengths = np.diff(offsets)
    with np.errstate(over="ignore"):
        hashes = lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        if lengths.sum():
            used = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]].astype(np.uint64)
            starts = offsets[:-1] - offsets[0]
            place = (np.arange(len(used)) - np.repeat(starts, lengths)) % len(_POWERS)
            nonempty = lengths > 0
            hashes[nonempty] += np.add.reduceat(used * _POWERS[place], starts[nonempty])
    return hashes


class IdIndex:
    """Ids looked up many times, a batch at a time: their hashes sorted once (17 bytes an id beside the ids).

    ``positions`` finds each value's hash by binary search, the values taken in the order of their hashes (each
    search starts where the one before ended: a million values against ten million ids in 0.1 s, against 1.2 s in
    file order), and compares the id found with the value, so a hash shared by chance never matches two different
    ids. Ids of the index that share a hash (rare by chance, many if crafted) are looked up with Arrow's exact hash
    join over just them: no lookup is quadratic.

    Values looked up against an index of at most ``DIRECT_RATIO`` times as many ids go straight to Arrow's hash
    join, whose table of the index's ids then costs less than hashing and sorting the values (measured on 65,536
    values: 1.3 ms against 1,000 ids, 13 ms against 100,000, 285 ms against a million, where the sorted hashes
    take 22-29 ms whatever the index); the hashes are sorted on the first lookup that needs them."""

    DIRECT_RATIO = 2

    def __init__(self, ids: pa.Array | pa.ChunkedArray):
        self.ids = _text(ids)
        self.sorted = None

    def _sort(self) -> None:
        hashes = id_hashes(self.ids)
        self.order = np.argsort(hashes)
        self.sorted = hashes[self.order]
        same = self.sorted[1:] == self.sorted[:-1]
        self.shared = np.zeros(len(self.sorted), dtype=bool)  # a hash other ids of the index have too
        self.shared[1:] |= same
        self.shared[:-1] |= same

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, values: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The position in the index of each of ``values`` (ids without nulls), -1 where it is not there."""
        values = _text(values)
        found = np.full(len(values), -1, dtype=np.int64)
        if not len(self.ids) or not len(values):
            return found
        if len(self.ids) <= self.DIRECT_RATIO * len(values):
            return pc.index_in(values, value_set=self.ids).fill_null(-1).to_numpy(zero_copy_only=False)
        if self.sorted is None:
            self._sort()
        hashes = id_hashes(values)
        by_hash = np.argsort(hashes)
        left = np.empty(len(values), dtype=np.int64)
        left[by_hash] = np.searchsorted(self.sorted, hashes[by_hash])
        at = np.minimum(left, len(self.sorted) - 1)
        hit = self.sorted[at] == hashes
        one = np.flatnonzero(hit & ~self.shared[at])
        if len(one):
            candidates = self.order[at[one]]
            same = pc.fill_null(pc.equal(values.take(one), self.ids.take(candidates)), False)
            same = same.to_numpy(zero_copy_only=False)
            found[one[same]] = candidates[same]
        shared = np.flatnonzero(hit & self.shared[at])
        if len(shared):
            right = np.searchsorted(self.sorted, hashes[shared], side="right")
            covered = np.zeros(len(self.sorted) + 1, dtype=np.int64)  # the index's runs of one hash these fall in
            np.add.at(covered, left[shared], 1)
            np.add.at(covered, right, -1)
            candidates = self.order[np.flatnonzero(np.cumsum(covered[:-1]) > 0)]
            where = pc.index_in(values.take(shared), value_set=self.ids.take(candidates))
            where = where.fill_null(-1).to_numpy(zero_copy_only=False)
            matched = where >= 0
            found[shared[matched]] = candidates[where[matched]]
        return found


class Checked(NamedTuple):
    """What ``check`` finds: the problems of a label file, and the evaluation row of each of its labels (0-based,
    in the order the evaluation stores its rows; -1 for an id it does not have)."""

    problems: list[Problem]
    rows: np.ndarray


def check(parsed, *, id_column: str, evaluation_ids: Iterable[pa.Array], labelled_ids: Iterable[pa.Array],
          evaluation_name: str) -> Checked:
    """Problems of a parsed label file (``ingest.ParsedLabels``) against its evaluation: unknown ids and ids
    that an earlier batch labelled already, each with the rows of the label file; and the evaluation row of each
    label (``stored``). The evaluation's ids and the earlier batches' come as batches, matched against the label
    file's as they come: memory follows the label file, not the evaluation."""
    ids = parsed.df[id_column]
    index = IdIndex(_arrow(ids))
    problems = []
    rows, evaluation_rows = _found(index, evaluation_ids)
    unknown = rows < 0
    if unknown.any():
        example = ids[unknown].iloc[0]
        problems.append(parsed.rows.problem(
            id_column, unknown, f"prediction id {example!r} is not one of the {evaluation_rows:,} predictions "
                                f"of {evaluation_name} ({int(unknown.sum()):,} unknown ids)"))
    again = _found(index, labelled_ids)[0] >= 0
    if again.any():
        example = ids[again].iloc[0]
        problems.append(parsed.rows.problem(
            id_column, again, f"prediction id {example!r} was labelled by an earlier label file; labels are "
                              "not replaced (upload the evaluation again to correct them)"))
    return Checked(problems, rows)


def _found(index: IdIndex, batches: Iterable[pa.Array]) -> tuple[np.ndarray, int]:
    """For each id of the index, its position among the ids of ``batches`` (-1 where it is not one of them); and
    how many ids those hold."""
    found, count = np.full(len(index), -1, dtype=np.int64), 0
    for batch in batches:
        where = index.positions(batch)
        hit = np.flatnonzero(where >= 0)
        found[where[hit]] = count + hit
        count += len(batch)
    return found, count


# The column of a stored label file that holds each label's evaluation row (``stored``).
ROW_COLUMN = "__evaluation_row__"


def stored(frame: pd.DataFrame, rows: np.ndarray, *, id_column: str, target_column: str) -> pd.DataFrame:
    """A checked label file as it is stored: sorted by the evaluation rows its labels belong to (``Checked.rows``),
    which ``ROW_COLUMN`` holds, so a computation reads the labels forward beside the evaluation's rows (``LateLabels``)
    instead of holding every label id. A file whose id or target column is itself called ``ROW_COLUMN`` is stored
    as it came, and is joined by id."""
    if ROW_COLUMN in (id_column, target_column):
        return frame
    order = np.argsort(rows, kind="stable")
    return frame.iloc[order].reset_index(drop=True).assign(**{ROW_COLUMN: rows[order]})


FORWARD_BATCH_ROWS = 65_536


class LabelsOutOfStep(ValueError):
    """A stored label's row no longer holds its prediction id: the evaluation's rows are not the ones labelled."""


class LateLabels:
    """The label files of one evaluation, joined to its rows a batch at a time: ``join`` of each batch of its rows,
    in the order they are stored, with the batch's first row.

    ``label_files`` are Parquet files (paths or seekable binary files) or DataFrames, as ``stored`` made them. One
    stored with its evaluation rows (``ROW_COLUMN``) is read forward, a batch at a time, as the evaluation's rows are
    (``_Forward``): memory follows one batch per file, not the labels, and each label's id is compared with its
    row's. The others (files stored before rows were, or whose columns take that name) are held, their ids in one
    ``IdIndex`` and their labels (as numbers, or as text for multiclass labels) as one array."""

    def __init__(self, label_files: Sequence, *, id_column: str, target_column: str, batch_size: int | None = None):
        self.id_column, self.target_column = id_column, target_column
        self.index = self.values = None
        self.forward: list[_Forward] = []
        by_id, text = [], False
        for label_file in label_files:
            table = label_file if isinstance(label_file, pd.DataFrame) else pq.ParquetFile(label_file, pre_buffer=False)
            names = list(table.columns) if isinstance(table, pd.DataFrame) else table.schema_arrow.names
            if ROW_COLUMN in names and ROW_COLUMN not in (id_column, target_column):
                self.forward.append(_Forward(table, columns=[ROW_COLUMN, id_column, target_column],
                                             batch_size=batch_size or FORWARD_BATCH_ROWS))
                kind = self.forward[-1].schema.field(target_column).type
                text |= not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind))
            else:
                frame = label_file if isinstance(label_file, pd.DataFrame) else table.read(
                    columns=[id_column, target_column]).to_pandas()
                by_id.append(frame)
                kind = frame[target_column].dtype
                text |= isinstance(kind, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(kind)
        # Multiclass labels as plain strings, so files with different categories map alike.
        self.dtype = np.dtype(object) if text else np.dtype(np.float64)
        if by_id:
            labels = pd.concat(by_id, ignore_index=True)
            self.index = IdIndex(_arrow(labels[id_column]))
            self.values = self._values(labels[target_column])

    def _values(self, values: pd.Series) -> np.ndarray:
        return values.astype(object).to_numpy() if self.dtype == object else values.to_numpy(dtype=np.float64)

    def join(self, frame: pd.DataFrame, start: int = 0) -> pd.DataFrame:
        """``frame`` with ``target_column`` holding each row's label (missing where none arrived). ``frame`` holds
        the evaluation's rows from row ``start`` (0-based) on, as stored; the file read forward starts again from
        its first label when ``start`` goes back."""
        frame = frame.copy(deep=False)
        joined = np.full(len(frame), None if self.dtype == object else np.nan, dtype=self.dtype)
        ids = None
        if self.index is not None or self.forward:
            ids = _text(_arrow(frame[self.id_column]))
        if self.index is not None:
            position = self.index.positions(ids)
            found = position >= 0
            joined[found] = self.values[position[found]]
        for labelled in self.forward:
            table = labelled.take(start, start + len(frame))
            if table is None:
                continue
            at = table.column(0).to_numpy() - start
            same = pc.fill_null(pc.equal(ids.take(at), _text(table.column(1))), False)
            differs = np.flatnonzero(~same.to_numpy(zero_copy_only=False))
            if len(differs):
                wrong = int(differs[0])
                raise LabelsOutOfStep(
                    f"the label stored for row {start + int(at[wrong]) + 1:,} of the evaluation is for prediction id "
                    f"{table.column(1)[wrong].as_py()!r}, but that row holds {ids[int(at[wrong])].as_py()!r}: its "
                    "rows are not the ones that were labelled")
            joined[at] = self._values(table.column(2).to_pandas())
        frame[self.target_column] = joined
        return frame


class _Forward:
    """One label file stored sorted by evaluation row (``stored``), read forward from its first label: ``take``
    answers the labels of a range of rows, reading batches of the file only as far as that range needs."""

    def __init__(self, source: pq.ParquetFile | pd.DataFrame, *, columns: list[str], batch_size: int):
        self.source, self.columns, self.batch_size = source, columns, batch_size
        if isinstance(source, pd.DataFrame):
            self.source = pa.Table.from_pandas(source[columns], preserve_index=False)
        self.schema = self.source.schema if isinstance(self.source, pa.Table) else self.source.schema_arrow
        self._rewind()

    def _rewind(self) -> None:
        if isinstance(self.source, pa.Table):
            self.batches = iter(self.source.to_batches(max_chunksize=self.batch_size))
        else:
            self.batches = self.source.iter_batches(batch_size=self.batch_size, columns=self.columns)
        self.pending, self.next_row = None, 0

    def take(self, start: int, stop: int) -> pa.Table | None:
        """The labels of rows [start, stop) as a table (row, id, label), None without any."""
        if start < self.next_row:
            self._rewind()
        self.next_row = stop
        parts = []
        while True:
            if self.pending is None:
                self.pending = next(self.batches, None)
                if self.pending is None:
                    break
            rows = self.pending.column(0).to_numpy()
            first, end = np.searchsorted(rows, [start, stop])
            if end > first:
                parts.append(self.pending.slice(first, end - first))
            if end < len(rows):
                self.pending = self.pending.slice(end)
                break
            self.pending = None
        return pa.Table.from_batches(parts).select([0, 1, 2]) if parts else None


def is_late(frame: pd.DataFrame, *, target_column: str, id_column: str | None) -> bool:
    """Whether ``frame`` holds rows whose labels may still be missing (a late-label evaluation, or a window
    holding one)."""
    return bool(id_column) or target_column not in frame or bool(frame[target_column].isna().any())


def coverage(frame: pd.DataFrame, *, target_column: str) -> dict:
    """``{"rows", "labelled_rows", "coverage"}``: how many rows have their label (coverage is None without rows)."""
    rows = len(frame)
    labelled = int(frame[target_column].notna().sum()) if target_column in frame else 0
    return {"rows": rows, "labelled_rows": labelled, "coverage": labelled / rows if rows else None}


def labelled_rows(frame: pd.DataFrame, *, target_column: str, task_type: str) -> pd.DataFrame:
    """The rows that have their label, with the target's dtype as ingest normalises it (binary: int8 0/1)."""
    if target_column not in frame:
        return frame.iloc[:0].assign(**{target_column: np.zeros(0, np.int8)})
    rows = frame[frame[target_column].notna()]
    if task_type == "binary":
        rows = rows.assign(**{target_column: rows[target_column].astype(np.int8)})
    elif task_type == "regression":
        rows = rows.assign(**{target_column: rows[target_column].astype(np.float64)})
    return rows
