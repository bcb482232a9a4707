"""The batched computation equals the whole-file one (services.compute_metrics), batch after small batch."""

import io
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm

from apps.monitoring import batches, drift, ingest, labels
from apps.monitoring.services import compute_metrics

ROWS = 1500
BATCH = 97  # many batches, none aligned with the row groups


def _csv(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def _frame(task_type: str, *, seed: int, shift: float = 0.0, n: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "income": rng.normal(50 + shift, 10, n).round(2),
        "ratio": rng.random(n),  # a distinct value in every row
        "region": rng.choice(["north", "south", "east", "west"], n, p=[0.4 - shift / 100, 0.3, 0.2, 0.1 + shift / 100]),
        "sex": rng.choice(["female", "male"], n),
        "band": rng.choice(["a", "b", "c"], n),
        "timestamp": [f"2026-03-{1 + day:02d}T10:00:00Z" for day in rng.integers(0, 28, n)],
    })
    if task_type == "binary":
        y = rng.integers(0, 2, n)
        score = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, n), 0, 1)
        frame["y_true"], frame["y_score"] = y, score.round(3)
        frame["y_pred"] = (frame.y_score >= 0.5).astype(int)
    elif task_type == "multiclass":
        labels = np.array(["cat", "dog", "fox"])
        truth = rng.integers(0, 3, n)
        proba = rng.dirichlet([1, 1, 1], n)
        proba[np.arange(n), truth] += 1
        proba /= proba.sum(axis=1, keepdims=True)
        frame["y_true"], frame["y_pred"] = labels[truth], labels[proba.argmax(axis=1)]
        for index, label in enumerate(labels):
            frame[f"y_score_{label}"] = proba[:, index]
    else:
        truth = rng.normal(100, 15, n)
        frame["y_true"], frame["y_pred"] = truth.round(1), (truth + rng.normal(shift, 5, n)).round(1)
    return frame


def _stored(tmp_path, task_type: str, *, seed: int, sensitive=("sex", "band"), shift: float = 0.0):
    parsed = ingest.parse_evaluation(_csv(_frame(task_type, seed=seed, shift=shift)), filename="e.csv",
                                     task_type=task_type, sensitive_features=list(sensitive), min_group_rows=1)
    path = tmp_path / f"{task_type}-{seed}.parquet"
    path.write_bytes(ingest.to_parquet_bytes(parsed.df, row_group_rows=400))
    columns = {"target": parsed.target_column, "prediction": parsed.prediction_column, "score": parsed.score_column,
               "timestamp": parsed.timestamp_column, "sensitive_features": list(parsed.sensitive_features),
               "features": list(parsed.feature_columns), "probability_columns": dict(parsed.probability_columns)}
    return path, parsed.df, columns


def _reference(tmp_path, task_type: str):
    """A reference with the model's outputs on it, stored as reference_upload stores it (ingest.read_table)."""
    frame, _ = ingest.read_table(_csv(_frame(task_type, seed=99, shift=4.0)), filename="r.csv")
    path = tmp_path / f"reference-{task_type}.parquet"
    path.write_bytes(ingest.to_parquet_bytes(frame, row_group_rows=300))
    return path, frame


def _assert_same(batched, whole, path="result"):
    if isinstance(whole, dict):
        assert isinstance(batched, dict) and set(batched) == set(whole), f"{path}: keys {set(batched) ^ set(whole)}"
        for key in whole:
            _assert_same(batched[key], whole[key], f"{path}.{key}")
    elif isinstance(whole, list):
        assert len(batched) == len(whole), path
        for index, (b, w) in enumerate(zip(batched, whole, strict=True)):
            _assert_same(b, w, f"{path}[{index}]")
    elif isinstance(whole, float) and not isinstance(batched, str):
        assert batched == pytest.approx(whole, abs=1e-9, rel=1e-9), path
    else:
        assert batched == whole, path


@pytest.mark.parametrize("task_type", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("sensitive", [("sex", "band"), ()])
@pytest.mark.parametrize("with_reference", [True, False])
def test_it_equals_the_whole_file_computation(tmp_path, task_type, sensitive, with_reference):
    path, frame, columns = _stored(tmp_path, task_type, seed=1, sensitive=sensitive)
    reference_path, reference = _reference(tmp_path, task_type) if with_reference else (None, None)

    result, rows = batches.compute_metrics([path], task_type=task_type, columns=columns, reference=reference_path,
                                           reference_groups={"sex": "male"}, batch_size=BATCH)

    whole = compute_metrics(ingest.read_parquet_bytes(path.read_bytes()), task_type=task_type, columns=columns,
                            reference=reference, reference_groups={"sex": "male"})
    assert rows == len(frame)
    _assert_same(result, whole)
    assert bool(result["drift"]) == with_reference
    if with_reference:
        assert result["drift"]["ratio"]["kind"] == "numeric" and result["drift"]["region"]["kind"] == "categorical"
        assert result["prediction_drift"]["prediction"]


def test_its_headline_values_match_scikit_learn_and_scipy(tmp_path):
    path, frame, columns = _stored(tmp_path, "binary", seed=2)
    reference_path, reference = _reference(tmp_path, "binary")

    result, _ = batches.compute_metrics([path], task_type="binary", columns=columns, reference=reference_path,
                                        batch_size=BATCH)

    assert result["overall"]["roc_auc"] == pytest.approx(skm.roc_auc_score(frame.y_true, frame.y_score), abs=1e-12)
    assert result["overall"]["log_loss"] == pytest.approx(skm.log_loss(frame.y_true, frame.y_score), abs=1e-12)
    assert result["overall"]["f1"] == pytest.approx(skm.f1_score(frame.y_true, frame.y_pred), abs=1e-12)
    for feature in ("income", "ratio"):
        ks = stats.ks_2samp(reference[feature], frame[feature])
        assert result["drift"][feature]["statistic"] == pytest.approx(ks.statistic, abs=1e-12)
        assert result["drift"][feature]["p_value"] == pytest.approx(ks.pvalue, abs=1e-12)


def test_it_counts_only_the_rows_of_the_period(tmp_path):
    path, frame, columns = _stored(tmp_path, "regression", seed=3)
    start, end = datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 3, 12, tzinfo=UTC)

    result, rows = batches.compute_metrics([path, path], task_type="regression", columns=columns,
                                           period=(start, end), batch_size=BATCH)

    inside = frame[(frame.timestamp >= start) & (frame.timestamp < end)]
    twice = pd.concat([inside, inside])
    assert rows == 2 * len(inside)
    assert result["overall"]["mae"] == pytest.approx(skm.mean_absolute_error(twice.y_true, twice.y_pred), abs=1e-9)
    assert result["overall"]["r2"] == pytest.approx(skm.r2_score(twice.y_true, twice.y_pred), abs=1e-9)


def test_numeric_drift_against_a_reference_equals_scipy_on_large_samples(tmp_path):
    # Over KS_EXACT_MAX_N rows, where the current rows are reduced to counts at the reference's values.
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 30_000), "r": rng.normal(0, 1, 30_000).round(1)})
    current = pd.DataFrame({"x": rng.normal(0.03, 1, 25_000), "r": rng.normal(0.03, 1, 25_000).round(1)})
    paths = {name: tmp_path / f"{name}.parquet" for name in ("reference", "current")}
    for name, frame in (("reference", reference), ("current", current)):
        paths[name].write_bytes(ingest.to_parquet_bytes(frame, row_group_rows=7000))
    columns = {"target": "x", "prediction": "x", "features": ["x", "r"]}

    result, _ = batches.compute_metrics([paths["current"]], task_type="regression", columns=columns,
                                        reference=paths["reference"], batch_size=997)

    for feature in ("x", "r"):
        expected = stats.ks_2samp(reference[feature], current[feature])
        assert result["drift"][feature]["statistic"] == pytest.approx(expected.statistic, abs=1e-15)
        assert result["drift"][feature]["p_value"] == pytest.approx(expected.pvalue, abs=1e-12)
        assert result["drift"][feature] == drift.numeric_drift(reference[feature], current[feature])
    assert np.array_equal(drift.quantiles_from_counts(*np.unique(reference.r, return_counts=True)),
                          np.quantile(reference.r, drift.QUANTILES))


def test_value_counts_merge_batches_exactly():
    rng = np.random.default_rng(5)
    data = rng.integers(0, 500, 20_000).astype(float)
    counts = batches.ValueCounts()
    for part in np.array_split(data, 137):
        counts.add(part)

    values, totals = counts.result()

    expected_values, expected_counts = np.unique(data, return_counts=True)
    assert np.array_equal(values, expected_values) and np.array_equal(totals[:, 0], expected_counts)


def test_the_stored_copy_is_written_in_bounded_row_groups():
    import pyarrow.parquet as pq

    frame = pd.DataFrame({"x": np.arange(300_000, dtype=np.float64)})

    stored = pq.ParquetFile(io.BytesIO(ingest.to_parquet_bytes(frame)))

    assert stored.metadata.num_row_groups == 3
    assert max(stored.metadata.row_group(i).num_rows for i in range(3)) == ingest.PARQUET_ROW_GROUP_ROWS


def test_numeric_drift_state_does_not_grow_with_the_current_rows():
    rng = np.random.default_rng(6)
    column = batches._Numeric()
    column.add(0, pd.Series(rng.normal(0, 1, 2000).round(1)))
    for _ in range(20):
        column.add(1, pd.Series(rng.normal(0, 1, 5000)))  # a new distinct value in every row

    held = column.below_edges.size + column.at_or_below.size + column.below.size + column.frozen[0].size

    assert column.count == 100_000 and column.sample is None
    assert held < 4 * (column.frozen[0].size + 12)


# --- Several periods in one pass (a version's metric windows) --------------------------------------------------

WEEKS = [(datetime(2026, 3, day, tzinfo=UTC), datetime(2026, 3, day + 7, tzinfo=UTC)) for day in (1, 8, 15)]
EMPTY = (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 4, 8, tzinfo=UTC))  # after every row
# The rows of March 22-28 fall in no period; the last period counts only the second file.
PERIOD_BATCH = 400  # a few batches per file, each split among several periods


def _pending(tmp_path, task_type: str, *, seed: int):
    """A production file uploaded without its target, and the labels of every other prediction, arrived later."""
    frame = _frame(task_type, seed=seed).assign(prediction_id=lambda f: [f"p{i}" for i in range(len(f))])
    parsed = ingest.parse_evaluation(_csv(frame.drop(columns="y_true")), filename="p.csv", task_type=task_type,
                                     sensitive_features=["sex"], min_group_rows=1, require_target=False)
    path = tmp_path / f"pending-{task_type}-{seed}.parquet"
    path.write_bytes(ingest.to_parquet_bytes(parsed.df, row_group_rows=400))
    arrived = ingest.parse_labels(_csv(frame[["prediction_id", "y_true"]].iloc[::2]), filename="l.csv",
                                  prediction_id_column="prediction_id", target_column="y_true", task_type=task_type)
    late = labels.LateLabels([arrived.df], id_column="prediction_id", target_column="y_true")
    columns = {"target": "y_true", "prediction": parsed.prediction_column, "score": parsed.score_column,
               "timestamp": parsed.timestamp_column, "sensitive_features": ["sex"], "prediction_id": "prediction_id",
               "features": list(parsed.feature_columns), "probability_columns": dict(parsed.probability_columns)}
    return path, columns, late


@pytest.mark.parametrize("task_type", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize(("late", "with_reference"), [(True, True), (False, False)])
def test_periods_in_one_pass_equal_one_computation_per_period(tmp_path, task_type, late, with_reference):
    first, _, columns = _stored(tmp_path, task_type, seed=1)
    if late:
        second, second_columns, pending = _pending(tmp_path, task_type, seed=2)
    else:
        (second, _, second_columns), pending = _stored(tmp_path, task_type, seed=2, sensitive=("sex",)), None
    reference = _reference(tmp_path, task_type)[0] if with_reference else None
    periods = [*(batches.Period(*week, columns, (0, 1)) for week in WEEKS), batches.Period(*EMPTY, columns, (0, 1)),
               batches.Period(*WEEKS[1], second_columns, (1,))]
    late_labels = [None, pending]

    in_one_pass = batches.compute_metrics_by_period([first, second], task_type=task_type, periods=periods,
                                                    reference=reference, reference_groups={"sex": "male"},
                                                    late_labels=late_labels, batch_size=PERIOD_BATCH)

    assert len(in_one_pass) == len(periods)
    for period, (result, rows) in zip(periods, in_one_pass, strict=True):
        sources = [[first, second][index] for index in period.sources]
        alone, alone_rows = batches.compute_metrics(
            sources, task_type=task_type, columns=period.columns, reference=reference,
            reference_groups={"sex": "male"}, period=(period.start, period.end),
            late_labels=[late_labels[index] for index in period.sources], batch_size=PERIOD_BATCH)
        assert rows == alone_rows
        _assert_same(result, alone)
    counted = [rows for _, rows in in_one_pass]
    assert all(counted[:3]) and counted[3] == 0 and sum(counted[:3]) < 2 * ROWS  # March 22-28 counted nowhere
    assert ("labels" in in_one_pass[4][0]) == late and bool(in_one_pass[0][0]["drift"]) == with_reference
    if late:
        assert in_one_pass[4][0]["labels"]["labelled_rows"] < in_one_pass[4][0]["labels"]["rows"]


def test_periods_share_one_read_of_the_reference(tmp_path, monkeypatch):
    path, _, columns = _stored(tmp_path, "binary", seed=1)
    reference = _reference(tmp_path, "binary")[0]
    read = []
    original = batches.frames
    monkeypatch.setattr(batches, "frames", lambda source, **kwargs: read.append(source) or original(source, **kwargs))

    batches.compute_metrics_by_period([path], task_type="binary", reference=reference, batch_size=BATCH,
                                      periods=[batches.Period(*week, columns, (0,)) for week in WEEKS])

    assert read == [reference, path]


def test_a_period_needs_its_sources_in_order(tmp_path):
    path, _, columns = _stored(tmp_path, "regression", seed=1)
    for sources in [(), (1, 0)]:
        with pytest.raises(ValueError, match="by increasing index"):
            batches.compute_metrics_by_period([path, path], task_type="regression",
                                              periods=[batches.Period(*WEEKS[0], columns, sources)])
