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
"""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from apps.monitoring.ingest import Problem


def _arrow(ids: pd.Series) -> pa.Array:
    """Ids as an Arrow string array: Arrow's hash kernels match a million ids in a fraction of the time
    ``Series.isin`` and ``Series.map`` take on text."""
    return pa.array(ids.astype(object).to_numpy() if not isinstance(ids.dtype, pd.StringDtype) else ids,
                    type=pa.string(), from_pandas=True)


def check(parsed, *, id_column: str, evaluation_ids: pd.Series, labelled_ids: pd.Series,
          evaluation_name: str) -> list[Problem]:
    """Problems of a parsed label file (``ingest.ParsedLabels``) against its evaluation: unknown ids and ids
    that an earlier batch labelled already, each with the rows of the label file."""
    ids = parsed.df[id_column]
    arrow_ids = _arrow(ids)
    problems = []
    unknown = ~pc.is_in(arrow_ids, value_set=_arrow(evaluation_ids)).to_numpy(zero_copy_only=False)
    if unknown.any():
        example = ids[unknown].iloc[0]
        problems.append(parsed.rows.problem(
            id_column, unknown, f"prediction id {example!r} is not one of the {len(evaluation_ids):,} predictions "
                                f"of {evaluation_name} ({int(unknown.sum()):,} unknown ids)"))
    again = pc.is_in(arrow_ids, value_set=_arrow(labelled_ids)).to_numpy(zero_copy_only=False)
    if again.any():
        example = ids[again].iloc[0]
        problems.append(parsed.rows.problem(
            id_column, again, f"prediction id {example!r} was labelled by an earlier label file; labels are "
                              "not replaced (upload the evaluation again to correct them)"))
    return problems


def join(frame: pd.DataFrame, batches: list[pd.DataFrame], *, id_column: str, target_column: str) -> pd.DataFrame:
    """``frame`` with ``target_column`` holding each row's label from ``batches`` (missing where none arrived)."""
    frame = frame.copy(deep=False)
    if not batches:
        frame[target_column] = np.full(len(frame), np.nan)
        return frame
    labels = pd.concat(batches, ignore_index=True)
    position = pc.index_in(_arrow(frame[id_column]), value_set=_arrow(labels[id_column]))
    position = position.fill_null(-1).to_numpy(zero_copy_only=False)
    found = position >= 0
    values = labels[target_column]
    if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values.dtype):
        # Multiclass labels as plain strings, so batches with different categories map alike.
        joined = np.full(len(frame), None, dtype=object)
        joined[found] = values.astype(object).to_numpy()[position[found]]
    else:
        joined = np.full(len(frame), np.nan)
        joined[found] = values.to_numpy(dtype=np.float64)[position[found]]
    frame[target_column] = joined
    return frame


class LateLabels:
    """The label files of one evaluation, joined to its rows a batch at a time (``join`` of every batch)."""

    def __init__(self, label_files: list[pd.DataFrame], *, id_column: str, target_column: str):
        self.id_column, self.target_column = id_column, target_column
        self.files = [pd.concat(label_files, ignore_index=True)] if label_files else []

    def join(self, frame: pd.DataFrame) -> pd.DataFrame:
        return join(frame, self.files, id_column=self.id_column, target_column=self.target_column)


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
