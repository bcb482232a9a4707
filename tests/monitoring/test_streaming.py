"""The streamed check of large files (monitoring/streaming.py): CSV pieces cut at row ends outside quotes, each
read by Arrow's threaded reader, give the rows a whole read gives; bad bytes are named by their row."""

import csv
import decimal
import hashlib
import io
import threading
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from apps.monitoring import ingest, streaming
from apps.monitoring.ingest import IngestError

SPEC = {"target": "y_true", "prediction": "y_pred", "score": "y_score", "timestamp": "timestamp",
        "sensitive_features": ["sex"], "task_type": "binary", "positive_label": "1"}


def frame(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    score = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, rows), 0, 1).round(4)
    return pd.DataFrame({"y_true": y, "y_pred": (score >= 0.5).astype(int), "y_score": score,
                         "sex": rng.choice(["female", "male"], rows), "amount": rng.integers(0, 1000, rows),
                         "note": [f'said "hi"\nthen {i}' if i % 7 == 0 else f"plain {i}" for i in range(rows)]})


def convert(tmp_path, source, *, block_bytes=256, spec=SPEC, **kwargs) -> tuple[streaming.Streamed, pd.DataFrame]:
    copy = tmp_path / "copy.parquet"
    result = streaming.check_and_convert(source, parquet_path=str(copy), spec=spec, block_bytes=block_bytes,
                                         **kwargs)
    return result, pq.read_table(copy).to_pandas()


def write(tmp_path, data: bytes) -> str:
    path = tmp_path / "file.csv"
    path.write_bytes(data)
    return str(path)


def problems(tmp_path, data: bytes, **kwargs) -> list:
    with pytest.raises(IngestError) as caught:
        convert(tmp_path, write(tmp_path, data), **kwargs)
    return caught.value.problems


def test_the_row_end_is_the_last_line_feed_outside_quotes():
    buffer = bytearray(b'a,b\n1,"x\ny"\n2,"open\nstill')
    assert streaming._last_row_end(buffer, len(buffer)) == len(b'a,b\n1,"x\ny"\n')
    assert streaming._last_row_end(bytearray(b'1,"x\ny'), 6) is None


@pytest.mark.parametrize("block_bytes", [64, 256, 4096, 1 << 20])
def test_pieces_give_the_rows_of_a_whole_read_whatever_the_cut(tmp_path, block_bytes):
    original = frame()
    data = original.to_csv(index=False).encode()

    result, stored = convert(tmp_path, write(tmp_path, data), block_bytes=block_bytes)

    expected = pd.read_csv(io.BytesIO(data))
    assert result.row_count == len(expected) == 300
    assert stored["note"].astype(str).tolist() == expected["note"].tolist()  # quoted line feeds kept whole
    assert stored["amount"].tolist() == expected["amount"].astype(float).tolist()
    assert stored["y_score"].tolist() == pytest.approx(expected["y_score"].tolist())
    assert result.feature_columns == ("amount", "note") and result.labels == ("0", "1")
    assert result.parquet_sha256 == hashlib.sha256((tmp_path / "copy.parquet").read_bytes()).hexdigest()


def test_the_copy_has_statistics_for_every_column_but_the_text_categories(tmp_path):
    # A timestamp's are read for the file's period; a text category's minimum and maximum cost the writer CPU
    # (0.08-0.1 s at 1M rows) and nothing reads them.
    original = frame(200).assign(timestamp=pd.date_range("2026-01-01", periods=200, freq="h").astype(str))
    result, _ = convert(tmp_path, write(tmp_path, original.to_csv(index=False).encode()), block_bytes=2048)

    meta = pq.ParquetFile(tmp_path / "copy.parquet").metadata
    assert meta.num_row_groups > 1
    with_statistics = {meta.schema.column(index).name for index in range(meta.num_columns)
                       if all(meta.row_group(group).column(index).is_stats_set for group in range(meta.num_row_groups))}
    assert with_statistics == {"y_true", "y_pred", "y_score", "amount", "timestamp"}  # not sex, not note
    assert result.period == (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 9, 7, tzinfo=UTC))


def test_a_stream_is_read_once_and_gives_what_the_file_gives(tmp_path):
    data = b"\xef\xbb\xbf" + frame(120).to_csv(index=False).encode()  # with a byte-order mark
    by_path, from_path = convert(tmp_path, write(tmp_path, data))
    by_stream, from_stream = convert(tmp_path, io.BytesIO(data))
    assert by_stream.row_count == by_path.row_count == 120
    pd.testing.assert_frame_equal(from_stream, from_path)


def test_whole_numbers_first_and_decimals_later_are_one_column(tmp_path):
    data = b"y_true,y_pred,sex,amount\n" + b"1,1,f,3\n" * 40 + b"0,0,m,2.5\n" * 40
    _, stored = convert(tmp_path, write(tmp_path, data), block_bytes=64)
    assert stored["amount"].tolist() == [3.0] * 40 + [2.5] * 40


def test_text_in_a_number_column_of_a_later_piece_names_its_column_and_row(tmp_path):
    data = b"y_true,y_pred,sex,amount\n" + b"1,1,f,3\n" * 40 + b"0,0,m,lots\n"
    (problem,) = problems(tmp_path, data, block_bytes=64)
    assert problem.column == "amount" and problem.rows == (42,)
    assert "value 'lots' is not a number" in problem.message and "first rows hold numbers" in problem.message


def test_a_nul_byte_is_named_by_its_row(tmp_path):
    data = b"y_true,y_pred,sex,amount\n" + b"1,1,f,3\n" * 20 + b"0,0,m\x00,2\n"
    (problem,) = problems(tmp_path, data, block_bytes=64)
    assert problem.rows == (22,) and "NUL byte" in problem.message


def test_a_row_with_too_many_values_is_named(tmp_path):
    data = b"y_true,y_pred,sex,amount\n" + b"1,1,f,3\n" * 30 + b"0,0,m,2,9\n"
    (problem,) = problems(tmp_path, data, block_bytes=64)
    assert problem.rows == (32,) and "5 values where the header has 4 columns" in problem.message


def test_a_text_value_over_the_limit_is_refused(tmp_path):
    data = b"y_true,y_pred,sex,note\n" + b"1,1,f,short\n" * 5 + b"0,0,m," + b"x" * 500 + b"\n"
    (problem,) = problems(tmp_path, data, block_bytes=4096, max_value_bytes=100)
    assert problem.column == "note" and problem.rows == (7,) and "longer than" in problem.message


def test_a_quote_never_closed_is_refused_once_the_row_outgrows_the_pieces(tmp_path):
    data = b"y_true,y_pred,sex,note\n" + b"0,0,m,fine\n" * 30 + b"1,1,f,\"never closed\n" + b"0,0,m,more\n" * 200
    (problem,) = problems(tmp_path, data, block_bytes=256)
    assert problem.rows == (32,)  # where the row that does not end starts
    assert "the row is longer than 1,024 bytes, the longest row a large file may have" in problem.message
    assert "a quote that is never closed" in problem.message and "split its columns" in problem.message


def test_a_json_line_that_never_ends_says_the_limit_and_what_to_do(tmp_path):
    data = jsonl(frame(20)) + b'{"y_true": 1, "note": "' + b"x" * 2000
    (problem,) = json_problems(tmp_path, data, block_bytes=256)
    assert problem.rows == (21,) and "the longest row a large file may have" in problem.message
    assert "one record per line" in problem.message


def test_a_quoted_line_feed_in_pieces_larger_than_arrows_block_stays_in_its_value(tmp_path):
    # Arrow's threads cut a piece in blocks of 1 MB at line feeds unless told values may hold them.
    notes = ['line one\nline two, "quoted"\nline three' if i % 3 == 0 else f"plain {i}" for i in range(120_000)]
    original = pd.DataFrame({"sex": "f", "y_true": np.arange(120_000) % 2, "y_pred": np.arange(120_000) % 2,
                             "note": notes})
    data = original.to_csv(index=False).encode()
    assert len(data) > 3 * 2**20

    result, stored = convert(tmp_path, io.BytesIO(data), block_bytes=int(1.5 * 2**20))  # pieces cut inside values

    assert result.row_count == 120_000 and stored["note"].astype(str).tolist() == notes


@pytest.mark.parametrize("threads", [True, False])
def test_a_quoted_piece_reads_the_same_on_arrows_threads_and_on_one(tmp_path, monkeypatch, threads):
    # On two cores a quoted piece is read on one thread (less CPU), with more on Arrow's: same rows, same problems.
    monkeypatch.setattr(streaming, "_parse_on_threads", lambda: threads)
    notes = ['line one\nline two, "quoted"' if i % 3 == 0 else f"plain {i}" for i in range(60_000)]
    original = pd.DataFrame({"sex": "f", "y_true": np.arange(60_000) % 2, "y_pred": np.arange(60_000) % 2,
                             "note": notes, "region": ["NA" if i % 5 == 0 else "east" for i in range(60_000)]})
    data = original.to_csv(index=False).encode()

    result, stored = convert(tmp_path, io.BytesIO(data), block_bytes=2**20)

    assert result.row_count == 60_000 and stored["note"].astype(str).tolist() == notes
    assert stored["region"].isna().sum() == 12_000  # "NA" is a missing value, as pandas and a direct upload read it
    head, tail = original[:45_000].to_csv(index=False), original[45_000:].to_csv(index=False, header=False)
    ragged = (head + 'f,1,0,"x",east,extra\n' + tail).encode()  # after 45,000 rows
    (problem,) = problems(tmp_path, ragged, block_bytes=2**20)
    assert problem.rows == (45_002,) and "6 values where the header has 5 columns" in problem.message


def test_the_middle_row_end_is_the_last_line_feed_outside_quotes_before_the_middle():
    data = b'1,"a"\n2,"one\ntwo\nthree\nfour\nfive"\n3,"b"\n'
    raw = np.frombuffer(data, np.uint8)
    assert data[:len(raw) // 2].endswith(b"two\nthr")  # the middle falls inside the quoted value
    cut = streaming._middle_row_end(raw)
    assert cut == len(b'1,"a"\n')  # not after "one" or "two": those line feeds are inside quotes
    assert streaming._middle_row_end(np.frombuffer(b'1,"one\ntwo\nthree\nfour"\n', np.uint8)) is None


def _reads(monkeypatch) -> list:
    """Every Arrow read of the streamed check: (bytes, thread name, careful)."""
    real, calls = ingest._arrow_csv, []

    def spy(view, *args, **kwargs):
        calls.append((len(view), threading.current_thread().name, kwargs.get("careful", False)))
        return real(view, *args, **kwargs)

    monkeypatch.setattr(ingest, "_arrow_csv", spy)
    return calls


def test_a_long_quoted_piece_is_read_in_two_halves_at_once_giving_the_rows_of_one_read(tmp_path, monkeypatch):
    # On two cores a quoted piece is read on one thread (less CPU than Arrow's threads): in two halves cut at a
    # row end outside quotes, each on a thread of its own, it takes half the time.
    monkeypatch.setattr(streaming, "_parse_on_threads", lambda: False)
    calls = _reads(monkeypatch)
    rows = 30_000
    notes = ['line one\nline two, "quoted"\nline three' if i % 3 == 0 else f"plain {i}" for i in range(rows)]
    original = pd.DataFrame({"sex": "f", "y_true": np.arange(rows) % 2, "y_pred": np.arange(rows) % 2,
                             "note": notes, "region": ["NA" if i % 5 == 0 else "east" for i in range(rows)]})
    data = original.to_csv(index=False).encode()
    body = len(data) - data.index(b"\n") - 1
    assert body > 2 * streaming.HALVES_MIN_BYTES

    result, stored = convert(tmp_path, io.BytesIO(data), block_bytes=4 * 2**20)  # one piece

    assert result.row_count == rows and stored["note"].astype(str).tolist() == notes
    assert stored["y_true"].tolist() == original["y_true"].tolist() and stored["region"].isna().sum() == rows // 5
    (head, head_thread, careful), (tail, tail_thread, tail_careful) = sorted(calls, key=lambda call: call[1])
    assert careful and tail_careful and head + tail == body and abs(head - tail) < 2 * streaming._SEARCH_BACK
    assert {head_thread, tail_thread} == {"csv-read-ahead", "csv-half_0"}


def test_halves_of_other_types_are_read_as_one_piece_with_the_widened_type(tmp_path, monkeypatch):
    # The first piece's types are inferred: whole numbers in its first half, decimals in its second.
    monkeypatch.setattr(streaming, "_parse_on_threads", lambda: False)
    calls = _reads(monkeypatch)
    rows = 40_000
    amounts = [str(i) if i < 3 * rows // 4 else f"{i}.5" for i in range(rows)]  # decimals only in the second half
    lines = [f'{i % 2},{i % 2},"f","{amounts[i]}x",{amounts[i]}' for i in range(rows)]
    data = ("y_true,y_pred,sex,label,amount\n" + "\n".join(lines) + "\n").encode()
    assert len(data) > 2 * streaming.HALVES_MIN_BYTES

    result, stored = convert(tmp_path, io.BytesIO(data), block_bytes=4 * 2**20)

    assert result.row_count == rows and stored["amount"].dtype == np.float64
    assert stored["amount"].tolist() == [float(value) for value in amounts]
    assert len(calls) == 3 and calls[2][0] == len(data) - len("y_true,y_pred,sex,label,amount\n")  # then whole


@pytest.mark.parametrize("seed", range(4))
def test_stray_and_quoted_line_feeds_are_read_as_arrow_reads_the_whole_file_or_refused_never_misread(
        tmp_path, monkeypatch, seed):
    # Pieces and halves are cut at line feeds after an even number of quotes. A quote inside an unquoted value
    # (27" screen) upsets that count; whatever the cuts, the rows must be Arrow's for the whole file or refused.
    monkeypatch.setattr(streaming, "_parse_on_threads", lambda: False)
    monkeypatch.setattr(streaming, "HALVES_MIN_BYTES", 64)  # every piece in two halves
    rng, read = np.random.default_rng(seed), 0
    for _ in range(40):
        columns = int(rng.integers(2, 4))
        rows = [",".join(str(rng.choice(['"a\nb"', '"q""\nz"', '"x,\ny"', '27" screen', 'ab"', '"b,c"', '"e""f"',
                                         f"v{i}"], p=[.05, .05, .05, .05, .05, .1, .1, .55]))
                         for _ in range(columns)) for i in range(int(rng.integers(5, 80)))]
        data = (",".join(f"c{k}" for k in range(columns)) + "\n" + "\n".join(rows) + "\n").encode()
        text = {f"c{k}": pa.string() for k in range(columns)}
        whole = pa_csv.read_csv(pa.py_buffer(data), parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                                convert_options=pa_csv.ConvertOptions(strings_can_be_null=False, column_types=text))
        try:
            _, stored = convert(tmp_path, io.BytesIO(data), block_bytes=int(rng.choice([64, 128, 256, 512])), spec=None)
        except IngestError:
            continue
        read += 1
        assert stored.fillna("").astype(str).values.tolist() == whole.to_pandas().values.tolist(), data
    assert read >= 10  # most files are read, not refused


def test_a_quote_left_open_in_the_last_piece_is_refused_with_its_row_not_read_as_one_value(tmp_path):
    data = b"y_true,y_pred,sex,note\n" + b"1,1,f,fine\n" * 50 + b'0,0,m,"never closed\n' + b"1,0,f,more\n" * 5
    (problem,) = problems(tmp_path, data, block_bytes=4096)
    assert problem.rows == (52,) and "a quoted value is never closed" in problem.message
    with pytest.raises(IngestError) as direct:
        ingest.parse_evaluation(data, filename="e.csv", sensitive_features=["sex"])
    assert direct.value.problems[0].rows == problem.rows  # the row the direct path names


def test_a_quote_inside_an_unquoted_value_is_a_character_as_for_arrow(tmp_path):
    data = b"y_true,y_pred,sex,note\n" + b"1,1,f,fine\n" * 50 + b'0,0,m,27" screen\n1,0,f,more\n'
    result, stored = convert(tmp_path, write(tmp_path, data), block_bytes=4096)
    assert result.row_count == 52 and stored["note"].tolist()[-2:] == ['27" screen', "more"]


def test_blank_lines_before_the_header_are_skipped_and_counted_as_on_the_direct_path(tmp_path):
    data = b"\n\r\n  \n" + b"y_true,y_pred,sex,amount\n" + b"1,1,f,3\n" * 50 + b"1,1,f,x\n" + b"0,0,m,4\n" * 50
    result, _ = convert(tmp_path, write(tmp_path, data.replace(b"1,1,f,x", b"1,1,f,5")), block_bytes=256)
    assert result.row_count == 101 and result.columns == ["y_true", "y_pred", "sex", "amount"]

    (problem,) = problems(tmp_path, data.replace(b"1,1,f,x", b"1,7,f,5"), block_bytes=256)

    with pytest.raises(IngestError) as direct:
        ingest.parse_evaluation(data.replace(b"1,1,f,x", b"1,7,f,5"), filename="e.csv", sensitive_features=["sex"])
    assert problem.rows == direct.value.problems[0].rows == (55,)  # header on line 4


@pytest.mark.parametrize("row, column", [(b"1,1,f\xff,3", "sex"), (b"1,1,f,3\xff", "amount"),
                                         (b"1\xff,1,f,3", "y_true")])
def test_bytes_that_are_not_utf8_are_named_by_column_and_row(tmp_path, row, column):
    data = b"y_true,y_pred,sex,amount,note\n" + b"1,1,f,3,x\n" * 40 + row + b",x\n" + b"0,0,m,2,y\n" * 3
    for block_bytes in (64, 4096):  # in a later piece, and in the first one, whose types Arrow infers
        (problem,) = problems(tmp_path, data, block_bytes=block_bytes)
        assert (problem.column, problem.rows) == (column, (42,)) and "not UTF-8" in problem.message


def test_a_header_that_is_not_utf8_is_refused_as_row_one(tmp_path):
    (problem,) = problems(tmp_path, b"y_true,y_pred,s\xe9x\n1,1,f\n")
    assert problem.rows == (1,) and "header row is not UTF-8: byte 0xE9" in problem.message


def test_a_header_without_rows_is_refused(tmp_path):
    (problem,) = problems(tmp_path, b"y_true,y_pred,sex\n")
    assert "no data rows" in problem.message


LATER = {**SPEC, "prediction_id": "prediction_id", "labels_later": True}


def pending_csv(ids: list[str]) -> bytes:
    rows = "".join(f"{i % 2},{0.4 + (i % 2) / 5:.2f},{'fm'[i % 2]},{identifier},{i}\n"
                   for i, identifier in enumerate(ids))
    return ("y_pred,y_score,sex,prediction_id,amount\n" + rows).encode()


def test_a_production_file_without_its_target_waits_for_labels(tmp_path):
    result, stored = convert(tmp_path, write(tmp_path, pending_csv([f"p{i}" for i in range(200)])), spec=LATER)
    assert result.labels_pending and result.prediction_id_column == "prediction_id"
    assert result.feature_columns == ("amount",) and stored["prediction_id"].tolist()[:3] == ["p0", "p1", "p2"]


def test_an_id_repeated_in_another_piece_is_named_with_its_rows(tmp_path):
    ids = [f"p{i}" for i in range(200)]
    ids[150] = "p7"  # rows 9 and 152 of the file, pieces apart at 256 bytes a piece

    (problem,) = problems(tmp_path, pending_csv(ids), spec=LATER)

    assert problem.column == "prediction_id" and problem.rows == (9, 152) and "'p7' appears more than once" in (
        problem.message)


@pytest.mark.parametrize("block_bytes", [256, 1 << 20])
def test_a_repeated_id_is_named_by_its_line_when_blank_lines_come_before_it(tmp_path, block_bytes):
    ids = [f"p{i}" for i in range(200)]
    ids[150] = "p7"
    lines = pending_csv(ids).split(b"\n")
    # the header on line 1, two blank lines, rows 0-99 on lines 4-103, a blank line, rows 100-199 from line 105
    data = b"\n".join([lines[0], b"", b"", *lines[1:101], b"", *lines[101:]])

    (problem,) = problems(tmp_path, data, spec=LATER, block_bytes=block_bytes)

    assert problem.rows == (11, 155) and "'p7' appears more than once" in problem.message


@pytest.mark.parametrize("block_bytes", [256, 1 << 20])
def test_a_repeated_id_of_json_lines_is_named_by_its_line_past_blank_lines(tmp_path, block_bytes):
    import json

    records = [json.dumps({"y_pred": i % 2, "y_score": 0.4, "sex": "fm"[i % 2], "prediction_id": f"p{i}"})
               for i in range(120)]
    records[100] = records[3]
    data = "\n".join([*records[:50], "", "   ", *records[50:]]).encode() + b"\n"  # rows 50- two lines further
    path = tmp_path / "file.jsonl"
    path.write_bytes(data)

    with pytest.raises(IngestError) as caught:
        convert(tmp_path, str(path), spec=LATER, block_bytes=block_bytes)

    (problem,) = caught.value.problems
    assert problem.rows == (4, 103) and "'p3' appears more than once" in problem.message


def test_ids_that_share_a_hash_but_differ_are_accepted(tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "id_hashes", lambda ids: np.zeros(len(ids), np.uint64))
    result, _ = convert(tmp_path, write(tmp_path, pending_csv([f"p{i}" for i in range(120)])), spec=LATER)
    assert result.row_count == 120  # every hash collides; the ids read back from the copy are all distinct


def test_the_upload_s_id_hashes_wait_on_disk_not_in_memory(tmp_path):
    """At 50M rows the hashes are 400 MB: held in memory all through the check (and twice while put together),
    they were most of the worker's growth. They are written to a scratch file and read back once, at the end."""
    import tracemalloc

    rng = np.random.default_rng(0)
    batches = [[f"id{n}" for n in rng.integers(0, 10**12, 50_000)] for _ in range(8)]
    batches[5][7] = batches[2][11]  # one id twice, in two batches
    hashes = streaming._IdHashes(str(tmp_path))
    tracemalloc.start()
    try:
        for number, ids in enumerate(batches):
            hashes.add(pd.Series(ids), ingest._RowNumbers(2 + 50_000 * number))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert held < 50_000 * 8, held  # less than one batch's hashes; all of them are 3.2 MB
    assert hashes.suspects().tolist() == streaming.id_hashes(pa.array([batches[2][11]])).tolist()
    hashes.close()
    assert hashes.file is None and not list(tmp_path.iterdir())  # closed, and nothing left in the folder


def test_without_ids_the_missing_target_is_explained(tmp_path):
    data = b"y_pred,y_score,sex\n1,0.9,f\n"
    (problem,) = problems(tmp_path, data, spec=LATER)
    assert problem.column == "y_true" and "needs a 'prediction_id' column" in problem.message


def test_a_nul_byte_in_the_header_is_named_as_row_one(tmp_path):
    (problem,) = problems(tmp_path, b"y_true,y_pr\x00ed,sex\n1,1,f\n")
    assert problem.rows == (1,) and "NUL byte" in problem.message


def test_reading_ahead_keeps_the_order_raises_where_an_error_was_and_stops_when_closed():
    produced = []

    def numbers(stop_with=None):
        for number in range(100):
            if number == stop_with:
                raise ValueError(f"bad piece {number}")
            produced.append(number)
            yield number

    assert list(streaming._ReadAhead(numbers())) == list(range(100))

    seen, ahead = [], streaming._ReadAhead(numbers(stop_with=3))
    with pytest.raises(ValueError, match="bad piece 3"):
        for number in ahead:
            seen.append(number)
    assert seen == [0, 1, 2]

    produced.clear()
    ahead = streaming._ReadAhead(numbers())
    first = next(iter(ahead))
    ahead.close()
    assert first == 0 and produced[:2] == [0, 1] and len(produced) <= 3  # one piece ahead, then it stopped
    assert not ahead._thread.is_alive()


# JSON Lines: pieces cut at line ends, scanned byte by byte before Arrow's JSON reader sees them; row 1 is line 1.


def jsonl(data_frame: pd.DataFrame) -> bytes:
    return data_frame.to_json(orient="records", lines=True).encode()


def with_line(data: bytes, number: int, line: bytes) -> bytes:
    """``data`` with its line ``number`` (1-based) replaced by ``line``."""
    lines = data.split(b"\n")
    lines[number - 1] = line
    return b"\n".join(lines)


def json_problems(tmp_path, data: bytes, **kwargs) -> list:
    with pytest.raises(IngestError) as caught:
        convert(tmp_path, io.BytesIO(data), stream_format="jsonl", **kwargs)
    return caught.value.problems


def test_json_lines_are_recognised_and_a_json_array_is_still_refused():
    assert streaming.sniff_format(b'\xef\xbb\xbf\n {"y_true": 1}\n') == "jsonl"
    with pytest.raises(IngestError, match="JSON is not"):
        streaming.sniff_format(b'[{"y_true": 1}]')


@pytest.mark.parametrize("block_bytes", [256, 4096])
def test_json_lines_in_pieces_give_the_rows_of_the_file(tmp_path, block_bytes):
    original = frame()
    data = jsonl(original)

    result, stored = convert(tmp_path, io.BytesIO(data), block_bytes=block_bytes, stream_format="jsonl")

    assert result.file_format == "jsonl" and result.row_count == 300
    assert stored["note"].astype(str).tolist() == original["note"].tolist()  # escaped quotes and line feeds
    assert stored["amount"].tolist() == original["amount"].astype(float).tolist()
    assert stored["y_true"].tolist() == original["y_true"].tolist() and result.labels == ("0", "1")
    assert result.feature_columns == ("amount", "note")
    by_path, from_path = convert(tmp_path, write(tmp_path, data), block_bytes=block_bytes)  # sniffed as JSON Lines
    assert by_path.file_format == "jsonl"
    pd.testing.assert_frame_equal(from_path, stored)


def test_json_whole_numbers_first_and_decimals_later_are_one_column_and_labels_keep_their_text(tmp_path):
    data = (b'{"y_true": 1, "y_pred": 1, "sex": "f", "amount": 3}\n' * 20
            + b'{"y_true": "1", "y_pred": 0, "sex": "m", "amount": 2.5}\n' * 20)
    result, stored = convert(tmp_path, io.BytesIO(data), block_bytes=64, stream_format="jsonl")
    assert stored["amount"].tolist() == [3.0] * 20 + [2.5] * 20
    assert result.labels == ("0", "1") and stored["y_true"].tolist() == [1] * 40  # 1 and "1" are one label


def test_a_nested_value_mid_file_is_named_by_its_row_before_arrow_reads_it(tmp_path):
    data = with_line(jsonl(frame()), 201, b'{"y_true": 1, "y_pred": 1, "sex": "f", "amount": {"a": [1]}}')
    (problem,) = json_problems(tmp_path, data)
    assert problem.column == "amount" and problem.rows == (201,) and "nested values" in problem.message


def test_a_type_conflict_in_a_later_piece_names_its_row_and_column(tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "JSON_BLOCK_BYTES", 512)  # Arrow numbers rows within its blocks of a piece
    data = with_line(jsonl(frame()), 250, b'{"y_true": 1, "y_pred": 1, "sex": "f", "amount": "lots"}')
    (problem,) = json_problems(tmp_path, data, block_bytes=4096, max_value_bytes=200)
    assert problem.column == "amount" and problem.rows == (250,)
    assert "a string where the rows before hold a number" in problem.message


def test_a_key_the_first_piece_lacks_is_named_by_its_row(tmp_path):
    data = with_line(jsonl(frame()), 260, b'{"y_true": 1, "y_pred": 1, "sex": "f", "amount": 3, "late": 7}')
    (problem,) = json_problems(tmp_path, data, block_bytes=4096)
    assert problem.column == "late" and problem.rows == (260,) and "first rows do not have" in problem.message


def test_distinct_keys_are_counted_across_pieces_before_arrow_reads_them(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "MAX_COLUMNS", 50)
    known = b", ".join(b'"k%d": 1' % i for i in range(45))
    data = (b'{"y_true": 1, "y_pred": 1, "sex": "f", ' + known + b"}\n"
            + b'{"y_true": 0, "y_pred": 0, "sex": "m"}\n' * 40
            + b"{" + b", ".join(b'"other%d": 1' % i for i in range(5)) + b"}\n")  # a later piece: 53 keys in all

    (problem,) = json_problems(tmp_path, data, block_bytes=512)

    assert "more than 50 distinct keys" in problem.message  # not Arrow's, nor the new-key problem of the piece


def test_a_nul_byte_in_json_lines_is_named_by_its_row(tmp_path):
    data = with_line(jsonl(frame()), 123, b'{"y_true": 1, "y_pred": 1, "sex": "f\x00", "amount": 3}')
    (problem,) = json_problems(tmp_path, data)
    assert problem.rows == (123,) and "NUL byte" in problem.message


def test_invalid_utf8_in_json_lines_is_named_by_its_row(tmp_path):
    data = with_line(jsonl(frame()), 77, b'{"y_true": 1, "y_pred": 1, "sex": "f\xff", "amount": 3}')
    (problem,) = json_problems(tmp_path, data)
    assert problem.rows == (77,) and "not UTF-8" in problem.message


def test_a_json_line_over_the_limit_is_refused_before_arrow_reads_it(tmp_path):
    data = with_line(jsonl(frame()), 40, b'{"y_true": 1, "y_pred": 1, "sex": "' + b"f" * 500 + b'", "amount": 3}')
    (problem,) = json_problems(tmp_path, data, block_bytes=4096, max_value_bytes=300)
    assert problem.rows == (40,) and "lines longer than" in problem.message


@pytest.mark.parametrize("data, stream_format", [
    (b"a,b\n" + b"1,\n" * 50 + b"2,1.5\n" * 50, "csv"),
    (b'{"a": 1, "b": null}\n' * 50 + b'{"a": 2, "b": 1.5}\n' * 50, "jsonl"),
])
def test_a_column_without_values_in_the_first_piece_and_numbers_later_is_named(tmp_path, data, stream_format):
    with pytest.raises(IngestError) as caught:
        convert(tmp_path, io.BytesIO(data), spec=None, block_bytes=64, stream_format=stream_format)
    (problem,) = caught.value.problems
    assert problem.column == "b" and "holds numbers after row" in problem.message and "hold no value" in (
        problem.message)


def test_a_line_cut_short_after_a_string_is_invalid_json_named_by_its_row(tmp_path):
    data = jsonl(frame(40)) + b'{"x"\r'  # no delimiter after the string (nor in the piece): no key either
    (problem,) = json_problems(tmp_path, data)
    assert problem.rows == (41,) and "invalid JSON" in problem.message


def test_a_line_that_is_not_an_object_is_refused_before_arrow_reads_it(tmp_path):
    data = jsonl(frame(40)) + b"null\n" * 10 + jsonl(frame(10))  # a piece starting with null crashes Arrow's reader
    (problem,) = json_problems(tmp_path, data)
    assert problem.rows == (41,) and "each line must be one JSON object" in problem.message


def test_a_production_json_lines_file_with_whole_number_ids_waits_for_labels(tmp_path):
    rows = b"".join(b'{"y_pred": %d, "y_score": 0.5, "sex": "f", "prediction_id": %d, "amount": %d}\n'
                    % (i % 2, 9007199254740993 + i, i) for i in range(120))  # past 2**53: a float would merge ids

    result, stored = convert(tmp_path, io.BytesIO(rows), spec=LATER, stream_format="jsonl")

    assert result.labels_pending and stored["prediction_id"].tolist()[:2] == ["9007199254740993", "9007199254740994"]
    assert stored["prediction_id"].nunique() == 120 and stored["amount"].tolist()[:2] == [0.0, 1.0]


def test_observe_is_handed_every_checked_batch_in_file_order_as_the_copy_stores_it(tmp_path):
    original = frame(500)
    seen = []

    result, stored = convert(tmp_path, write(tmp_path, original.to_csv(index=False).encode()), block_bytes=2048,
                             observe=lambda table, described: seen.append((table, described)))

    assert len(seen) > 2  # several batches
    observed = pa.concat_tables([table for table, _ in seen]).unify_dictionaries().to_pandas()
    pd.testing.assert_frame_equal(observed, stored)
    assert all(described["score"] == "y_score" and not described["labels_pending"]
               and set(described["features"]) == {"amount", "note"} for _, described in seen)
    assert result.row_count == 500


def test_an_error_of_observe_is_raised_by_the_check(tmp_path):
    def observe(table, described):
        raise RuntimeError("broken observer")

    with pytest.raises(RuntimeError, match="broken observer"):
        convert(tmp_path, write(tmp_path, frame().to_csv(index=False).encode()), observe=observe)


# Whole numbers a 64-bit float cannot hold: refused with their column and row, as on the direct path, never rounded.

BIG = 9007199254740993  # 2**53 + 1: as a float, 9007199254740992


@pytest.mark.parametrize("rows_before", [0, 50])  # in the first piece (types inferred) or a later one (imposed)
def test_a_whole_number_a_float_cannot_hold_is_refused_as_on_the_direct_path(tmp_path, rows_before):
    data = b"y_true,y_pred,sex,amount\n" + b"1,1,f,3\n" * rows_before + b"0,0,m,%d\n" % BIG + b"1,1,f,4\n" * 3

    (problem,) = problems(tmp_path, data, block_bytes=256)

    with pytest.raises(IngestError) as direct:
        ingest.parse_evaluation(data, filename="e.csv", sensitive_features=["sex"])
    assert direct.value.problems == [problem]
    assert problem.column == "amount" and problem.rows == (rows_before + 2,)
    assert f"'{BIG}' is a whole number beyond ±2**53" in problem.message and "leave it out" in problem.message


def test_a_whole_number_beyond_int64_in_a_later_piece_is_refused_not_read_as_a_float(tmp_path):
    data = b"y_true,y_pred,sex,amount\n" + b"1,1,f,3\n" * 50 + b"0,0,m,99999999999999999999\n"
    (problem,) = problems(tmp_path, data, block_bytes=256)
    assert problem.column == "amount" and problem.rows == (52,) and "beyond ±2**53" in problem.message


def test_a_decimal_after_whole_numbers_widens_the_column_for_the_pieces_after_it(tmp_path):
    data = (b"y_true,y_pred,sex,amount\n" + b"1,1,f,3\n" * 40 + b"0,0,m,2.5\n" + b"1,1,f,7\n" * 40
            + b"0,0,m,%d\n" % 2**53)
    result, stored = convert(tmp_path, write(tmp_path, data), block_bytes=64)
    assert result.row_count == 82 and stored["amount"].tolist() == [3.0] * 40 + [2.5] + [7.0] * 40 + [2.0**53]


def test_a_json_whole_number_a_float_cannot_hold_is_refused_in_a_later_piece(tmp_path):
    data = b'{"y_true": 1, "y_pred": 1, "sex": "f", "amount": 3}\n' * 5 + (
        b'{"y_true": 1, "y_pred": 1, "sex": "f", "amount": %d}\n' % BIG)
    (problem,) = json_problems(tmp_path, data)
    assert problem.column == "amount" and problem.rows == (6,) and "beyond ±2**53" in problem.message


# Parquet: the footer is checked before any value is decoded; then batch by batch.

def parquet_file(tmp_path, table: pa.Table, **options) -> str:
    path = tmp_path / "file.parquet"
    pq.write_table(table, path, **options)
    return str(path)


GOOD = {"y_true": [1, 0], "y_pred": [1, 0], "sex": ["f", "m"]}
ROWS = 300_000


@pytest.mark.parametrize("table, options, words", [
    (pa.table({"y_true": pa.array(np.zeros(3_000_000, np.int8))}), {"compression": "zstd"},
     ("3000000 rows", "decompression bomb")),
    (pa.table({"y_true": np.ones(ROWS, np.int8), "y_pred": np.ones(ROWS, np.int8), "sex": ["f"] * ROWS,
               "x": np.arange(ROWS, dtype=np.float64)}), {},
     ("row group 1", "300,000 rows", "at most 1.0 MB", "PORTAL_MAX_DECODED_MB", "smaller row groups")),
    (pa.table({**GOOD, "blob": pa.array([b"\x00\x01", b"x"])}), {}, ("'blob'", "binary values", "write it as text")),
    (pa.table({**GOOD, "": [1, 2]}), {}, ("column 4 has no name",)),
    (pa.table({**GOOD, "tags": pa.array([[1], [2]])}), {}, ("'tags'", "nested values")),
    (pa.table({f"f{i}": pa.array([1, 0], pa.int8()) for i in range(2500)}), {}, ("2500 columns",)),
], ids=["bomb", "row-group-over-the-bound", "binary", "unnamed", "nested", "2500-columns"])
def test_a_parquet_file_is_refused_from_its_footer_before_any_value_is_decoded(tmp_path, monkeypatch, table, options,
                                                                            words):
    path = parquet_file(tmp_path, table, **options)

    def decode(*args, **kwargs):
        raise AssertionError("a value was decoded")

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", decode)
    with pytest.raises(IngestError) as caught:
        convert(tmp_path, path, max_chunk_bytes=2**20)
    text = "; ".join(map(str, caught.value.problems))
    assert not [word for word in words if word not in text], text


def test_parquet_decimals_are_read_as_floats(tmp_path):
    amounts = pa.array([decimal.Decimal("1.25"), decimal.Decimal("-2.50")], pa.decimal128(10, 2))
    result, stored = convert(tmp_path, parquet_file(tmp_path, pa.table({**GOOD, "amount": amounts})))
    assert result.feature_columns == ("amount",) and stored["amount"].tolist() == [1.25, -2.5]


def test_a_parquet_text_value_over_the_limit_is_named_by_its_column_and_row(tmp_path):
    table = pa.table({"y_true": [1, 0, 1], "y_pred": [1, 0, 1], "sex": ["f", "m", "f"], "note": ["a", "b" * 500, "c"]})
    with pytest.raises(IngestError) as caught:
        convert(tmp_path, parquet_file(tmp_path, table), max_value_bytes=100)
    (problem,) = caught.value.problems
    assert problem.column == "note" and problem.rows == (2,) and "longer than" in problem.message


def test_a_file_that_is_not_parquet_after_its_magic_bytes_is_refused_with_a_message(tmp_path):
    path = tmp_path / "file.parquet"
    path.write_bytes(b"PAR1" + bytes(100) + b"PAR1")
    with pytest.raises(IngestError, match="the Parquet file cannot be read"):
        convert(tmp_path, str(path))


def test_a_check_without_a_copy_refuses_what_only_a_copy_can_serve(tmp_path):
    path = tmp_path / "rows.parquet"
    pd.DataFrame({"y_true": [0, 1], "y_pred": [0, 1]}).to_parquet(path)
    spec = {"target": "y_true", "prediction": "y_pred", "score": None, "timestamp": None, "sensitive_features": [],
            "task_type": "binary", "positive_label": "1"}

    with pytest.raises(ValueError, match="has none"):
        streaming.check_and_convert(str(path), parquet_path=None, spec=spec, observe=lambda table, described: None)
    with pytest.raises(ValueError, match="labels later"):
        streaming.check_and_convert(str(path), parquet_path=None, spec={**spec, "labels_later": True})
    assert streaming.check_and_convert(str(path), parquet_path=None, spec=spec).row_count == 2
    assert list(tmp_path.iterdir()) == [path]  # nothing written beside it


def _with_blank_lines(lines: list[bytes], every: int, blank: bytes = b"\n") -> bytes:
    """The lines with a blank line after every ``every``-th one (after the header too)."""
    out = []
    for number, line in enumerate(lines):
        out.append(line)
        if number % every == 0:
            out.append(blank)
    return b"".join(out)


@pytest.mark.parametrize("blank", [b"\n", b"\r\n", b"\n\n\n"])
@pytest.mark.parametrize("block_bytes", [64, 256, 4096, 1 << 20])
def test_blank_lines_between_rows_are_skipped_and_counted_as_on_the_direct_path(tmp_path, blank, block_bytes):
    rows = [b"y_true,y_pred,sex,amount\n"] + [b"1,1,f,3\n", b"0,0,m,4\n"] * 60
    good = _with_blank_lines(rows, 7, blank)
    result, stored = convert(tmp_path, write(tmp_path, good), block_bytes=block_bytes)
    assert result.row_count == 120 and stored["amount"].tolist() == [3.0, 4.0] * 60  # no row of blanks stored

    bad = _with_blank_lines(rows[:101] + [b"1,7,f,5\n"] + rows[102:], 7, blank)
    (problem,) = problems(tmp_path, bad, block_bytes=block_bytes)

    with pytest.raises(IngestError) as direct:
        ingest.parse_evaluation(bad, filename="e.csv", sensitive_features=["sex"])
    line = bad.replace(b"\r\n", b"\n").split(b"\n").index(b"1,7,f,5") + 1
    assert problem.rows == direct.value.problems[0].rows == (line,)  # the line a text editor shows


@pytest.mark.parametrize("block_bytes", [64, 4096])
def test_after_blank_lines_arrow_s_own_problems_name_the_right_row(tmp_path, block_bytes):
    rows = [b"y_true,y_pred,sex,amount\n"] + [b"1,1,f,3\n"] * 1200  # the row in a later piece than the first
    not_a_number = _with_blank_lines(rows[:1000] + [b"1,1,f,lots\n"] + rows[1001:], 5)
    too_many = _with_blank_lines(rows[:1000] + [b"1,1,f,3,9\n"] + rows[1001:], 5)

    for data, expected in ((not_a_number, b"1,1,f,lots"), (too_many, b"1,1,f,3,9")):
        (problem,) = problems(tmp_path, data, block_bytes=block_bytes)
        assert problem.rows == (data.split(b"\n").index(expected) + 1,), problem


def test_a_row_of_empty_values_is_a_row_not_a_blank_line(tmp_path):
    data = b"y_true,y_pred,sex,amount\n" + b"1,1,f,3\n" * 30 + b"\n" + b",,,\n" + b"0,0,m,4\n" * 30

    found = problems(tmp_path, data, block_bytes=128)

    with pytest.raises(IngestError) as direct:
        ingest.parse_evaluation(data, filename="e.csv", sensitive_features=["sex"])
    assert [(p.column, p.rows) for p in found] == [(p.column, p.rows) for p in direct.value.problems]
    assert ("y_true", (33,)) in [(p.column, p.rows) for p in found]


def test_blank_lines_in_quoted_pieces_read_in_halves_count_each_row_once(tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "HALVES_MIN_BYTES", 512)
    monkeypatch.setattr(streaming, "_parse_on_threads", lambda: False)
    rows = [b"y_true,y_pred,sex,note\n"] + [b'1,1,f,"two\n\nlines"\n', b'0,0,m,"plain"\n'] * 60
    good = _with_blank_lines(rows, 9)
    result, stored = convert(tmp_path, write(tmp_path, good), block_bytes=2048)
    assert result.row_count == 120 and stored["note"].tolist() == ["two\n\nlines", "plain"] * 60

    bad = _with_blank_lines(rows[:100] + [b'0,7,m,"plain"\n'] + rows[101:], 9)
    (problem,) = problems(tmp_path, bad, block_bytes=2048)
    # A row is counted once, its quoted line breaks not: the header, 99 rows and the 12 blank lines before it.
    assert problem.rows == (1 + 99 + 12 + 1,)


def test_a_stray_quote_beside_blank_lines_keeps_the_rows(tmp_path):
    data = b"y_true,y_pred,sex,note\n" + b"1,1,f,fine\n" * 20 + b'0,0,m,27" screen\n\n' + b"1,0,f,more\n" * 20

    result, stored = convert(tmp_path, write(tmp_path, data), block_bytes=4096)

    assert result.row_count == 41 and stored["note"].tolist()[19:22] == ["fine", '27" screen', "more"]


@pytest.mark.parametrize("blank", [b"\n", b"  \r\n"])
@pytest.mark.parametrize("block_bytes", [256, 4096])
def test_json_blank_lines_between_rows_are_counted_in_every_row_named(tmp_path, monkeypatch, blank, block_bytes):
    monkeypatch.setattr(streaming, "JSON_BLOCK_BYTES", 512)
    rows = jsonl(frame()).split(b"\n")[:300]

    def spaced(changed: dict[int, bytes]) -> tuple[bytes, int]:
        """The rows (1-based numbers in ``changed`` replaced) with a blank line after every 7th; and the line
        the changed row is on."""
        out, line = [], 0
        for number, row in enumerate(rows, start=1):
            out.append(changed.get(number, row) + b"\n")
            line = len(out) if number in changed else line
            if number % 7 == 0:
                out.append(blank)
        return b"".join(out), line

    data, _ = spaced({})
    result, stored = convert(tmp_path, io.BytesIO(data), block_bytes=block_bytes, stream_format="jsonl")
    assert result.row_count == 300 and stored["amount"].tolist() == frame()["amount"].astype(float).tolist()

    row = b'{"y_true": %s, "y_pred": 1, "y_score": 0.5, "sex": "f", "amount": %s, "note": "x"%s}'
    label, line = spaced({250: row % (b"7", b"3", b"")})
    (problem,) = json_problems(tmp_path, label, block_bytes=block_bytes)
    with pytest.raises(IngestError) as direct:
        ingest.parse_evaluation(label, filename="e.jsonl", sensitive_features=["sex"])
    assert problem.rows == direct.value.problems[0].rows == (line,) and line == 250 + 250 // 7

    conflict, line = spaced({250: row % (b"1", b'"lots"', b"")})
    (problem,) = json_problems(tmp_path, conflict, block_bytes=block_bytes, max_value_bytes=200)
    assert problem.column == "amount" and problem.rows == (line,)

    new_key, line = spaced({260: row % (b"1", b"3", b', "late": 7')})
    (problem,) = json_problems(tmp_path, new_key, block_bytes=block_bytes)
    assert problem.column == "late" and problem.rows == (line,)


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
def test_a_quote_inside_an_unquoted_value_does_not_stop_the_pieces_of_a_large_file(tmp_path, line_end):
    # Quotes are counted to find a piece's last row end; past a stray quote every count is odd, and the piece grew
    # until the file was refused as one endless row, though a whole read accepts it (Arrow: a character).
    rows = [b"y_true,y_pred,sex,note"] + [b'1,1,f,"Smith, J"', b"0,0,m,plain"] * 600
    rows[300], rows[900] = b'0,0,m,27" screen', b"1,0,f,5'11\" tall"
    data = line_end.join(rows) + line_end

    result, stored = convert(tmp_path, write(tmp_path, data), block_bytes=1024)

    expected = pd.read_csv(io.BytesIO(data))
    assert result.row_count == len(expected) == 1200
    assert stored["note"].astype(str).tolist() == expected["note"].tolist()
    assert stored["note"].tolist()[299] == '27" screen' and stored["note"].tolist()[899] == "5'11\" tall"

    bad = line_end.join(rows[:1000] + [b"1,7,f,x"] + rows[1001:]) + line_end
    (problem,) = problems(tmp_path, bad, block_bytes=1024)
    with pytest.raises(IngestError) as direct:
        ingest.parse_evaluation(bad, filename="e.csv", sensitive_features=["sex"])
    assert problem.rows == direct.value.problems[0].rows == (1001,)


def test_the_row_end_as_a_reader_finds_it_reads_a_stray_quote_as_text():
    buffer = bytearray(b'1,27" screen\n2,"a\nb"\n3,"open\nstill')
    # By count, the last line feed after an even number of quotes: inside the value still open.
    assert streaming._last_row_end(buffer, len(buffer)) == len(b'1,27" screen\n2,"a\nb"\n3,"open\n')
    assert streaming._row_end_as_read(buffer, len(buffer), ",") == len(b'1,27" screen\n2,"a\nb"\n')
    assert streaming._row_end_as_read(bytearray(b'1,"x\ny'), 6, ",") is None


@pytest.mark.parametrize("block_bytes", [256, 300, 350, 400, 4096])
def test_a_cut_inside_a_quoted_value_after_a_stray_quote_is_made_again_where_a_reader_ends_the_row(
        tmp_path, block_bytes):
    # Past a stray quote, the count of quotes put a cut inside the next quoted value with a line break; what
    # followed the line break was read as rows of its own (here: one more row, 'hello"' as a note).
    rows = [b"y_true,y_pred,sex,note"] + [b"0,0,m,plain"] * 40
    rows[5], rows[30] = b'0,0,m,27" screen', b'1,1,f,"1\n1,1,f,hello"'
    data = b"\n".join(rows) + b"\n"

    result, stored = convert(tmp_path, write(tmp_path, data), block_bytes=block_bytes)

    expected = pd.read_csv(io.BytesIO(data))
    assert result.row_count == len(expected) == 40
    assert stored["note"].tolist() == expected["note"].tolist() and stored["note"].tolist()[29] == "1\n1,1,f,hello"


@pytest.mark.parametrize("block_bytes", [128, 4096])
def test_a_quote_left_open_after_a_stray_quote_is_still_refused_by_its_row(tmp_path, block_bytes):
    rows = [b"y_true,y_pred,sex,note,amount"] + [b"0,0,m,plain,1"] * 40
    rows[5], rows[30] = b'0,0,m,27" screen,1', b'1,1,f,"never closed,1'
    data = b"\n".join(rows) + b"\n"

    (problem,) = problems(tmp_path, data, block_bytes=block_bytes)

    assert problem.rows == (31,) and ingest.UNCLOSED_QUOTE in problem.message


NOTES = [b"plain", b'27" screen', b"5'11\"", b'"Smith, J"', b'"two\nlines"', b'"say ""hi"""', b'"1\n1,1,f,z"',
         b'"end\n"', b"a\"\"b"]


@pytest.mark.parametrize("seed", range(12))
def test_pieces_read_what_a_whole_read_reads_whatever_the_quotes_and_blank_lines(tmp_path, seed):
    # Quotes by the rules and beside them (stray quotes, which Arrow and Python read as text), quoted line breaks
    # and delimiters, blank lines: at any piece size the stored rows are the direct path's.
    rng = np.random.default_rng(seed)
    lines = [b"y_true,y_pred,sex,note"]
    for _ in range(120):
        lines.append(b"%d,%d,%s,%s" % (rng.integers(2), rng.integers(2), rng.choice([b"f", b"m"]),
                                       NOTES[rng.choice(len(NOTES), p=[.5, .06, .06, .1, .08, .06, .04, .05, .05])]))
        if rng.random() < 0.05:
            lines.append(b"")
    data = b"\n".join(lines) + b"\n"
    direct = ingest.parse_evaluation(data, filename="e.csv", sensitive_features=["sex"]).df

    for block_bytes in (96, 256, 700, 1 << 16):
        result, stored = convert(tmp_path, write(tmp_path, data), block_bytes=block_bytes)
        assert result.row_count == len(direct), block_bytes
        assert stored["note"].astype(str).tolist() == direct["note"].astype(str).tolist(), block_bytes
        assert stored["y_true"].tolist() == direct["y_true"].tolist()


def test_a_value_longer_than_python_s_reader_allows_by_default_does_not_stop_the_reader_s_cut(tmp_path):
    rows = [b"y_true,y_pred,sex,note"] + [b"0,0,m,plain"] * 30
    rows[3], rows[10], rows[20] = b'0,0,m,27" screen', b'1,1,f,"' + b"x" * 200_000 + b'"', b'1,1,f,"two\nlines"'
    data = b"\n".join(rows) + b"\n"

    result, stored = convert(tmp_path, write(tmp_path, data), block_bytes=64 * 1024, max_value_bytes=1 << 20)

    assert result.row_count == 30 and stored["note"].tolist()[19] == "two\nlines"
    assert len(stored["note"].tolist()[9]) == 200_000


def test_a_nul_byte_after_a_stray_quote_is_named_by_its_row(tmp_path):
    rows = [b"y_true,y_pred,sex,note"] + [b"0,0,m,plain"] * 60
    rows[3], rows[50] = b'0,0,m,27" screen', b"1,1,f,nul\x00here"
    (problem,) = problems(tmp_path, b"\n".join(rows) + b"\n", block_bytes=256)
    assert problem.rows == (51,) and "NUL byte" in problem.message


@pytest.mark.parametrize("block_bytes", [128, 4096])
def test_a_quote_never_closed_beside_a_stray_quote_is_refused_by_the_streamed_check_too(tmp_path, block_bytes):
    data = (b"y_true,y_pred,sex,note\n" + b'1,1,f,27" screen\n' + b"0,0,m,plain\n" * 10 + b'1,0,f,"never closed\n'
            + b"0,1,m,plain\n" * 20)
    (problem,) = problems(tmp_path, data, block_bytes=block_bytes)
    assert problem.rows == (13,) and ingest.UNCLOSED_QUOTE in problem.message


READ_LENIENTLY = [b"plain", b'27" screen', b"5'11\"", b'"Smith, J"', b'"two\nlines"', b'"say ""hi"""',
                  b'"1\n1,1,f,z"', b'"end\n"', b'a""b', b'"ab"c', b'"\n\n"', b'"x\r\ny"', b"", b'"', b'""',
                  b'"a,""b\n""c"']
READ_WEIGHTS = np.array([40, 5, 5, 8, 6, 5, 3, 4, 4, 3, 3, 3, 4, 1, 3, 3]) / 100


@pytest.mark.parametrize("seed", range(12, 42))
def test_both_paths_read_what_python_s_csv_reader_reads_or_refuse_what_it_cannot_read(tmp_path, seed):
    # Python's csv module as the independent reader. Values quoted by the rules and beside them (stray quotes,
    # lenient readings, quotes left open that a later quote closes), line breaks in values, CRLF, blank lines:
    # the notes it reads are stored; a quote never closed is refused by the row where it opens (the direct path
    # numbers lines, the streamed check rows); rows it reads with another number of values than the header (or a
    # quote never closed after them) are refused. Ran on 1,200 seeds while it was written.

    rng = np.random.default_rng(seed)
    end = (b"\n", b"\r\n")[seed % 2]
    lines = [b"y_true,y_pred,sex,note"]
    for _ in range(60):
        lines.append(b"%d,%d,%s,%s" % (rng.integers(2), rng.integers(2), rng.choice([b"f", b"m"]),
                                       READ_LENIENTLY[rng.choice(len(READ_LENIENTLY), p=READ_WEIGHTS)]))
        if rng.random() < 0.03:
            lines.append(b"")
    if seed % 4 == 0:  # a quote never closed near the end (no quote after it closes it)
        lines[-4:] = [b'1,0,f,"never closed'] + [b"0,1,m,plain"] * 3
    data = end.join(lines) + end
    left_open = ingest.unclosed_quote(data, 0, ",")
    read = [row for row in csv.reader(io.StringIO(data.decode(), newline="")) if row][1:]
    misshapen = any(len(row) != 4 for row in read)

    for block_bytes in (None, 64, 333, 4096):
        try:
            if block_bytes is None:
                found = ingest.parse_evaluation(data, filename="e.csv", sensitive_features=["sex"]).df["note"]
            else:
                found = convert(tmp_path, write(tmp_path, data), block_bytes=block_bytes)[1]["note"]
        except IngestError as refused:
            assert left_open is not None or misshapen, (block_bytes, refused.problems)
            if left_open is not None and not misshapen:
                (problem,) = refused.problems
                assert ingest.UNCLOSED_QUOTE in problem.message
                assert problem.rows == ((left_open[0],) if block_bytes is None else (left_open[1] + 1,))
            continue
        assert left_open is None and not misshapen, block_bytes
        missing = {"", "NA", "null"}  # read as missing values, as every reader of the portal does
        assert ["" if v is None or v != v else v for v in found.tolist()] == [
            "" if row[3] in missing else row[3] for row in read], block_bytes


# Feature columns that need no pandas check go into the copy as Arrow read them (``streaming._passed_through``):
# the copy must be the same bytes, and a file refused the same way, as when every column goes through pandas.

def _through_pandas_only(monkeypatch):
    monkeypatch.setattr(streaming, "_passed_through", lambda batch, checked: set())


def _passing(monkeypatch) -> list[set]:
    passed, real = [], streaming._passed_through

    def spy(batch, checked):
        passed.append(real(batch, checked))
        return passed[-1]

    monkeypatch.setattr(streaming, "_passed_through", spy)
    return passed


def _mixed(rows: int, seed: int) -> pd.DataFrame:
    """Features of every kind a file brings: decimals, whole numbers with gaps, text categories whose values
    change from piece to piece (so the pieces' dictionaries differ), a text column missing in whole pieces."""
    rng = np.random.default_rng(seed)
    data = frame(rows, seed).drop(columns=["note"])
    data["income"] = rng.normal(50, 10, rows).round(3)
    data["visits"] = pd.array(rng.integers(0, 9, rows), dtype="Int64")
    data.loc[rng.random(rows) < 0.1, "visits"] = pd.NA
    data["segment"] = [f"s{(i // 97 + j) % 11}" for i, j in enumerate(rng.integers(0, 3, rows))]
    data.loc[rng.random(rows) < 0.05, "segment"] = None
    data["channel"] = np.where(np.arange(rows) < rows // 2, None, rng.choice(["web", "shop"], rows))
    return data


def _copy_both_ways(tmp_path, monkeypatch, source, **kwargs) -> tuple:
    """(the result and copy bytes with columns passed through, the same through pandas only, the sets passed);
    ``source``: a path, or a function giving a fresh stream."""
    passed = _passing(monkeypatch)
    fast, _ = convert(tmp_path, source if isinstance(source, str) else source(), **kwargs)
    fast_bytes = (tmp_path / "copy.parquet").read_bytes()
    _through_pandas_only(monkeypatch)
    slow, _ = convert(tmp_path, source if isinstance(source, str) else source(), **kwargs)
    monkeypatch.undo()
    return (fast, fast_bytes), (slow, (tmp_path / "copy.parquet").read_bytes()), passed


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("block_bytes", [2048, 16384])
def test_columns_passed_through_give_the_copy_the_bytes_pandas_gives(tmp_path, monkeypatch, seed, block_bytes):
    data = _mixed(1500, seed).to_csv(index=False).encode()

    (fast, fast_bytes), (slow, slow_bytes), passed = _copy_both_ways(tmp_path, monkeypatch, write(tmp_path, data),
                                                                      block_bytes=block_bytes)

    assert fast_bytes == slow_bytes and fast == slow
    assert {"income", "visits", "amount", "segment"} <= set().union(*passed)  # it did pass columns through
    assert not set().union(*passed) & {"y_true", "y_pred", "y_score", "sex"}  # never the checked ones
    stored = pq.read_table(tmp_path / "copy.parquet").to_pandas()
    assert stored["visits"].isna().sum() == _mixed(1500, seed)["visits"].isna().sum()


@pytest.mark.parametrize("kind", ["reference", "jsonl"])
def test_reference_data_and_json_lines_pass_columns_through_to_the_same_bytes(tmp_path, monkeypatch, kind):
    original = _mixed(900, 7)
    if kind == "reference":
        source, kwargs = write(tmp_path, original.to_csv(index=False).encode()), {"spec": None}
    else:
        source, kwargs = (lambda: io.BytesIO(jsonl(original))), {"stream_format": "jsonl"}

    (fast, fast_bytes), (slow, slow_bytes), passed = _copy_both_ways(tmp_path, monkeypatch, source,
                                                                      block_bytes=4096, **kwargs)

    assert fast_bytes == slow_bytes and fast == slow
    assert "income" in set().union(*passed)


@pytest.mark.parametrize("source", ["csv", "parquet"])
@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_an_infinity_or_a_nan_in_a_later_piece_goes_through_pandas_as_before(tmp_path, monkeypatch, source, bad):
    # A CSV's "nan" is a missing value as Arrow reads it; a Parquet file holds NaN itself, which pandas makes a
    # missing value in the copy; an infinity is refused by its row either way.
    data = _mixed(900, 3)
    data.loc[700, "income"] = bad
    if source == "csv":
        path = write(tmp_path, data.to_csv(index=False).encode())
    else:
        table = pa.Table.from_pandas(data, preserve_index=False)  # which makes a NaN missing: put it back
        table = table.set_column(table.column_names.index("income"), "income", pa.array(data["income"].to_numpy()))
        assert pc.is_nan(table.column("income")).to_pylist()[700] == (not np.isinf(bad))
        path = parquet_file(tmp_path, table)
    outcomes = []
    for through in (True, False):
        if not through:
            _through_pandas_only(monkeypatch)
        try:
            convert(tmp_path, path, block_bytes=4096)
            outcomes.append(("stored", (tmp_path / "copy.parquet").read_bytes()))
        except IngestError as refused:
            outcomes.append(("refused", refused.problems))

    assert outcomes[0] == outcomes[1]
    if np.isinf(bad):
        (problem,) = outcomes[0][1]
        row = 702 if source == "csv" else 701  # a CSV's header is its row 1
        assert problem.column == "income" and problem.rows == (row,) and "infinite" in problem.message
    else:
        assert outcomes[0][0] == "stored"
        income = pq.read_table(tmp_path / "copy.parquet").column("income")
        assert income.null_count == 1 and not pc.any(pc.is_nan(income)).as_py()


def test_text_categories_read_in_chunks_are_unified_as_pandas_unifies_them(tmp_path, monkeypatch):
    # A quoted piece is read in two halves (``_csv_halves``): a text column has a dictionary per half, in the
    # order its values first appear there; pandas makes them one set of categories, and so must the copy.
    monkeypatch.setattr(streaming, "_parse_on_threads", lambda: False)
    rows = 40_000
    data = _mixed(rows, 11)
    data["segment"] = [f"s{(rows - i) // 500 % 13}" if i > rows // 2 else f"s{i // 700 % 13}" for i in range(rows)]
    path = write(tmp_path, data.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC).encode())
    chunks, real = [], streaming._passed

    def spy(column):
        chunks.append(column.num_chunks if pa.types.is_dictionary(column.type) else 0)
        return real(column)

    monkeypatch.setattr(streaming, "_passed", spy)
    (fast, fast_bytes), (slow, slow_bytes), _ = _copy_both_ways(tmp_path, monkeypatch, path, block_bytes=1 << 20)

    assert max(chunks) > 1  # dictionaries in pieces were met
    assert fast_bytes == slow_bytes and fast == slow


def test_a_column_passed_through_is_what_the_way_through_pandas_makes_of_it():
    text = pa.chunked_array([pa.array(["x", "y", "x", None]).dictionary_encode(),
                             pa.array(["z", "y", "z", "x"]).dictionary_encode()])
    whole = pa.chunked_array([pa.array([1, None, 3]), pa.array([4, 5, None])])

    for column in (text, whole):
        expected = streaming._arrow(pa.table({"c": column}).to_pandas(strings_to_categorical=True)).column("c")
        passed = streaming._passed(column)
        assert passed.type == expected.type and passed.to_pylist() == expected.to_pylist()
        if pa.types.is_dictionary(column.type):  # one dictionary, in pandas' order of the categories
            assert all(chunk.dictionary.to_pylist() == ["x", "y", "z"] for chunk in passed.chunks)
            assert expected.chunk(0).dictionary.to_pylist() == ["x", "y", "z"]


def test_a_multiclass_file_keeps_its_probability_columns_checked(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    rows = 800
    probabilities = rng.dirichlet([1, 1, 1], rows).round(6)
    probabilities[:, 2] = 1 - probabilities[:, 0] - probabilities[:, 1]
    labels = np.array(["a", "b", "c"])
    data = pd.DataFrame({"y_true": rng.choice(labels, rows), "y_pred": labels[probabilities.argmax(axis=1)],
                         **{f"y_score_{label}": probabilities[:, i] for i, label in enumerate(labels)},
                         "sex": rng.choice(["f", "m"], rows), "income": rng.normal(0, 1, rows)})
    spec = {**SPEC, "task_type": "multiclass"}
    data.loc[600, "y_score_b"] = 1.5  # outside [0, 1]: a problem the pandas checks find
    passed = _passing(monkeypatch)

    bad = problems(tmp_path, data.to_csv(index=False).encode(), block_bytes=4096, spec=spec)

    assert any(problem.column == "y_score_b" and problem.rows == (602,) for problem in bad)
    assert "income" in set().union(*passed)
    assert not any(name.startswith("y_score") for name in set().union(*passed))
