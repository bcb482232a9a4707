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
for a batch of a million ids against ten million labels). The check also finds each label's evaluation row, stored
with the label (``stored``), so a computation reads the label files once, a batch at a time, into an array along
the evaluation's rows (2-8 bytes a row) and holds no id: 50 million rows labelled 0/1 by 25 files of two million
labels joined in 2.8 s and +0.18 GB, against 64 s and +3.9 GB through an index of their ids. Files stored before
rows were are still joined by id, through one ``IdIndex``. A label file longer than one request (an upload in parts,
checked by a worker a piece at a time) finds its rows through ``RowsById``: both sides' ids written to buckets on
disk, the evaluation's read once whatever the number of pieces.
"""

import os
import secrets
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
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


def _hashes(array: pa.Array, powers: np.ndarray = _POWERS) -> np.ndarray:
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset:array.offset + len(array) + 1]
    lengths = np.diff(offsets)
    with np.errstate(over="ignore"):
        hashes = lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        if lengths.sum():
            used = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]].astype(np.uint64)
            starts = offsets[:-1] - offsets[0]
            place = (np.arange(len(used)) - np.repeat(starts, lengths)) % len(powers)
            nonempty = lengths > 0
            hashes[nonempty] += np.add.reduceat(used * powers[place], starts[nonempty])
    return hashes


class IdIndex:
    """Ids looked up many times, a batch at a time: their hashes sorted once (21 bytes an id beside the ids).

    ``positions`` first drops the values whose hash falls on a clear bit of a filter of the ids' hashes (32 bits an
    id, up to 32 MB: about 3% of the values not in the index pass it), then finds each value's hash by binary
    search, the values taken in the order of their hashes (each search starts where the one before ended: a million
    values against ten million ids in 0.1 s, against 1.2 s in file order), and compares the id found with the value,
    so a hash shared by chance never matches two different ids. Ids of the index that share a hash (rare by chance,
    many if crafted) are looked up with Arrow's exact hash join over just them: no lookup is quadratic.

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
        # One bit in about 32 per id, set where an id's hash falls: a value whose bit is clear is not an id of the
        # index, without a search (most of an evaluation's ids, against a label file).
        bits = int(min(28, max(16, np.ceil(np.log2(len(hashes) * 32)))))  # at most 32 MB
        self.shift = np.uint64(64 - bits)
        self.filter = np.zeros(1 << (bits - 3), dtype=np.uint8)
        for start in range(0, len(hashes), 1 << 20):  # a million at a time: a few 8-byte numbers each
            slots = self._slots(self.sorted[start:start + (1 << 20)])
            np.bitwise_or.at(self.filter, slots >> np.uint64(3),
                             np.left_shift(1, slots & np.uint64(7)).astype(np.uint8))

    def _slots(self, hashes: np.ndarray) -> np.ndarray:
        """Each hash's bit of ``filter``: the high bits of its product with 2**64 / golden ratio, which depend on all
        of its bits (ids differing in one character differ in a few bits of their hash)."""
        return (hashes * np.uint64(0x9E3779B97F4A7C15)) >> self.shift

    def _may_hold(self, hashes: np.ndarray) -> np.ndarray:
        slots = self._slots(hashes)
        return ((self.filter[slots >> np.uint64(3)] >> (slots & np.uint64(7)).astype(np.uint8)) & 1).astype(bool)

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
        maybe = np.flatnonzero(self._may_hold(hashes))
        if len(maybe) == len(values):
            return self._lookup(values, hashes)
        found[maybe] = self._lookup(values.take(maybe), hashes[maybe])
        return found

    def _lookup(self, values: pa.Array, hashes: np.ndarray) -> np.ndarray:
        found = np.full(len(values), -1, dtype=np.int64)
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


# Evaluation ids a bucket of ``RowsById`` holds, about: their ``IdIndex`` takes some 50 MB. Past MAX_BUCKETS
# buckets (256 million rows) they hold more instead: each bucket keeps a file open while labels are added.
BUCKET_ROWS, MAX_BUCKETS = 1_000_000, 256


# What a check of a label file in pieces writes beside it until it ends (``RowsById``'s buckets, each piece parsed,
# its buckets and rows found), measured with ids of 4 to 36 characters: a label about twice its line of the file
# and 24 bytes more; an evaluation row its id as the copy stores it (``id_bytes``) and 12 bytes more. The stored
# copy (the labels, their ids and rows, compressed) is counted as the file once more with 8 bytes a label.
LABEL_SCRATCH_BYTES, ROW_SCRATCH_BYTES, COPY_LABEL_BYTES = 24, 12, 8


def check_disk_bytes(*, file_bytes: int, labels: int, rows: int, id_bytes: int) -> int:
    """About the disk a check of ``labels`` labels in a file of ``file_bytes`` needs beside it, against an
    evaluation of ``rows`` rows whose ids take ``id_bytes`` in its copy, decoded (``stored_id_bytes``)."""
    return (3 * file_bytes + (LABEL_SCRATCH_BYTES + COPY_LABEL_BYTES) * labels + id_bytes
            + ROW_SCRATCH_BYTES * rows)


def stored_id_bytes(source, column: str) -> int:
    """The bytes the ``column`` of a Parquet file takes decoded (lengths and values), from its footer alone."""
    metadata = pq.ParquetFile(source).metadata
    position = metadata.schema.to_arrow_schema().get_field_index(column)
    return sum(metadata.row_group(group).column(position).total_uncompressed_size
               for group in range(metadata.num_row_groups))


class RowsById:
    """The evaluation row of each id of a label file too long to hold (its ids added a piece at a time), found in
    one read of the evaluation's ids whatever the number of pieces (a grace hash join, in ``folder``).

    ``add_labels`` writes each piece's ids to the file of their bucket and returns the bucket of each;
    ``add_evaluation`` writes the evaluation's ids with their rows to the same buckets, a batch at a time; ``join``
    matches each bucket's label ids to its evaluation ids (one ``IdIndex`` of a bucket's evaluation ids, about
    ``bucket_rows`` of them, at a time) and writes the row found for each; ``rows`` then gives, piece after piece
    in the order they were added, the evaluation row of each label (-1 for an id the evaluation does not have).
    Checking 25 pieces of two million labels against 50 million rows read the evaluation's ids 25 times before.

    The bucket of an id comes from a polynomial hash over its bytes with a base drawn for each join: ids cannot be
    chosen to fall in one bucket (an evaluation's ids are unique, so its buckets stay near ``bucket_rows``), and a
    hash never decides a match (``IdIndex`` compares the ids). A bucket's labels are read a batch at a time: a
    label file repeating one id many times fills one bucket without holding it."""

    def __init__(self, folder: str, *, evaluation_rows: int, bucket_rows: int | None = None):
        self.folder = folder
        self.count = min(MAX_BUCKETS, max(1, -(-evaluation_rows // (bucket_rows or BUCKET_ROWS))))
        base = np.uint64(secrets.randbits(64) | 1)
        self.powers = np.cumprod(np.full(len(_POWERS), base, dtype=np.uint64), dtype=np.uint64)
        self.files = ExitStack()
        self.writers, self.results = {}, {}
        self.schema = pa.schema([("id", pa.large_string())])

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.files.close()

    def _path(self, kind: str, bucket: int) -> str:
        return os.path.join(self.folder, f"{kind}-{bucket}.arrow")

    def _writer(self, writers: dict, files: ExitStack, kind: str, bucket: int, schema: pa.Schema):
        if bucket not in writers:
            sink = files.enter_context(pa.OSFile(self._path(kind, bucket), "wb"))
            writers[bucket] = files.enter_context(pa.ipc.new_stream(sink, schema))
        return writers[bucket]

    def buckets(self, ids: pa.Array) -> np.ndarray:
        """The bucket of each id (a large_string array without nulls)."""
        hashes = np.empty(len(ids), dtype=np.uint64)
        for start in range(0, len(ids), _HASH_ROWS):
            hashes[start:start + _HASH_ROWS] = _hashes(ids.slice(start, _HASH_ROWS), self.powers)
        with np.errstate(over="ignore"):
            mixed = (hashes * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)
            return ((mixed * np.uint64(self.count)) >> np.uint64(32)).astype(np.int32)

    def _runs(self, buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions ordered by bucket (in order within each), and where each bucket's run of them starts."""
        order = np.argsort(buckets, kind="stable")
        return order, np.searchsorted(buckets[order], np.arange(self.count + 1))

    def add_labels(self, ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Add a piece's ids (no nulls); returns the bucket of each, which ``rows`` takes back."""
        ids = _text(ids)
        buckets = self.buckets(ids)
        order, bounds = self._runs(buckets)
        grouped = ids.take(order)
        for bucket in np.flatnonzero(np.diff(bounds)):
            writer = self._writer(self.writers, self.files, "labels", bucket, self.schema)
            writer.write_batch(pa.record_batch([grouped.slice(bounds[bucket], bounds[bucket + 1] - bounds[bucket])],
                                               schema=self.schema))
        return buckets

    def add_evaluation(self, batches: Iterable[pa.Array]) -> int:
        """Write the evaluation's ids (batches in the order of its rows) to the buckets. Returns how many."""
        schema, start, writers = pa.schema([("row", pa.int64()), ("id", pa.large_string())]), 0, {}
        with ExitStack() as files:
            for batch in batches:
                batch = _text(batch)
                order, bounds = self._runs(self.buckets(batch))
                grouped, rows = batch.take(order), order.astype(np.int64) + start
                for bucket in np.flatnonzero(np.diff(bounds)):
                    at, size = bounds[bucket], bounds[bucket + 1] - bounds[bucket]
                    self._writer(writers, files, "evaluation", bucket, schema).write_batch(
                        pa.record_batch([pa.array(rows[at:at + size]), grouped.slice(at, size)], schema=schema))
                start += len(batch)
        return start

    def join(self) -> None:
        """Find the evaluation row of every label added, bucket by bucket."""
        self.files.close()
        for bucket in sorted(self.writers):
            index, rows = IdIndex(pa.array([], type=pa.large_string())), np.zeros(0, dtype=np.int64)
            if os.path.exists(self._path("evaluation", bucket)):
                with pa.OSFile(self._path("evaluation", bucket)) as source, pa.ipc.open_stream(source) as reader:
                    table = reader.read_all()
                index, rows = IdIndex(table.column("id")), table.column("row").to_numpy()
                del table
            with pa.OSFile(self._path("labels", bucket)) as source, pa.ipc.open_stream(source) as reader, \
                    open(self._path("rows", bucket), "wb") as out:
                for ids in self._gathered(reader, len(rows)):
                    where = np.array(index.positions(ids), dtype=np.int64)  # may be Arrow's, read-only
                    found = where >= 0
                    where[found] = rows[where[found]]
                    where.tofile(out)
        self.files = ExitStack()
        self.results = {bucket: self.files.enter_context(open(self._path("rows", bucket), "rb"))  # noqa: SIM115
                        for bucket in self.writers}

    @staticmethod
    def _gathered(reader, size: int) -> Iterable[pa.ChunkedArray]:
        """A bucket's label ids (one batch a piece) in runs of at least ``size``: one lookup of an evaluation
        bucket's size costs a fifth less than lookups of a piece's share each."""
        held, count = [], 0
        for batch in reader:
            held.append(batch.column(0))
            count += len(held[-1])
            if count >= size:
                yield pa.chunked_array(held, type=pa.large_string())
                held, count = [], 0
        if held:
            yield pa.chunked_array(held, type=pa.large_string())

    def rows(self, buckets: np.ndarray) -> np.ndarray:
        """The evaluation row of each label of the next piece (``buckets``: what ``add_labels`` returned for it)."""
        rows = np.empty(len(buckets), dtype=np.int64)
        order, bounds = self._runs(buckets)
        for bucket in np.flatnonzero(np.diff(bounds)):
            size = bounds[bucket + 1] - bounds[bucket]
            found = np.fromfile(self.results[bucket], dtype=np.int64, count=size)
            if len(found) != size:
                raise ValueError(f"bucket {bucket} holds {len(found)} rows where {size} were added")
            rows[order[bounds[bucket]:bounds[bucket + 1]]] = found
        return rows


class Checked(NamedTuple):
    """What ``check`` finds: the problems of a label file, and the evaluation row of each of its labels (0-based,
    in the order the evaluation stores its rows; -1 for an id it does not have)."""

    problems: list[Problem]
    rows: np.ndarray


def check(parsed, *, id_column: str, evaluation_ids: Iterable[pa.Array], evaluation_name: str,
          labelled_rows: Iterable[np.ndarray] = (), labelled_ids: Iterable[pa.Array] = ()) -> Checked:
    """Problems of a parsed label file (``ingest.ParsedLabels``) against its evaluation: unknown ids and ids
    that an earlier batch labelled already, each with the rows of the label file; and the evaluation row of each
    label (``stored``). The evaluation's ids come as batches, matched against the label file's as they come, and so
    do the earlier batches' evaluation rows (``labelled_rows``; the ids of batches stored without them,
    ``labelled_ids``): memory follows the label file, not the evaluation nor the labels before it."""
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
    again[_labelled(rows, labelled_rows)] = True
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


def _labelled(rows: np.ndarray, batches: Iterable[np.ndarray]) -> np.ndarray:
    """The positions in ``rows`` (evaluation rows, -1 for none) of those found in ``batches`` of rows: one binary
    search of each batch's rows among the sorted ``rows`` (48 million earlier labels against two million new:
    1.6 s, against 7.7 s through their ids)."""
    found = [np.zeros(0, dtype=np.int64)]
    if not len(rows):
        return found[0]
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    for batch in batches:
        at = np.minimum(np.searchsorted(ordered, batch), len(ordered) - 1)
        found.append(order[at[ordered[at] == batch]])
    return np.concatenate(found)


# The column of a stored label file that holds each label's evaluation row (``stored``).
ROW_COLUMN = "__evaluation_row__"


def stored(frame: pd.DataFrame, rows: np.ndarray, *, id_column: str, target_column: str) -> pd.DataFrame:
    """A checked label file as it is stored: with the evaluation row of each label (``Checked.rows``) in
    ``ROW_COLUMN``, sorted by it, so a computation puts each label at its row (``LateLabels``) instead of holding
    every label id to look its rows up. A file whose id or target column is itself called ``ROW_COLUMN`` is stored
    as it came, and is joined by id."""
    if ROW_COLUMN in (id_column, target_column):
        return frame
    order = np.argsort(rows, kind="stable")
    return frame.iloc[order].reset_index(drop=True).assign(**{ROW_COLUMN: rows[order]})


def has_rows(names: Iterable[str], *, id_column: str, target_column: str) -> bool:
    """Whether a stored label file of these columns holds its labels' evaluation rows (``stored``), or was stored
    before they were (or with a column taking their name): then it is joined by id."""
    return ROW_COLUMN in names and ROW_COLUMN not in (id_column, target_column)


class LateLabels:
    """The label files of one evaluation, joined to its rows a batch at a time: ``join`` of each batch of its rows,
    in the order they are stored, with the batch's first row.

    ``label_files`` are Parquet files (paths or seekable binary files) or DataFrames, as ``stored`` made them. The
    labels of those stored with their evaluation rows (``ROW_COLUMN``) are read once, a batch of one file at a time,
    into an array along the evaluation's rows (``by_row``): two bytes a row for 0/1 labels, eight for numbers, four
    for text labels (the codes of ``categories``); no id is held, and the number of files does not matter. The
    others (files stored before rows were, or whose columns take that name) are held, their ids in one ``IdIndex``
    and their labels (as numbers, or as text for multiclass labels) as one array."""

    def __init__(self, label_files: Sequence, *, id_column: str, target_column: str, batch_size: int = 65_536):
        self.id_column, self.target_column = id_column, target_column
        self.index = self.values = self.by_row = self.categories = None
        positioned, by_id, kinds = [], [], []
        for label_file in label_files:
            table = label_file if isinstance(label_file, pd.DataFrame) else pq.ParquetFile(label_file, pre_buffer=False)
            names = table.columns if isinstance(table, pd.DataFrame) else table.schema_arrow.names
            if has_rows(names, id_column=id_column, target_column=target_column):
                positioned.append(table)
                kinds.append(_arrow_kind(table, target_column))
            else:
                frame = table if isinstance(table, pd.DataFrame) else table.read(
                    columns=[id_column, target_column]).to_pandas()
                by_id.append(frame)
                kinds.append(_pandas_kind(frame[target_column].dtype))
        # Multiclass labels as plain strings, so files with different categories map alike.
        self.dtype = np.dtype(object) if "text" in kinds else np.dtype(np.float64)
        if by_id:
            labels = pd.concat(by_id, ignore_index=True)
            self.index = IdIndex(_arrow(labels[id_column]))
            values = labels[target_column]
            self.values = values.astype(object).to_numpy() if "text" in kinds else values.to_numpy(dtype=np.float64)
        if positioned:
            self._read_by_row(positioned, kind=max(kinds, key=_KINDS.index), batch_size=batch_size)

    def _read_by_row(self, files: list, *, kind: str, batch_size: int) -> None:
        size = max(_last_row(label_file) for label_file in files) + 1  # up to the last row labelled
        if kind == "text":
            self.by_row, categories = np.full(size, -1, dtype=np.int32), {}
        elif kind == "small":
            self.by_row = np.full(size, _MISSING_SMALL, dtype=np.int16)
        else:
            self.by_row = np.full(size, np.nan)
        for label_file in files:
            for rows, values in _batches(label_file, self.target_column, batch_size):
                if kind == "text":
                    found = pd.Categorical(values.to_pandas().astype(object))
                    codes = np.array([categories.setdefault(c, len(categories)) for c in found.categories],
                                     dtype=np.int32)
                    self.by_row[rows] = codes[found.codes]
                else:
                    self.by_row[rows] = values.to_numpy(zero_copy_only=False)
        if kind == "text":
            self.categories = np.empty(len(categories), dtype=object)
            self.categories[:] = list(categories)

    def join(self, frame: pd.DataFrame, start: int = 0) -> pd.DataFrame:
        """``frame`` with ``target_column`` holding each row's label (missing where none arrived). ``frame`` holds
        the evaluation's rows from row ``start`` (0-based) on, as stored."""
        frame = frame.copy(deep=False)
        joined = np.full(len(frame), None if self.dtype == object else np.nan, dtype=self.dtype)
        if self.index is not None:
            position = self.index.positions(_arrow(frame[self.id_column]))
            found = position >= 0
            joined[found] = self.values[position[found]]
        if self.by_row is not None:
            labels = self.by_row[start:start + len(frame)]
            if self.categories is not None:
                found = np.flatnonzero(labels >= 0)
                joined[found] = self.categories[labels[found]]
            else:
                found = np.flatnonzero(labels != _MISSING_SMALL if labels.dtype == np.int16 else ~np.isnan(labels))
                joined[found] = labels[found]
        frame[self.target_column] = joined
        return frame


# How labels are held along the rows, from the narrowest: 0/1 (or other small whole numbers), numbers, text.
_KINDS = ("small", "number", "text")
_MISSING_SMALL = np.iinfo(np.int16).min


def _arrow_kind(table: pq.ParquetFile | pd.DataFrame, column: str) -> str:
    if isinstance(table, pd.DataFrame):
        return _pandas_kind(table[column].dtype)
    kind = table.schema_arrow.field(column).type
    if pa.types.is_boolean(kind) or (pa.types.is_integer(kind) and kind.bit_width <= 8):
        return "small"
    return "number" if pa.types.is_integer(kind) or pa.types.is_floating(kind) else "text"


def _pandas_kind(dtype) -> str:
    if isinstance(dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(dtype):
        return "text"
    return "small" if dtype == np.bool_ or (pd.api.types.is_integer_dtype(dtype) and dtype.itemsize == 1) else "number"


def _last_row(table: pq.ParquetFile | pd.DataFrame) -> int:
    """The last evaluation row a stored label file labels (-1 for a file without labels): the largest of its row
    groups' statistics, or of the column where a group has none. A file is sorted by row within each piece it was
    checked in (``stored``), not across them (an upload in parts, ``services.evaluation_labels_add_file``)."""
    if isinstance(table, pd.DataFrame):
        return int(table[ROW_COLUMN].max()) if len(table) else -1
    column, last = table.schema.names.index(ROW_COLUMN), -1
    for group in range(table.metadata.num_row_groups):
        meta = table.metadata.row_group(group)
        if not meta.num_rows:
            continue
        statistics = meta.column(column).statistics
        if statistics is not None and statistics.has_min_max:
            last = max(last, int(statistics.max))
        else:
            last = max(last, int(pc.max(table.read_row_group(group, columns=[ROW_COLUMN]).column(0)).as_py()))
    return last


def _batches(table: pq.ParquetFile | pd.DataFrame, column: str, batch_size: int):
    """(rows, labels) of a stored label file, a batch at a time."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table[[ROW_COLUMN, column]], preserve_index=False)
        batches = table.to_batches(max_chunksize=batch_size)
    else:
        batches = table.iter_batches(batch_size=batch_size, columns=[ROW_COLUMN, column])
    for batch in batches:
        yield batch.column(0).to_numpy(), batch.column(1)


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
