"""Late labels stored with their evaluation rows and put at them (``labels.stored``, ``LateLabels``)."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from apps.monitoring import ingest, labels

ROWS = 1_000


def _evaluation_ids(seed: int = 0) -> pd.Series:
    """An evaluation's prediction ids in the order it stores its rows (not sorted: ids are any text)."""
    return pd.Series([f"id-{n}" for n in np.random.default_rng(seed).permutation(ROWS)])


def _label_files(ids: pd.Series, task_type: str, *, files: int = 3, seed: int = 1) -> list[pd.DataFrame]:
    """Label files for a shuffled part of the rows (about two thirds), each in its own order, with their rows."""
    rng = np.random.default_rng(seed)
    labelled = rng.permutation(ROWS)[: 2 * ROWS // 3]
    values = {"binary": lambda n: rng.integers(0, 2, n).astype(np.int8),
              "regression": lambda n: rng.normal(0, 5, n).round(3),
              "multiclass": lambda n: pd.Categorical(rng.choice(["cat", "dog", "owl"], n))}[task_type]
    return [pd.DataFrame({"id": ids.to_numpy()[part], "y": values(len(part)), "rows": part})
            for part in np.array_split(labelled, files)]


def _stored(label_file: pd.DataFrame, tmp_path, name: str):
    path = tmp_path / f"{name}.parquet"
    path.write_bytes(ingest.to_parquet_bytes(labels.stored(label_file[["id", "y"]], label_file["rows"].to_numpy(),
                                                           id_column="id", target_column="y"), row_group_rows=128))
    return path


def _joined(late: labels.LateLabels, ids: pd.Series, batch: int) -> pd.Series:
    parts = [late.join(pd.DataFrame({"id": ids.iloc[start:start + batch]}), start)["y"]
             for start in range(0, len(ids), batch)]
    return pd.concat(parts)


@pytest.mark.parametrize("task_type", ["binary", "multiclass", "regression"])
def test_labels_put_at_their_rows_equal_the_join_by_id(tmp_path, task_type):
    ids = _evaluation_ids()
    files = _label_files(ids, task_type)
    by_id = labels.LateLabels([f[["id", "y"]] for f in files], id_column="id", target_column="y")
    by_row = labels.LateLabels([_stored(f, tmp_path, str(n)) for n, f in enumerate(files)], id_column="id",
                               target_column="y", batch_size=50)
    assert by_row.index is None and by_id.index is not None and by_id.by_row is None
    assert by_row.by_row.dtype == {"binary": np.int16, "regression": np.float64, "multiclass": np.int32}[task_type]
    assert len(by_row.by_row) == max(f["rows"].max() for f in files) + 1  # up to the last labelled row
    assert (by_row.categories is not None) == (task_type == "multiclass")

    expected = by_id.join(pd.DataFrame({"id": ids}))["y"]
    for batch in (97, 1, ROWS):
        joined = _joined(by_row, ids, batch)
        assert _plain(joined) == _plain(expected)
    assert _joined(by_row, ids, 97).dtype == expected.dtype
    assert int(expected.notna().sum()) == 2 * ROWS // 3

    # The independent answer: each id's label, looked up in a dict of every label file.
    truth = {i: v for f in files for i, v in zip(f["id"], f["y"].astype(object), strict=True)}
    assert [truth.get(i) for i in ids] == _plain(expected)


def _plain(values: pd.Series) -> list:
    """The labels as Python values, None where missing (a batch without any label has no text dtype to infer)."""
    return [None if pd.isna(v) else v for v in values.astype(object)]


def test_files_stored_before_rows_were_and_after_join_together(tmp_path):
    ids = _evaluation_ids(seed=3)
    old, *new = _label_files(ids, "binary", files=3, seed=4)
    late = labels.LateLabels([old[["id", "y"]], *(_stored(f, tmp_path, str(n)) for n, f in enumerate(new))],
                             id_column="id", target_column="y", batch_size=64)
    assert late.index is not None and len(late.index) == len(old) and late.by_row is not None

    joined = _joined(late, ids, 200)
    every = pd.concat(_label_files(ids, "binary", files=3, seed=4))
    expected = pd.Series(ids).map(dict(zip(every["id"], every["y"].astype(float), strict=True)))
    np.testing.assert_array_equal(joined.to_numpy(), expected.to_numpy())


def test_text_labels_of_files_with_different_categories_map_alike(tmp_path):
    ids = _evaluation_ids()
    first = pd.DataFrame({"id": ids.iloc[:3], "y": pd.Categorical(["cat", "dog", "cat"]), "rows": [0, 1, 2]})
    second = pd.DataFrame({"id": ids.iloc[5:7], "y": pd.Categorical(["owl", "dog"]), "rows": [5, 6]})
    late = labels.LateLabels([_stored(first, tmp_path, "a"), _stored(second, tmp_path, "b")], id_column="id",
                             target_column="y")
    joined = late.join(pd.DataFrame({"id": ids.iloc[:8]}))["y"]
    assert _plain(joined) == ["cat", "dog", "cat", None, None, "owl", "dog", None]
    assert sorted(late.categories) == ["cat", "dog", "owl"]


def test_a_file_whose_columns_take_the_row_columns_name_is_stored_as_it_came_and_joined_by_id(tmp_path):
    frame = pd.DataFrame({labels.ROW_COLUMN: ["b", "a"], "y": [1, 0]})
    stored = labels.stored(frame, np.array([1, 0]), id_column=labels.ROW_COLUMN, target_column="y")
    assert stored is frame
    late = labels.LateLabels([stored], id_column=labels.ROW_COLUMN, target_column="y")
    assert late.index is not None and late.by_row is None
    assert late.join(pd.DataFrame({labels.ROW_COLUMN: ["a", "c", "b"]}))["y"].tolist()[::2] == [0.0, 1.0]


def test_labels_at_their_rows_hold_two_bytes_a_row_not_the_ids(tmp_path):
    """The worker's memory for 0/1 labels put at their rows is two bytes a row, however many files hold them;
    joined by id, every id is held (25 files of two million labels: about 1.7 GB)."""
    rows = 400_000
    ids = pd.Series([f"prediction-{n:09d}" for n in range(rows)])
    path = tmp_path / "labels.parquet"
    path.write_bytes(ingest.to_parquet_bytes(labels.stored(
        pd.DataFrame({"id": ids, "y": np.ones(rows, np.int8)}), np.arange(rows), id_column="id", target_column="y"),
        row_group_rows=16_384))

    def held(label_file) -> int:
        before = pa.total_allocated_bytes()
        late = labels.LateLabels([label_file], id_column="id", target_column="y", batch_size=1_000)
        late.join(pd.DataFrame({"id": ids.iloc[:1_000]}), 0)  # the by-id join also hashes its ids once here
        after = pa.total_allocated_bytes() + sum(a.nbytes for a in vars(late).values() if isinstance(a, np.ndarray))
        if late.index is not None:
            after += sum(a.nbytes for a in (late.index.sorted, late.index.order, late.index.shared))
        return after - before

    by_row = held(path)
    by_id = held(pd.read_parquet(path).drop(columns=labels.ROW_COLUMN))
    assert by_id > 400_000 * 16  # at least the ids' text and their hashes
    assert by_row < by_id / 10, (by_row, by_id)


def test_ids_labelled_before_are_found_by_their_rows_or_by_id_for_older_files():
    ids = _evaluation_ids()
    new = pd.DataFrame({"id": ids.iloc[[5, 7, 9, 11, 400]].tolist() + ["nobody"], "y": [1, 0, 1, 0, 1, 1]})

    class Parsed:
        df, rows = new, ingest._RowNumbers(2)  # file row 2 is the first label

    evaluation = [pa.array(ids.iloc[start:start + 128].tolist()) for start in range(0, ROWS, 128)]
    checked = labels.check(Parsed, id_column="id", evaluation_ids=evaluation, evaluation_name="the evaluation",
                           labelled_rows=[np.array([1, 3, 7]), np.array([400, 900])],  # rows, as stored now
                           labelled_ids=[pa.array([ids.iloc[11], "id-elsewhere"])])  # ids, as stored before
    assert checked.rows.tolist() == [5, 7, 9, 11, 400, -1]
    problems = {p.message.split(" (")[0].split(";")[0]: p.rows for p in checked.problems}
    assert problems == {
        f"prediction id {ids.iloc[7]!r} was labelled by an earlier label file": (3, 5, 6),
        "prediction id 'nobody' is not one of the 1,000 predictions of the evaluation": (7,)}
