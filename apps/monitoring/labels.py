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

Ids are matched through an ``IdIndex`` built once over the labels (sorted 64-bit hashes of them): an evaluation of
tens of millions of rows is read a batch at a time against it, so neither the check nor a join holds the
evaluation's ids, and no batch rebuilds a hash table of every label (Arrow's ``index_in`` does, per call: 3.8 s
for a batch of a million ids against ten million labels).
"""

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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


def check(parsed, *, id_column: str, evaluation_ids: Iterable[pa.Array], labelled_ids: Iterable[pa.Array],
          evaluation_name: str) -> list[Problem]:
    """Problems of a parsed label file (``ingest.ParsedLabels``) against its evaluation: unknown ids and ids
    that an earlier batch labelled already, each with the rows of the label file. The evaluation's ids and the
    earlier batches' come as batches, matched against the label file's as they come: memory follows the label
    file, not the evaluation."""
    ids = parsed.df[id_column]
    index = IdIndex(_arrow(ids))
    problems = []
    known, evaluation_rows = _seen(index, evaluation_ids)
    unknown = ~known
    if unknown.any():
        example = ids[unknown].iloc[0]
        problems.append(parsed.rows.problem(
            id_column, unknown, f"prediction id {example!r} is not one of the {evaluation_rows:,} predictions "
                                f"of {evaluation_name} ({int(unknown.sum()):,} unknown ids)"))
    again, _ = _seen(index, labelled_ids)
    if again.any():
        example = ids[again].iloc[0]
        problems.append(parsed.rows.problem(
            id_column, again, f"prediction id {example!r} was labelled by an earlier label file; labels are "
                              "not replaced (upload the evaluation again to correct them)"))
    return problems


def _seen(index: IdIndex, batches: Iterable[pa.Array]) -> tuple[np.ndarray, int]:
    """For each id of the index, whether it is one of the ids of ``batches``; and how many ids those hold."""
    seen, count = np.zeros(len(index), dtype=bool), 0
    for batch in batches:
        where = index.positions(batch)
        seen[where[where >= 0]] = True
        count += len(batch)
    return seen, count


class LateLabels:
    """The label files of one evaluation, joined to its rows a batch at a time (``join`` of every batch) through
    one ``IdIndex`` of their ids, built here. Only the ids (as Arrow text, for the index) and the labels (as numbers,
    or as text for multiclass labels) are kept, not the files' frames."""

    def __init__(self, label_files: list[pd.DataFrame], *, id_column: str, target_column: str):
        self.id_column, self.target_column = id_column, target_column
        self.index = self.values = None
        if label_files:
            labels = pd.concat(label_files, ignore_index=True)
            self.index = IdIndex(_arrow(labels[id_column]))
            values = labels[target_column]
            if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values.dtype):
                # Multiclass labels as plain strings, so batches with different categories map alike.
                self.values = values.astype(object).to_numpy()
            else:
                self.values = values.to_numpy(dtype=np.float64)

    def join(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with ``target_column`` holding each row's label (missing where none arrived)."""
        frame = frame.copy(deep=False)
        if self.index is None:
            frame[self.target_column] = np.full(len(frame), np.nan)
            return frame
        position = self.index.positions(_arrow(frame[self.id_column]))
        found = position >= 0
        joined = np.full(len(frame), None if self.values.dtype == object else np.nan, dtype=self.values.dtype)
        joined[found] = self.values[position[found]]
        frame[self.target_column] = joined
        return frame


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
