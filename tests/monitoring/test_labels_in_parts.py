"""Late labels of any length (issue 17, items 1 and 5): a label file sent as an upload in parts is checked by a
worker in pieces of at most ``PORTAL_MAX_ROWS`` labels (``streaming.label_pieces``,
``services.evaluation_labels_add_file``), each as a label file sent alone, and stored as one label file.

``PORTAL_MAX_ROWS`` is lowered here so that a few hundred labels make several pieces; parts are 1 KB."""

import hashlib
import io
import os
import shutil
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlops_portal_client.client import LABELS_CHUNK_THRESHOLD
from rest_framework.test import APIClient
from sklearn.metrics import accuracy_score, mean_absolute_error, roc_auc_score

from apps.core.models import AuditEvent
from apps.monitoring import batches, ingest, labels, services, storage, streaming, uploads
from apps.monitoring.models import Evaluation, LabelBatch, UploadSession
from mlops_portal.client import PortalClient, PortalError
from tests.factories import api_key_for
from tests.monitoring.test_late_labels import add_labels, csv_bytes, predictions, upload_pending
from tests.reviews.helpers import assessed_version

PART = 1024


@pytest.fixture(autouse=True)
def _small(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PORTAL_UPLOAD_PART_BYTES = PART
    monkeypatch.setattr(labels, "BUCKET_ROWS", 64)  # a few hundred predictions in several buckets


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


@pytest.fixture
def version(scientist):
    return assessed_version(team__members=[scientist])


@pytest.fixture
def api(scientist) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(scientist)}")
    return client


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def from_file(scientist, evaluation, data: bytes, tmp_path, capture, name="labels.csv") -> LabelBatch:
    path = tmp_path / f"upload-{sha(data)[:8]}"
    path.write_bytes(data)
    with capture(execute=True):
        batch = services.evaluation_labels_add_file(actor=scientist, evaluation=evaluation, path=str(path),
                                                    filename=name, sha256=sha(data))
    evaluation.refresh_from_db()
    return batch


def refused(scientist, evaluation, data: bytes, tmp_path) -> list[str]:
    path = tmp_path / "refused.csv"
    path.write_bytes(data)
    with pytest.raises(services.UploadRejected) as rejected:
        services.evaluation_labels_add_file(actor=scientist, evaluation=evaluation, path=str(path),
                                            filename="refused.csv", sha256=sha(data))
    return [str(problem) for problem in rejected.value.problems]


# --- pieces ---------------------------------------------------------------------------------------------------


def pieces(data: bytes, *, file_format="csv", max_rows=3, block_bytes=64) -> list[streaming.LabelPiece]:
    return list(streaming.label_pieces(io.BytesIO(data), file_format=file_format, max_rows=max_rows,
                                       block_bytes=block_bytes))


def parsed_rows(piece: streaming.LabelPiece, task_type="multiclass") -> list[tuple[str, str, int]]:
    """(id, label, the file's row) of each label of a piece."""
    parsed = ingest.parse_labels(piece.data, filename="l.csv" if b"{" not in piece.data[:1] else "l.jsonl",
                                 prediction_id_column="id", target_column="y", task_type=task_type)
    numbers = parsed.rows.numbers(np.arange(len(parsed.df)))
    return [(str(i), str(y), n + piece.shift) for i, y, n in zip(parsed.df["id"], parsed.df["y"], numbers,
                                                                 strict=True)]


def test_pieces_of_a_csv_hold_at_most_the_rows_and_number_them_as_the_whole_file():
    lines = ["id,y", *[f"i{n},{'ab'[n % 2]}" for n in range(11)]]
    data = "\n".join(lines).encode() + b"\n"
    cut = pieces(data, max_rows=3)
    assert len(cut) == 4 and all(p.data.startswith(b"id,y\n") for p in cut)
    found = [row for piece in cut for row in parsed_rows(piece)]
    assert found == [(f"i{n}", "ab"[n % 2], n + 2) for n in range(11)]  # the header is row 1
    assert [p.end for p in cut] == [4, 7, 10, 12]  # the first piece holds the header and three rows


def test_pieces_keep_quoted_values_blank_lines_crlf_and_a_byte_order_mark():
    data = (b"\xef\xbb\xbf\r\nid,y\r\n"
            b'"a,b",x\r\n'
            b'i1,"y ""z"""\r\n'
            b"\r\n"                 # a blank line between rows
            b"i2,x\r\n"
            b'"i,3",x\r\n'
            b"i4,y")                # no line feed at the end
    whole = ingest.parse_labels(data, filename="l.csv", prediction_id_column="id", target_column="y",
                                task_type="multiclass")
    expected = list(zip(whole.df["id"], whole.df["y"], whole.rows.numbers(np.arange(len(whole.df))), strict=True))
    assert expected[1] == ("i1", 'y "z"', 4) and expected[2][2] == 6
    for max_rows, block in ((1, 8), (2, 16), (3, 64), (100, 4096)):
        found = [row for piece in pieces(data, max_rows=max_rows, block_bytes=block) for row in parsed_rows(piece)]
        assert found == [(str(i), str(y), n) for i, y, n in expected], (max_rows, block)


def test_a_quoted_line_break_in_a_later_piece_is_refused_at_the_row_a_whole_read_names():
    data = b"id,y\n" + b"".join(b"i%d,x\n" % n for n in range(9)) + b'"i\n9",x\n' + b"i10,y\n"
    with pytest.raises(ingest.IngestError) as whole:
        ingest.parse_labels(data, filename="l.csv", prediction_id_column="id", target_column="y",
                            task_type="multiclass")
    assert [p.rows for p in whole.value.problems] == [(11,)]
    cut = pieces(data, max_rows=4)
    assert len(cut) == 3 and cut[2].data == b'id,y\ni8,x\n"i\n9",x\ni10,y\n'  # the line feed stays inside
    with pytest.raises(ingest.IngestError) as piece:
        parsed_rows(cut[2])
    assert [tuple(row + cut[2].shift for row in p.rows) for p in piece.value.problems] == [(11,)]


@pytest.mark.parametrize("window", [1, 3, 8, 1 << 20])
def test_a_pieces_end_is_found_window_by_window_as_in_one_scan(monkeypatch, window):
    """``_label_rows_end`` reads the buffer a window at a time, carrying the quotes' parity across windows: the
    cut is where one scan of the whole buffer puts it (the max_rows-th line feed outside quotes, or the last)."""
    def whole(data: bytes, max_rows: int, csv: bool, start: int) -> int | None:
        feeds = [at for at in range(start, len(data)) if data[at] == 10
                 and (not csv or data.count(b'"', start, at) % 2 == 0)]
        return feeds[min(max_rows, len(feeds)) - 1] + 1 if feeds else None

    monkeypatch.setattr(streaming, "_ROWS_END_WINDOW", window)
    rng = np.random.default_rng(window)
    for _ in range(300):
        data = rng.choice(list(b'ab,"\n'), size=int(rng.integers(0, 60)), p=[.3, .2, .15, .15, .2])
        data = data.astype(np.uint8).tobytes()
        for max_rows, csv, start in ((1, True, 0), (3, True, 2), (4, False, 0), (100, True, 0)):
            assert streaming._label_rows_end(bytearray(data), max_rows, csv, start) == \
                whole(data, max_rows, csv, min(start, len(data))), (data, max_rows, csv, start)


def test_json_lines_pieces_have_no_header_and_number_from_one():
    data = b"".join(b'{"id": "j%d", "y": "%s"}\n' % (n, b"ab"[n % 2:n % 2 + 1]) for n in range(7))
    cut = pieces(data, file_format="jsonl", max_rows=2)
    assert len(cut) == 4 and not any(p.data.startswith(b"id") for p in cut)
    found = [row for piece in cut for row in parsed_rows(piece)]
    assert found == [(f"j{n}", "ab"[n % 2], n + 1) for n in range(7)]


def test_a_quote_never_closed_is_refused_at_its_row_not_read_as_one_value():
    data = b"id,y\na,1\n" + b'"b,1\n' + b"c,0\n" * 200
    with pytest.raises(ingest.IngestError, match="never closed|longer than") as error:
        pieces(data, max_rows=1000, block_bytes=64)
    assert error.value.problems[0].rows == (3,)


# --- the worker's check ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_label_file_of_many_pieces_gives_the_metrics_of_scikit_learn_and_is_one_label_file(
        scientist, version, settings, tmp_path, django_capture_on_commit_callbacks):
    frame = predictions(400)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    settings.PORTAL_MAX_ROWS = 50  # 300 labels: seven pieces
    some = frame.sample(300, random_state=2)
    batch = from_file(scientist, evaluation, csv_bytes(some[["prediction_id", "y_true"]]), tmp_path,
                      django_capture_on_commit_callbacks)

    assert LabelBatch.objects.get() == batch and batch.row_count == 300 and batch.file_format == "csv"
    assert evaluation.status == "done"
    assert evaluation.metrics["labels"] == {"rows": 400, "labelled_rows": 300, "coverage": 0.75}
    overall = evaluation.metrics["overall"]
    assert overall["accuracy"] == pytest.approx(accuracy_score(some.y_true, some.y_pred), abs=1e-12)
    assert overall["roc_auc"] == pytest.approx(roc_auc_score(some.y_true, some.y_score), abs=1e-12)
    # Stored with each label's evaluation row, in row groups sorted within each piece (not across pieces).
    with storage.open(batch.parquet_path) as handle:
        stored = pq.read_table(handle).to_pandas()
    with storage.open(evaluation.parquet_path) as handle:
        ids = pq.read_table(handle, columns=["prediction_id"]).column(0).to_pylist()
    assert [ids[row] for row in stored[labels.ROW_COLUMN]] == list(stored["prediction_id"])
    assert sorted(stored["prediction_id"]) == sorted(some["prediction_id"])
    assert not stored[labels.ROW_COLUMN].is_monotonic_increasing  # so the reader must not assume it
    with storage.open(batch.parquet_path) as handle:
        assert labels._last_row(pq.ParquetFile(handle)) == int(stored[labels.ROW_COLUMN].max())
    assert storage.read(batch.raw_path) == csv_bytes(some[["prediction_id", "y_true"]])
    event = AuditEvent.objects.filter(action="evaluation.labels_added").get()
    assert event.changes["labels"] == [None, 300]


@pytest.mark.django_db
def test_labels_after_a_file_in_pieces_are_checked_against_it(
        scientist, version, settings, tmp_path, django_capture_on_commit_callbacks):
    frame = predictions(200)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    settings.PORTAL_MAX_ROWS = 30
    first = frame.iloc[:100]
    from_file(scientist, evaluation, csv_bytes(first[["prediction_id", "y_true"]]), tmp_path,
              django_capture_on_commit_callbacks)
    again = frame[["prediction_id", "y_true"]].iloc[[150, 60]]  # p60: labelled by the file in pieces
    with pytest.raises(services.UploadRejected, match=r"row 3: prediction id 'p60' was labelled by an earlier"):
        services.evaluation_labels_add(actor=scientist, evaluation=evaluation, data=csv_bytes(again),
                                       filename="again.csv")
    problems = refused(scientist, evaluation, csv_bytes(frame[["prediction_id", "y_true"]].iloc[95:140]), tmp_path)
    assert problems[0].startswith("column 'prediction_id', rows 2, 3, 4, 5, 6 (in 5 rows)") or \
        "prediction id 'p95' was labelled by an earlier label file" in problems[0]
    rest = frame.iloc[100:]
    from_file(scientist, evaluation, csv_bytes(rest[["prediction_id", "y_true"]]), tmp_path,
              django_capture_on_commit_callbacks)
    assert evaluation.metrics["labels"]["labelled_rows"] == 200
    assert evaluation.metrics["overall"]["accuracy"] == pytest.approx(accuracy_score(frame.y_true, frame.y_pred),
                                                                      abs=1e-12)


@pytest.mark.django_db
def test_problems_in_a_later_piece_name_the_files_rows_and_nothing_is_stored(
        scientist, version, settings, tmp_path, django_capture_on_commit_callbacks):
    frame = predictions(300)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    settings.PORTAL_MAX_ROWS = 40
    before = sorted((tmp_path / "media").rglob("*"))
    sent = frame[["prediction_id", "y_true"]].iloc[:200].astype(str).reset_index(drop=True)
    sent.loc[130, "prediction_id"] = "nope"   # file row 132, in the fourth piece
    sent.loc[131, "y_true"] = "maybe"         # file row 133
    problems = refused(scientist, evaluation, csv_bytes(sent), tmp_path)
    assert problems == [
        "column 'y_true', row 133: value 'maybe' is not one of the known labels ['0', '1']",
        "the lines up to 121 were checked and had no problem; the file was not checked past the problems above"]

    sent.loc[131, "y_true"] = "1"
    problems = refused(scientist, evaluation, csv_bytes(sent), tmp_path)
    assert problems[0] == ("column 'prediction_id', row 132: prediction id 'nope' is not one of the 300 predictions "
                           f"of evaluation #{evaluation.pk} (1 unknown ids)")

    sent.loc[130, "prediction_id"] = "p7"     # labelled in the first piece (file row 9)
    problems = refused(scientist, evaluation, csv_bytes(sent), tmp_path)
    assert problems[0] == ("column 'prediction_id', row 132: prediction id 'p7' appears more than once in this file "
                           "(each prediction has one label)")
    assert not LabelBatch.objects.exists() and sorted((tmp_path / "media").rglob("*")) == before
    assert not AuditEvent.objects.filter(action="evaluation.labels_added").exists()


@pytest.mark.django_db
def test_an_unknown_id_in_a_piece_before_a_malformed_one_is_the_problem_reported(
        scientist, version, settings, tmp_path, django_capture_on_commit_callbacks):
    """Pieces are parsed before the evaluation's ids are read (``_kept_pieces``): a piece that does not parse
    must not hide the problems of the ids of a piece before it, and nothing is left beside the upload."""
    frame = predictions(300)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    settings.PORTAL_MAX_ROWS = 40
    sent = frame[["prediction_id", "y_true"]].iloc[:200].astype(str).reset_index(drop=True)
    sent.loc[50, "prediction_id"] = "p999"    # file row 52, in the second piece
    sent.loc[170, "y_true"] = "maybe"         # file row 172, in the fifth
    problems = refused(scientist, evaluation, csv_bytes(sent), tmp_path)
    assert problems == [
        "column 'prediction_id', row 52: prediction id 'p999' is not one of the 300 predictions of evaluation "
        f"#{evaluation.pk} (1 unknown ids)",
        "the lines up to 41 were checked and had no problem; the file was not checked past the problems above"]
    assert not list(tmp_path.glob("*.pieces")) and not list(tmp_path.glob("*.parquet"))

    sent.loc[50, "prediction_id"] = "p250"
    problems = refused(scientist, evaluation, csv_bytes(sent), tmp_path)
    assert problems == [
        "column 'y_true', row 172: value 'maybe' is not one of the known labels ['0', '1']",
        "the lines up to 161 were checked and had no problem; the file was not checked past the problems above"]
    assert not LabelBatch.objects.exists() and not list(tmp_path.glob("*.pieces"))


@pytest.mark.django_db
def test_a_file_in_pieces_is_checked_against_label_files_stored_before_rows_were(
        scientist, version, settings, tmp_path, django_capture_on_commit_callbacks):
    frame = predictions(300)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    older = add_labels(scientist, evaluation, frame[["prediction_id", "y_true"]].iloc[:50],
                       django_capture_on_commit_callbacks)
    # As a label file was stored before its rows were: no row column, joined and checked by id.
    (settings.MEDIA_ROOT / older.parquet_path).write_bytes(ingest.to_parquet_bytes(
        pd.read_parquet(io.BytesIO(storage.read(older.parquet_path))).drop(columns=labels.ROW_COLUMN)))
    settings.PORTAL_MAX_ROWS = 40
    sent = frame[["prediction_id", "y_true"]].iloc[[*range(50, 150), 20, *range(150, 200)]]  # p20: file row 102
    assert refused(scientist, evaluation, csv_bytes(sent), tmp_path) == [
        "column 'prediction_id', row 102: prediction id 'p20' was labelled by an earlier label file; labels are not "
        "replaced (upload the evaluation again to correct them)",
        "the lines up to 81 were checked and had no problem; the file was not checked past the problems above"]

    from_file(scientist, evaluation, csv_bytes(sent.drop(index=20)), tmp_path, django_capture_on_commit_callbacks)
    labelled = frame.iloc[:200]
    assert evaluation.metrics["labels"]["labelled_rows"] == 200
    assert evaluation.metrics["overall"]["accuracy"] == pytest.approx(
        accuracy_score(labelled.y_true, labelled.y_pred), abs=1e-12)


def test_rows_by_id_finds_the_rows_a_dictionary_finds_in_balanced_buckets_drawn_for_each_join(tmp_path):
    rng = np.random.default_rng(5)
    evaluation = [f"id-{number:x}" for number in rng.permutation(20_000)]
    row_of = {id_: row for row, id_ in enumerate(evaluation)}
    sent = [[f"id-{number:x}" for number in rng.integers(0, 25_000, size)] for size in (3_000, 0, 30_001, 1)]
    drawn = []
    for attempt in range(2):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        with labels.RowsById(str(folder), evaluation_rows=len(evaluation), bucket_rows=1_000) as join:
            buckets = [join.add_labels(pa.array(ids, type=pa.string())) for ids in sent]
            assert join.add_evaluation(pa.array(evaluation[start:start + 777])
                                       for start in range(0, len(evaluation), 777)) == len(evaluation)
            sizes = [pa.ipc.open_stream(str(folder / f"evaluation-{bucket}.arrow")).read_all().num_rows
                     for bucket in range(join.count)]
            join.join()
            for ids, bucket in zip(sent, buckets, strict=True):
                assert join.rows(bucket).tolist() == [row_of.get(id_, -1) for id_ in ids]
        assert join.count == 20 and sum(sizes) == 20_000 and max(sizes) < 1_200, sizes
        drawn.append(np.concatenate(buckets))
    assert (drawn[0] != drawn[1]).mean() > 0.5  # a base drawn for each join: buckets cannot be aimed at


@pytest.mark.django_db
def test_a_label_file_stored_while_a_file_in_pieces_is_checked_refuses_the_later_one(
        scientist, version, settings, tmp_path, django_capture_on_commit_callbacks, monkeypatch):
    """The check runs unlocked; the files stored meanwhile are compared with its rows under the lock."""
    frame = predictions(200)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    settings.PORTAL_MAX_ROWS = 30
    real = services._check_label_pieces

    def meanwhile(*args, **kwargs):
        count = real(*args, **kwargs)
        services.evaluation_labels_add(actor=scientist, evaluation=evaluation, filename="quick.csv",
                                       data=csv_bytes(frame[["prediction_id", "y_true"]].iloc[[5, 150]]))
        return count

    monkeypatch.setattr(services, "_check_label_pieces", meanwhile)
    problems = refused(scientist, evaluation, csv_bytes(frame[["prediction_id", "y_true"]].iloc[:100]), tmp_path)
    assert problems == ["label file 'quick.csv', stored while this one was checked, labels 1 of the same "
                        "predictions (evaluation row 6 among them); labels are not replaced. Send this file again "
                        "without them"]
    assert list(LabelBatch.objects.values_list("filename", flat=True)) == ["quick.csv"]


@pytest.mark.django_db
def test_regression_and_multiclass_labels_in_pieces(scientist, settings, tmp_path,
                                                      django_capture_on_commit_callbacks):
    regression = assessed_version(team__members=[scientist], task_type="regression")
    rng = np.random.default_rng(3)
    truth = rng.normal(100, 20, 120).round(3)
    truth[:40] = truth[:40].round()  # whole numbers in the first pieces, decimals after
    frame = pd.DataFrame({"prediction_id": range(1000, 1120), "y_true": truth,
                          "y_pred": (truth + rng.normal(0, 5, 120)).round(3)})
    evaluation = upload_pending(scientist, regression, frame, django_capture_on_commit_callbacks, sensitive=())
    settings.PORTAL_MAX_ROWS = 25
    sent = frame[["prediction_id", "y_true"]].copy()
    sent["y_true"] = [f"{v:g}" for v in sent.y_true]
    from_file(scientist, evaluation, csv_bytes(sent), tmp_path, django_capture_on_commit_callbacks)
    assert evaluation.metrics["overall"]["mae"] == pytest.approx(mean_absolute_error(frame.y_true, frame.y_pred),
                                                                 abs=1e-9)

    multiclass = assessed_version(team__members=[scientist], task_type="multiclass")
    classes = np.array(["a", "b", "c"])
    truth = np.r_[np.full(30, "a"), rng.choice(classes, 90)]  # the first piece knows one class only
    frame = pd.DataFrame({"prediction_id": [f"m{i}" for i in range(120)], "y_true": truth,
                          "y_pred": np.where(rng.random(120) < 0.7, truth, rng.choice(classes, 120))})
    settings.PORTAL_MAX_ROWS = 2_000_000
    evaluation = upload_pending(scientist, multiclass, frame, django_capture_on_commit_callbacks, sensitive=())
    settings.PORTAL_MAX_ROWS = 31
    from_file(scientist, evaluation, b"\n".join(
        f'{{"prediction_id": "{i}", "y_true": "{y}"}}'.encode() for i, y in zip(frame.prediction_id, frame.y_true,
                                                                              strict=True)) + b"\n",
        tmp_path, django_capture_on_commit_callbacks, name="labels.jsonl")
    assert evaluation.metrics["overall"]["accuracy"] == pytest.approx(accuracy_score(frame.y_true, frame.y_pred),
                                                                      abs=1e-12)
    assert LabelBatch.objects.filter(evaluation=evaluation).get().file_format == "jsonl"


@pytest.mark.django_db
def test_a_parquet_label_file_is_read_whole_within_the_upload_limit_and_refused_above(
        scientist, version, settings, tmp_path, django_capture_on_commit_callbacks):
    frame = predictions(100)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    data = ingest.to_parquet_bytes(frame[["prediction_id", "y_true"]].head(60))
    settings.PORTAL_MAX_UPLOAD_BYTES = len(data) - 1
    assert refused(scientist, evaluation, data, tmp_path) == [
        "a label file over 0 MB (PORTAL_MAX_UPLOAD_MB) is checked as it is read, which CSV and JSON Lines allow; "
        "send it as CSV or JSON Lines"]
    settings.PORTAL_MAX_UPLOAD_BYTES = len(data)
    from_file(scientist, evaluation, data, tmp_path, django_capture_on_commit_callbacks, name="labels.parquet")
    assert evaluation.metrics["labels"]["labelled_rows"] == 60


@pytest.mark.django_db
def test_a_label_file_is_checked_in_the_memory_of_one_piece(
        scientist, version, settings, tmp_path, django_capture_on_commit_callbacks, monkeypatch):
    """Memory follows the piece, not the file: ten times the labels in pieces of the same size take about the
    same peak (a whole read would take ten times as much)."""
    import tracemalloc

    rows = 3 * batches.BATCH_ROWS
    frame = pd.DataFrame({"prediction_id": [f"p{i:07d}" for i in range(rows)], "y_pred": np.arange(rows) % 2,
                          "y_score": (np.arange(rows) % 100) / 100})
    evaluation, _ = services.evaluation_upload(actor=scientist, version=version, data=csv_bytes(frame),
                                               filename="preds.csv", kind="production")
    settings.PORTAL_MAX_ROWS = 5_000
    monkeypatch.setattr(labels, "BUCKET_ROWS", 100_000)

    def peak(count: int) -> int:
        data = csv_bytes(pd.DataFrame({"prediction_id": frame.prediction_id[:count], "y_true": np.arange(count) % 2}))
        LabelBatch.objects.all().delete()
        tracemalloc.start()
        try:
            from_file(scientist, evaluation, data, tmp_path, django_capture_on_commit_callbacks)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(5_000), peak(50_000)
    assert large < 2 * small, (small, large)


# --- the disk the check needs ---------------------------------------------------------------------------------


def _bytes_under(path) -> int:
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


@pytest.mark.django_db
@pytest.mark.parametrize("width", [4, 36])
def test_the_disk_estimate_of_a_check_in_pieces_covers_what_it_writes(
        scientist, version, settings, tmp_path, django_capture_on_commit_callbacks, monkeypatch, width):
    """The scratch and the stored copy beside the file, measured when the pieces' folder goes (its fullest
    moment), are within ``label_check_disk_bytes`` and not far below it, for short ids (where the per-label bytes
    weigh most) and long. One bucket, as for any evaluation under a million rows (a bucket's files add a few
    hundred bytes)."""
    monkeypatch.setattr(labels, "BUCKET_ROWS", 1_000_000)
    frame = predictions(20_000)
    frame["prediction_id"] = [f"{i:0{width}d}" for i in range(len(frame))]
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    settings.PORTAL_MAX_ROWS = 8_000
    data = csv_bytes(frame[["prediction_id", "y_true"]])
    written, remove = [], shutil.rmtree

    def measured(folder, *args, **kwargs):
        file = str(folder).removesuffix(".pieces")
        if os.path.exists(copy := f"{file}.labels.parquet"):  # the check's end (a stale folder is cleared first)
            written.append(_bytes_under(folder) + os.path.getsize(copy))
        return remove(folder, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", measured)
    from_file(scientist, evaluation, data, tmp_path, django_capture_on_commit_callbacks)
    estimate = services.label_check_disk_bytes(evaluation, len(data), lines=data.count(b"\n") + 1)

    assert len(written) == 1
    assert written[-1] <= estimate < 2 * written[-1], (written, estimate)


@pytest.mark.django_db
def test_a_label_file_the_workers_disk_cannot_check_is_refused_before_a_byte_is_written(
        scientist, version, settings, tmp_path, django_capture_on_commit_callbacks, monkeypatch):
    frame = predictions(300)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    settings.PORTAL_MAX_ROWS = 64
    data = csv_bytes(frame[["prediction_id", "y_true"]])
    needed = services.label_check_disk_bytes(evaluation, len(data), lines=data.count(b"\n") + 1)
    room = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: room._replace(free=needed - 1))

    problems = refused(scientist, evaluation, data, tmp_path)

    assert len(problems) == 1 and "free where it checks files" in problems[0], problems
    assert "the 302 lines of this label file, matched to the 300 rows" in problems[0]
    assert "Nothing was stored" in problems[0]
    assert not LabelBatch.objects.exists() and not list(tmp_path.glob("*.pieces"))
    monkeypatch.setattr(shutil, "disk_usage", lambda path: room._replace(free=needed))
    assert from_file(scientist, evaluation, data, tmp_path, django_capture_on_commit_callbacks).row_count == 300


@pytest.mark.django_db
def test_an_upload_of_labels_asks_at_its_start_for_the_room_their_check_needs(
        api, scientist, version, tmp_path, django_capture_on_commit_callbacks, monkeypatch):
    """More than an evaluation file of the same size: the ids of the labels and of the evaluation are sorted
    into buckets beside them."""
    evaluation = upload_pending(scientist, version, predictions(300), django_capture_on_commit_callbacks)
    size = 2_000
    needed = 2 * size + services.label_check_disk_bytes(evaluation, size)
    assert needed > size * uploads.DISK_FACTOR
    body = {"model_version": version.pk, "filename": "labels.csv", "size": size, "sha256": "a" * 64,
            "purpose": "labels", "evaluation": evaluation.pk}
    room = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: room._replace(free=needed - 1))

    response = api.post("/api/v1/uploads/", body, format="json")

    assert response.status_code == 507, response.content
    assert "the evaluation's while they are matched" in response.json()["detail"]
    assert not UploadSession.objects.exists()
    monkeypatch.setattr(shutil, "disk_usage", lambda path: room._replace(free=needed))
    assert api.post("/api/v1/uploads/", body, format="json").status_code == 201


# --- through the API and the client ---------------------------------------------------------------------------


def upload_labels(api, version, evaluation, data: bytes, capture, **extra):
    started = api.post("/api/v1/uploads/", {"model_version": version.pk, "filename": "labels.csv", "size": len(data),
                                            "sha256": sha(data), "purpose": "labels",
                                            "evaluation": evaluation.pk, **extra}, format="json")
    assert started.status_code == 201, started.json()
    session = started.json()
    for number, offset in enumerate(range(0, len(data), PART), start=1):
        assert api.generic("PUT", f"/api/v1/uploads/{session['id']}/parts/{number}/", data[offset:offset + PART],
                           content_type="application/octet-stream",
                           HTTP_X_PART_SHA256=sha(data[offset:offset + PART])).status_code == 200
    with capture(execute=True):
        assert api.post(f"/api/v1/uploads/{session['id']}/complete/").status_code == 202
    return api.get(f"/api/v1/uploads/{session['id']}/").json()


@pytest.mark.django_db
def test_labels_in_parts_through_the_api(api, scientist, version, settings, django_capture_on_commit_callbacks):
    frame = predictions(300)
    evaluation = upload_pending(scientist, version, frame, django_capture_on_commit_callbacks)
    settings.PORTAL_MAX_ROWS = 64
    some = frame.iloc[:250]
    data = csv_bytes(some[["prediction_id", "y_true"]])
    direct = api.post(f"/api/v1/evaluations/{evaluation.pk}/labels/",
                      {"file": io.BytesIO(data)}, format="multipart")
    assert direct.status_code == 400
    assert "send it as an upload in parts (POST /api/v1/uploads/ with purpose labels" in str(direct.json())

    session = upload_labels(api, version, evaluation, data, django_capture_on_commit_callbacks)
    assert session["state"] == "complete", session
    batch = LabelBatch.objects.get()
    assert session["label_batch"] == batch.pk and session["evaluation"] == evaluation.pk
    assert session["purpose"] == "labels" and batch.row_count == 250
    evaluation.refresh_from_db()
    assert evaluation.status == "done"
    assert evaluation.metrics["overall"]["accuracy"] == pytest.approx(accuracy_score(some.y_true, some.y_pred),
                                                                      abs=1e-12)
    assert AuditEvent.objects.filter(action="upload.completed", object_id=session["id"]).count() == 1

    again = upload_labels(api, version, evaluation, csv_bytes(frame[["prediction_id", "y_true"]].iloc[240:]),
                          django_capture_on_commit_callbacks)
    assert again["state"] == "rejected" and again["label_batch"] is None
    assert again["problems"][0]["column"] == "prediction_id" and again["problems"][0]["rows"] == [2, 3, 4, 5, 6]
    assert "was labelled by an earlier label file" in again["problems"][0]["message"]
    assert LabelBatch.objects.count() == 1


@pytest.mark.django_db
def test_an_upload_of_labels_names_an_evaluation_of_the_version_that_takes_labels(
        api, scientist, version, django_capture_on_commit_callbacks):
    pending = upload_pending(scientist, version, predictions(30), django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        labelled, _ = services.evaluation_upload(actor=scientist, version=version, data=csv_bytes(predictions(30)),
                                                 filename="v.csv", kind="validation")
    other = upload_pending(scientist, assessed_version(team__members=[scientist]), predictions(30),
                           django_capture_on_commit_callbacks)
    body = {"model_version": version.pk, "filename": "l.csv", "size": 10, "purpose": "labels"}

    missing = api.post("/api/v1/uploads/", body, format="json")
    assert missing.status_code == 400 and missing.json()["field"] == "evaluation"
    elsewhere = api.post("/api/v1/uploads/", {**body, "evaluation": other.pk}, format="json")
    assert elsewhere.status_code == 400 and f"#{other.pk} is not an evaluation of" in elsewhere.json()["detail"]
    with_outcomes = api.post("/api/v1/uploads/", {**body, "evaluation": labelled.pk}, format="json")
    assert with_outcomes.status_code == 409 and "uploaded with its outcomes" in with_outcomes.json()["detail"]
    unknown = api.post("/api/v1/uploads/", {**body, "evaluation": 999_999}, format="json")
    assert unknown.status_code == 400 and "evaluation" in unknown.json()
    assert not UploadSession.objects.exists()
    ok = api.post("/api/v1/uploads/", {**body, "evaluation": pending.pk}, format="json")
    assert ok.status_code == 201 and ok.json()["options"] == {"evaluation": pending.pk}


@pytest.mark.django_db(transaction=True)
def test_the_client_sends_a_label_file_over_its_threshold_in_parts(live_server, scientist, version, settings,
                                                                   tmp_path):
    assert LABELS_CHUNK_THRESHOLD == 8 * 2**20  # a file under it holds at most 2M labels of four bytes
    frame = predictions(300)
    client = PortalClient(live_server.url, api_key_for(scientist))
    evaluation = client.upload_evaluation(version.pk, frame.drop(columns="y_true"), kind="production",
                                          sensitive_features=["sex"])
    settings.PORTAL_MAX_ROWS = 100
    path = tmp_path / "labels.csv"
    path.write_bytes(csv_bytes(frame[["prediction_id", "y_true"]].iloc[:280]))
    calls = []
    real = services.evaluation_labels_add_file

    def counted(**kwargs):
        calls.append(threading.current_thread().name)
        return real(**kwargs)

    services.evaluation_labels_add_file = counted
    try:
        session = client.add_labels(evaluation["id"], path, chunk_threshold=1000)
    finally:
        services.evaluation_labels_add_file = real
    assert session["state"] == "complete" and len(calls) == 1
    assert LabelBatch.objects.get(pk=session["label_batch"]).row_count == 280
    result = client.wait(evaluation["id"], timeout=60)
    assert result["metrics"]["labels"]["labelled_rows"] == 280

    path.write_bytes(csv_bytes(frame[["prediction_id", "y_true"]].iloc[270:]))
    with pytest.raises(PortalError, match="was labelled by an earlier label file") as error:
        client.add_labels(evaluation["id"], path, chunk_threshold=1000)
    assert error.value.status == 400
    assert Evaluation.objects.get(pk=evaluation["id"]).label_batches.count() == 1
