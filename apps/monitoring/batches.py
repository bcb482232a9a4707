"""The metrics of ``services.compute_metrics`` over a Parquet file read in record batches (no Django imports).

``compute_metrics(source, ...)`` returns the same document as ``services.compute_metrics`` on the
whole file (same keys; numbers equal up to floating-point summation order, well within 1e-9), while
holding one record batch at a time plus small additive statistics; ``compute_metrics_by_period`` computes the
documents of several periods (a version's metric windows) in one read of the files, one set of statistics each:

* binary: confusion counts overall and per sensitive group (``metrics.binary_partials``, merged with
  ``metrics.merge_partials``) and the exact score histogram (distinct score, positives, negatives)
  from which ROC AUC, log loss and Brier are computed exactly as for a whole file;
* multiclass: per-label true, predicted and correct counts, the sum of the log losses, and per group
  count and hits;
* regression: sums of absolute and squared errors overall and per group, and the target's count, mean
  and sum of squared deviations merged with Chan's parallel formula (stable, so R2 is not ruined by
  cancellation);
* drift (feature and prediction): per numeric column the exact count of every distinct value of the
  *reference*, read first, from which the reference deciles follow (numpy's "linear" quantile, same
  arithmetic); then each current batch is reduced by binary search to its counts in the decile bins
  (PSI) and at the reference's distinct values, which is all ``scipy.stats.ks_2samp``'s statistic needs
  (``drift.numeric_drift_against_reference`` says why); per categorical column the count of every
  category (``drift.category_counts``), for PSI and the chi-square test.

Memory. Every count above is exact. What does not depend on the evaluation's row count: the confusion
counts, the group and category counts, and the numeric drift columns, which hold about 32 bytes per
distinct *reference* value (a reference is an upload, bounded by ``PORTAL_MAX_ROWS``: a 200,000-row
reference with a continuous feature costs 6 MB for it). What does: the binary score histogram, 24 bytes
per distinct score of the evaluation. Scores with limited precision (probabilities to 3-6 decimals: at
most a million distinct values, 24 MB) stay small at any row count; full-precision float64 scores with
a distinct value in every row cost 24 bytes a row (1.2 GB at 50 million rows), the price of an exact
ROC AUC (no sketch gives it exactly, and an external sort/merge spilling to disk is not built).
Histogram batches are merged in a binary-counter cascade (a run is merged with the previous one when
that is less than twice its size), so N batches cost O(distinct x log N), not O(distinct x N).

``pyarrow.parquet.ParquetFile.iter_batches`` decodes one row group at a time (only the columns
needed), so a row group is the unit of memory: ``ingest.to_parquet_bytes`` writes row groups of
``ingest.PARQUET_ROW_GROUP_ROWS`` rows; a file registered by reference brings its own row groups.
"""

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from apps.monitoring import drift, ingest, labels, metrics

BATCH_ROWS = 65_536


def frames(source, *, columns: Sequence[str] | None = None, batch_size: int = BATCH_ROWS) -> Iterator[pd.DataFrame]:
    """The file's rows as DataFrames of at most ``batch_size`` rows, with the dtypes of a whole read
    (categoricals stay categoricals); ``source`` is a path or a seekable binary file. Decimal columns (a data set
    registered by reference may hold them; an upload's copy never does) come as float64, as an upload reads them,
    not as Python ``Decimal`` objects that would be taken for categories."""
    # pre_buffer (pyarrow's default) caches every column chunk it has read ahead until the file is closed:
    # a scan's memory would grow with the file. Without it, one row group's pages are held at a time.
    parquet = pq.ParquetFile(source, pre_buffer=False)
    for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
        table = ingest.decimals_as_floats(pa.Table.from_batches([batch]))
        yield table.to_pandas(split_blocks=True, self_destruct=True)


def column_batches(source, column: str, *, batch_size: int = BATCH_ROWS) -> Iterator[pa.Array]:
    """One column of the file as Arrow arrays of at most ``batch_size`` values, read a batch at a time (no pandas:
    prediction ids matched by ``labels.IdIndex``)."""
    parquet = pq.ParquetFile(source, pre_buffer=False)
    for batch in parquet.iter_batches(batch_size=batch_size, columns=[column]):
        yield batch.column(0)


def column_names(source) -> list[str]:
    return list(pq.ParquetFile(source).schema_arrow.names)


def row_count(source) -> int:
    return pq.ParquetFile(source).metadata.num_rows


def rows_at(source, positions: np.ndarray, *, columns: Sequence[str]) -> pd.DataFrame:
    """The rows at ``positions`` (sorted, 0-based, in file order) of ``columns``, read batch by batch: only the
    chosen rows are kept, so memory follows their number, not the file's."""
    kept, offset = [], 0
    for frame in frames(source, columns=list(columns)):
        end = offset + len(frame)
        lo, hi = np.searchsorted(positions, [offset, end])
        if hi > lo:
            kept.append(frame.iloc[positions[lo:hi] - offset])
        offset = end
    if not kept:
        return _empty_frame(source)[list(columns)]
    # Categoricals from different batches may hold different categories: concat keeps the values either way.
    return pd.concat(kept, ignore_index=True)


def _empty_frame(source) -> pd.DataFrame:
    """A frame with no rows and the file's dtypes, read from the footer alone."""
    return ingest.decimals_as_floats(pq.ParquetFile(source).schema_arrow.empty_table()).to_pandas()


class ValueCounts:
    """Exact counts (one or more columns of them) per distinct float value, added batch by batch."""

    def __init__(self, width: int = 1):
        self.width = width
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, values: np.ndarray, counts: np.ndarray | None = None) -> None:
        """Add sorted distinct ``values`` with their ``counts`` ((d,) or (d, width)), or raw values."""
        if counts is None:
            values, counts = np.unique(values, return_counts=True)
        counts = np.asarray(counts, dtype=np.int64).reshape(len(values), self.width)
        self._runs.append((np.asarray(values, dtype=np.float64), counts))
        while len(self._runs) > 1 and len(self._runs[-2][0]) < 2 * len(self._runs[-1][0]):
            later = self._runs.pop()
            self._runs[-1] = _merge(self._runs[-1], later)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted distinct values, counts of shape (d, width))."""
        while len(self._runs) > 1:
            later = self._runs.pop()
            self._runs[-1] = _merge(self._runs[-1], later)
        if not self._runs:
            return np.empty(0), np.empty((0, self.width), dtype=np.int64)
        return self._runs[0]


def _merge(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    values = np.concatenate([a[0], b[0]])
    counts = np.concatenate([a[1], b[1]])
    order = np.argsort(values, kind="stable")
    values, counts = values[order], counts[order]
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]]) if values.size else np.empty(0, np.intp)
    return values[starts], np.add.reduceat(counts, starts, axis=0) if values.size else counts


def _finite_values(series: pd.Series) -> np.ndarray:
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    return values[~np.isnan(values)]


class _Numeric:
    """A numeric drift column: the reference's exact value counts, then the current data's counts at them.

    The reference is read first (``compute_metrics`` does); on the first current batch its counts are frozen
    and each current batch is reduced, by binary search, to counts at the reference's distinct values and in
    its decile bins (``drift.numeric_drift_against_reference``), so nothing grows with the current rows.
    """

    def __init__(self):
        self.reference, self.frozen = ValueCounts(), None
        self.count, self.sample = 0, []

    def add(self, side: int, series: pd.Series) -> None:
        values = _finite_values(series)
        if side == 0:
            if self.frozen is not None:
                raise RuntimeError("the reference must be read before the evaluation's rows")
            self.reference.add(values)
            return
        if self.frozen is None:
            self._freeze()
        self.count += values.size
        if self.sample is not None:
            # scipy's exact mode (at most KS_EXACT_MAX_N values a side) needs the values themselves.
            if self.count <= drift.KS_EXACT_MAX_N:
                self.sample.append(values)
            else:
                self.sample = None
        points = self.frozen[0]
        if points.size:
            # Sorted once, the batch answers "how many values are below" for every (sorted) point by binary search.
            ordered = np.sort(values)
            self.below_edges += np.searchsorted(ordered, self.edges, side="left")
            self.below += np.searchsorted(ordered, points, side="left")
            self.at_or_below += np.searchsorted(ordered, points, side="right")

    def _freeze(self, frozen: tuple[np.ndarray, np.ndarray] | None = None, edges: np.ndarray | None = None) -> None:
        if frozen is None:
            values, counts = self.reference.result()
            frozen = (values, counts[:, 0])
            edges = drift.decile_edges_from_counts(*frozen) if values.size else np.empty(0)
        self.frozen, self.edges, self.reference = frozen, edges, None
        # Running totals over the batches: values below each edge, below and at or below each reference point.
        self.below_edges = np.zeros(self.edges.size, dtype=np.int64)
        self.below = np.zeros(frozen[0].size, dtype=np.int64)
        self.at_or_below = np.zeros(frozen[0].size, dtype=np.int64)

    def share_reference(self, reader: "_Numeric") -> None:
        """Count against the reference ``reader`` read (its arrays are only read, never written), instead of
        reading the reference again: the periods of ``compute_metrics_by_period`` hold one copy of it."""
        if reader.frozen is None:
            reader._freeze()
        self._freeze(reader.frozen, reader.edges)

    def result(self) -> dict:
        if self.frozen is None:
            self._freeze()
        return drift.numeric_drift_against_reference(
            self.frozen, current_count=self.count, current_bins=np.diff(np.r_[0, self.below_edges, self.count]),
            at_or_below=self.at_or_below, below=self.below,
            current_sample=np.concatenate(self.sample) if self.sample else np.empty(0))


class _Categorical:
    """A categorical drift column: the count of every category, for the reference and the current data."""

    def __init__(self):
        self.sides: list[list[pd.Series]] = [[], []]

    def add(self, side: int, series: pd.Series) -> None:
        parts = self.sides[side]
        parts.append(drift.category_counts(series))
        if len(parts) > 16:  # categories are few (ingest bounds them); keep the list short anyway
            parts[:] = [_summed(parts)]

    def share_reference(self, reader: "_Categorical") -> None:
        """The reference's category counts ``reader`` read (a few small Series, never modified in place)."""
        self.sides[0] = list(reader.sides[0])

    def result(self) -> dict:
        return drift.categorical_drift_from_counts(*(_summed(side) for side in self.sides))


def _column(numeric: bool):
    return _Numeric() if numeric else _Categorical()


def _summed(parts: list[pd.Series]) -> pd.Series:
    if not parts:
        return pd.Series(dtype=np.int64)
    return pd.concat(parts).groupby(level=0, sort=False).sum()


class Accumulator:
    """Additive statistics of an evaluation's rows (and of its reference's), fed one DataFrame at a time:
    every reference frame (``add_reference``) before the first evaluation frame (``add``).

    ``current`` and ``reference`` are frames with no rows and the files' dtypes (``_empty_frame``): the
    columns present decide, as in ``services.compute_metrics``, which sensitive features, score and
    drift columns are computed, and the dtypes whether a feature is numeric.
    """

    def __init__(self, *, task_type: str, columns: Mapping, current: pd.DataFrame,
                 reference: pd.DataFrame | None = None):
        self.task_type, self.rows, self.labelled, self.late = task_type, 0, 0, False
        self.target, self.prediction = columns["target"], columns["prediction"]
        score = columns.get("score")
        self.score = score if score and score in current else None
        self.sensitive = [name for name in columns.get("sensitive_features", []) if name in current]
        self.probabilities = dict(columns.get("probability_columns") or {})
        self.drift: dict[str, _Numeric | _Categorical] = {}
        self.prediction_drift: dict[str, tuple[str, _Numeric | _Categorical]] = {}
        if reference is not None:
            for feature in columns.get("features", []):
                if feature in reference and feature in current:
                    self.drift[feature] = _column(drift.is_numeric_feature(reference[feature])
                                                  and drift.is_numeric_feature(current[feature]))
            if task_type == "binary" and self.score and self.score in reference:
                self.prediction_drift["score"] = (self.score, _Numeric())
            if self.prediction in reference and self.prediction in current:
                self.prediction_drift["prediction"] = (self.prediction, _column(task_type == "regression"))
        self._performance = {"binary": _Binary, "multiclass": _Multiclass}.get(task_type, _Regression)(self)

    def needed(self) -> list[str]:
        """The columns of the current data the computation reads."""
        names = [self.target, self.prediction, *self.sensitive, *self.probabilities.values(),
                 *([self.score] if self.score else []), *self.drift]
        return list(dict.fromkeys(names))

    def needed_from_reference(self) -> list[str]:
        return list(dict.fromkeys([*self.drift, *(column for column, _ in self.prediction_drift.values())]))

    def add(self, frame: pd.DataFrame, *, late: bool = False) -> None:
        """One batch of rows; ``late``: rows of an evaluation uploaded without labels (``labels``), whose target
        holds the labels that arrived so far: performance counts the labelled rows, drift all of them."""
        self.rows += len(frame)
        if late or labels.is_late(frame, target_column=self.target, id_column=None):
            self.late = True
            frame_with_labels = labels.labelled_rows(frame, target_column=self.target, task_type=self.task_type)
        else:
            frame_with_labels = frame
        self.labelled += len(frame_with_labels)
        if len(frame_with_labels):
            self._performance.add(frame_with_labels)
        self._add_drift(1, frame)

    def drift_columns(self) -> list[tuple[str, "_Numeric | _Categorical"]]:
        """(column of the data, its drift statistics) of every feature and prediction drift computed."""
        return [*self.drift.items(), *self.prediction_drift.values()]

    def _add_drift(self, side: int, frame: pd.DataFrame) -> None:
        for name, column in self.drift_columns():
            column.add(side, frame[name])

    def result(self, reference_groups: Mapping[str, str] | None = None) -> dict:
        # Rows waiting for every label: performance and fairness are pending, not zero.
        result = {} if self.late and not self.labelled else self._performance.result(reference_groups)
        if self.late:
            result["labels"] = {"rows": self.rows, "labelled_rows": self.labelled,
                                "coverage": self.labelled / self.rows if self.rows else None}
        result["drift"] = {feature: column.result() for feature, column in self.drift.items()}
        result["prediction_drift"] = {key: {**column.result(), "column": name}
                                      for key, (name, column) in self.prediction_drift.items()}
        return result


class _Binary:
    def __init__(self, owner: Accumulator):
        self.owner, self.partials = owner, None
        self.scores = ValueCounts(width=2) if owner.score else None

    def add(self, frame: pd.DataFrame) -> None:
        owner = self.owner
        partials = metrics.binary_partials(frame, target_column=owner.target, prediction_column=owner.prediction,
                                           score_column=owner.score, sensitive_features=owner.sensitive)
        histogram = partials.pop("scores")
        partials["scores"] = None
        if histogram is not None:
            self.scores.add(histogram["values"], np.column_stack([histogram["positives"], histogram["negatives"]]))
        self.partials = partials if self.partials is None else metrics.merge_partials(self.partials, partials)

    def result(self, reference_groups) -> dict:
        if self.partials is None:
            self.add(pd.DataFrame({self.owner.target: np.empty(0, np.int8), self.owner.prediction: np.empty(0, np.int8),
                                   **{name: pd.Categorical([]) for name in self.owner.sensitive}}))
        partials = dict(self.partials)
        if self.scores is not None:
            values, counts = self.scores.result()
            partials["scores"] = {"values": values, "positives": counts[:, 0], "negatives": counts[:, 1]}
        return metrics.binary_metrics_from_partials(partials, reference_groups)


class _Multiclass:
    def __init__(self, owner: Accumulator):
        self.owner = owner
        # Per label: rows whose truth is it, rows predicted as it, and rows both.
        self.support, self.predicted, self.hits = (pd.Series(dtype=np.int64) for _ in range(3))
        self.log_loss = 0.0
        self.groups: dict[str, pd.DataFrame] = {name: pd.DataFrame(columns=["count", "hits"], dtype=np.int64)
                                                for name in owner.sensitive}

    def add(self, frame: pd.DataFrame) -> None:
        owner = self.owner
        truth = pd.Series(np.asarray(frame[owner.target])).astype(str)
        predicted = pd.Series(np.asarray(frame[owner.prediction])).astype(str)
        correct = (truth == predicted).to_numpy()
        self.support = self.support.add(truth.value_counts(), fill_value=0)
        self.predicted = self.predicted.add(predicted.value_counts(), fill_value=0)
        self.hits = self.hits.add(truth[correct].value_counts(), fill_value=0)
        if self.owner.probabilities:
            self.log_loss += self._log_loss_sum(truth, frame)
        for name in owner.sensitive:
            codes, labels = metrics.group_codes(frame[name])
            counts = pd.DataFrame({"count": np.bincount(codes, minlength=len(labels)),
                                   "hits": np.bincount(codes, weights=correct, minlength=len(labels)).astype(np.int64)},
                                  index=labels)
            self.groups[name] = self.groups[name].add(counts, fill_value=0)

    def _log_loss_sum(self, truth: pd.Series, frame: pd.DataFrame) -> float:
        labels = [str(label) for label in self.owner.probabilities]
        codes = pd.Categorical(truth, categories=labels).codes
        if (codes < 0).any():
            raise ValueError("y_true contains a label without a probability column")
        probabilities = frame[list(self.owner.probabilities.values())].to_numpy(dtype=np.float64)
        chosen = np.clip(probabilities, metrics.EPS, 1 - metrics.EPS)[np.arange(len(codes)), codes]
        return float(-np.log(chosen).sum())

    def result(self, reference_groups) -> dict:
        n = int(self.support.sum())
        classes = sorted(set(self.support.index) | set(self.predicted.index))

        def counts(series: pd.Series) -> np.ndarray:
            return series.reindex(classes, fill_value=0).to_numpy(dtype=np.int64)

        f1_macro, f1_weighted = metrics._f1_scores(counts(self.hits), counts(self.support), counts(self.predicted))
        overall = {"count": n, "accuracy": metrics._ratio(int(self.hits.sum()), n), "f1_macro": f1_macro,
                   "f1_weighted": f1_weighted,
                   "log_loss": metrics._num(self.log_loss / n) if self.owner.probabilities and n else None}
        groups = {
            name: {str(label): {"count": int(row["count"]), "accuracy": metrics._ratio(float(row["hits"]),
                                                                                       int(row["count"]))}
                   for label, row in table.sort_index().iterrows() if row["count"]}
            for name, table in self.groups.items()
        }
        return {"overall": overall, "groups": groups}


class _Regression:
    def __init__(self, owner: Accumulator):
        self.owner = owner
        self.n, self.mean, self.deviations, self.absolute, self.squared = 0, 0.0, 0.0, 0.0, 0.0
        self.groups: dict[str, pd.DataFrame] = {name: pd.DataFrame(columns=["count", "absolute", "squared"])
                                                for name in owner.sensitive}

    def add(self, frame: pd.DataFrame) -> None:
        truth = frame[self.owner.target].to_numpy(dtype=np.float64)
        errors = truth - frame[self.owner.prediction].to_numpy(dtype=np.float64)
        if not truth.size:
            return
        # Chan et al.: merge (count, mean, sum of squared deviations) of two parts exactly and stably.
        n, mean = truth.size, float(truth.mean())
        deviations = float(((truth - mean) ** 2).sum())
        total = self.n + n
        delta = mean - self.mean
        self.deviations += deviations + delta * delta * self.n * n / total
        self.mean += delta * n / total
        self.n = total
        self.absolute += float(np.abs(errors).sum())
        self.squared += float((errors**2).sum())
        for name in self.owner.sensitive:
            codes, labels = metrics.group_codes(frame[name])
            table = pd.DataFrame({"count": np.bincount(codes, minlength=len(labels)),
                                  "absolute": np.bincount(codes, weights=np.abs(errors), minlength=len(labels)),
                                  "squared": np.bincount(codes, weights=errors**2, minlength=len(labels))},
                                 index=labels)
            self.groups[name] = self.groups[name].add(table, fill_value=0)

    def result(self, reference_groups) -> dict:
        n = self.n
        mae = metrics._num(self.absolute / n) if n else None
        rmse = metrics._num(math.sqrt(self.squared / n)) if n else None
        r2 = metrics._num(1 - self.squared / self.deviations) if self.deviations > 0 and n > 1 else None
        groups = {
            name: {str(label): {"count": int(row["count"]), "mae": metrics._num(row["absolute"] / row["count"]),
                                "rmse": metrics._num(math.sqrt(row["squared"] / row["count"]))}
                   for label, row in table.sort_index().iterrows() if row["count"]}
            for name, table in self.groups.items()
        }
        return {"overall": {"count": n, "mae": mae, "rmse": rmse, "r2": r2}, "groups": groups}


# A source's late labels: none, the labels, or a callable opening them (a context manager giving them or None).
Late = labels.LateLabels | Callable[[], AbstractContextManager[labels.LateLabels | None]] | None


@dataclass(frozen=True)
class Period:
    """One result of ``compute_metrics_by_period``: the rows of the sources at ``sources`` (indexes, increasing)
    whose ``columns["timestamp"]`` is in [start, end) (every row when ``start`` is None, and every row of a file
    without that column), computed with ``columns``; the first of those sources' columns decide what is computed."""

    start: datetime | None
    end: datetime | None
    columns: Mapping
    sources: tuple[int, ...]


def compute_metrics(
    sources: Iterable,
    *,
    task_type: str,
    columns: Mapping,
    reference=None,
    reference_groups: Mapping[str, str] | None = None,
    period: tuple[datetime, datetime] | None = None,
    late_labels: Sequence[Late] | None = None,
    batch_size: int = BATCH_ROWS,
) -> tuple[dict, int]:
    """``services.compute_metrics`` of the rows of one or more Parquet files, read in batches.

    ``sources`` are paths or seekable binary files (the first one's columns decide what is computed);
    ``reference`` the reference data's Parquet file or None. With ``period`` (start, end), only the rows
    whose ``columns["timestamp"]`` is in [start, end) count (all rows of a file without that column).
    ``late_labels``: per source, the labels that arrived after an evaluation uploaded without them (joined to
    each batch, ``labels.LateLabels``), what opens them when called (a context manager: each source's are then
    open only while its rows are read), or None. Returns (the metrics document, the number of rows counted).
    """
    sources = list(sources)
    start, end = period or (None, None)
    [counted] = compute_metrics_by_period(sources, task_type=task_type,
                                          periods=[Period(start, end, columns, tuple(range(len(sources))))],
                                          reference=reference, reference_groups=reference_groups,
                                          late_labels=late_labels, batch_size=batch_size)
    return counted


def compute_metrics_by_period(
    sources: Sequence,
    *,
    task_type: str,
    periods: Sequence[Period],
    reference=None,
    reference_groups: Mapping[str, str] | None = None,
    late_labels: Sequence[Late] | None = None,
    batch_size: int = BATCH_ROWS,
) -> list[tuple[dict, int]]:
    """``compute_metrics`` of each period (a version's metric windows), reading every file once.

    Per period, the result is ``compute_metrics([sources[i] for i in period.sources], columns=period.columns,
    period=(period.start, period.end), late_labels=[late_labels[i] ...])``: each batch of a source is joined to
    its late labels once, then split by timestamp into the periods that count that source, each period with its
    own ``Accumulator``. The reference is read once: the first drift column of each (column, kind) reads it and
    the other periods' columns count against its frozen counts.

    Memory: one batch (its rows go to at most one period when periods do not overlap, a period's slice being
    dropped once added) plus one accumulator per period, each as described at the top of this module: the
    confusion, group and category counts (small), the score histogram (24 bytes per distinct score *of its
    period's rows*, so 12 periods together hold about what one accumulator over all of them would), and per
    numeric drift column 16 bytes per distinct reference value for its own running totals (the reference's
    values and counts, 16 bytes per distinct value, are held once for every period). Returns (document, rows
    counted) per period, in the order of ``periods``.
    """
    sources = list(sources)
    late_labels = list(late_labels) if late_labels is not None else [None] * len(sources)
    if len(late_labels) != len(sources):
        raise ValueError("late_labels needs one entry (or None) per source")
    for period in periods:
        if not period.sources or list(period.sources) != sorted(set(period.sources)):
            raise ValueError("a period counts one or more sources, by increasing index")
    schemas = {first: _empty_frame(sources[first]) for first in {period.sources[0] for period in periods}}
    reference_frame = _empty_frame(reference) if reference is not None else None
    accumulators = [Accumulator(task_type=task_type, columns=period.columns, current=schemas[period.sources[0]],
                                reference=reference_frame) for period in periods]
    if reference is not None:
        # The reference first: numeric drift reduces the current rows to counts at the reference's values.
        _read_reference_once(reference, accumulators, batch_size=batch_size)
    for index, (source, late) in enumerate(zip(sources, late_labels, strict=True)):
        counting = [(period, accumulator) for period, accumulator in zip(periods, accumulators, strict=True)
                    if index in period.sources]
        if counting:
            _add_source(source, late, counting, batch_size=batch_size)
    return [(accumulator.result(reference_groups), accumulator.rows) for accumulator in accumulators]


def _read_reference_once(reference, accumulators: list[Accumulator], *, batch_size: int) -> None:
    """Feed the reference to one drift column per (data column, kind); the same columns of the other
    accumulators share what it read (``share_reference``)."""
    readers: dict[tuple[str, type], _Numeric | _Categorical] = {}
    sharing = []
    for accumulator in accumulators:
        for name, column in accumulator.drift_columns():
            reader = readers.setdefault((name, type(column)), column)
            if reader is not column:
                sharing.append((column, reader))
    if not readers:
        return
    for frame in frames(reference, columns=list(dict.fromkeys(name for name, _ in readers)), batch_size=batch_size):
        for (name, _), column in readers.items():
            column.add(0, frame[name])
    for column, reader in sharing:
        column.share_reference(reader)


def _add_source(source, late: Late, counting: list[tuple[Period, Accumulator]], *, batch_size: int) -> None:
    """One source's batches, each split among the periods that count it (``counting``); ``late`` its late labels
    (``LateLabels``, or what opens them when called: opened only now, and closed once its rows are counted)."""
    with late() if callable(late) else nullcontext(late) as late:
        present = set(column_names(source))
        wanted = [name for period, accumulator in counting
                  for name in (*accumulator.needed(), *([_timestamp(period)] if _timestamp(period) else []))]
        wanted += [late.id_column] if late else []
        start = 0
        for frame in frames(source, columns=[c for c in dict.fromkeys(wanted) if c in present],
                            batch_size=batch_size):
            if late:
                frame = late.join(frame, start)  # row by row, so joining the whole batch then splitting it is the same
            start += len(frame)
            stamps: dict[str, pd.Series] = {}
            for period, accumulator in counting:
                rows = frame
                timestamp = _timestamp(period)
                if timestamp in frame:
                    if timestamp not in stamps:
                        stamps[timestamp] = pd.to_datetime(frame[timestamp], utc=True)
                    rows = frame[((stamps[timestamp] >= period.start) & (stamps[timestamp] < period.end)).to_numpy()]
                accumulator.add(rows, late=late is not None)


def _timestamp(period: Period) -> str | None:
    return period.columns.get("timestamp") if period.start is not None else None


class Following:
    """``compute_metrics`` of one file whose rows are handed over as another reader checks them (an upload's streamed
    check, ``streaming.check_and_convert(observe=...)``), instead of read back from its Parquet copy afterwards: the
    same ``Accumulator`` fed the same columns of the same Arrow tables the copy is written from, so the document is
    the one ``compute_metrics`` of the copy gives (counts exact; sums up to summation order, as between batch sizes).

    ``schema`` is the copy's Arrow schema (it decides, as the file's footer does, which columns are computed and
    whether a feature is numeric); ``reference`` the reference data's Parquet file or None, read first, as there;
    ``late`` the labels of an evaluation uploaded without them (none yet for a new one: its target is all missing).
    """

    def __init__(self, *, task_type: str, columns: Mapping, schema: pa.Schema, reference=None,
                 late: labels.LateLabels | None = None, batch_size: int = BATCH_ROWS):
        reference_frame = _empty_frame(reference) if reference is not None else None
        self.accumulator = Accumulator(task_type=task_type, columns=columns, current=schema.empty_table().to_pandas(),
                                       reference=reference_frame)
        if reference is not None:
            _read_reference_once(reference, [self.accumulator], batch_size=batch_size)
        wanted = [*self.accumulator.needed(), *([late.id_column] if late else [])]
        self.columns = [name for name in dict.fromkeys(wanted) if name in schema.names]
        self.late, self.rows = late, 0

    def add(self, table: pa.Table) -> None:
        """The next rows of the file, in file order, as the copy stores them."""
        frame = table.select(self.columns).to_pandas(split_blocks=True, self_destruct=True)
        if self.late:
            frame = self.late.join(frame, self.rows)
        self.rows += len(frame)
        self.accumulator.add(frame, late=self.late is not None)

    def result(self, reference_groups: Mapping[str, str] | None = None) -> tuple[dict, int]:
        """(the metrics document, the rows counted), as ``compute_metrics`` answers them."""
        return self.accumulator.result(reference_groups), self.accumulator.rows
