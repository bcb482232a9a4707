import gzip
import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apps.monitoring import ingest
from apps.monitoring.ingest import (
    IngestError,
    Limits,
    Problem,
    parse_evaluation,
    read_parquet_bytes,
    read_table,
    to_parquet_bytes,
)
from apps.monitoring.metrics import binary_metrics, multiclass_metrics


def _csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _problems(data: bytes, **kwargs) -> list[str]:
    with pytest.raises(IngestError) as caught:
        parse_evaluation(data, filename=kwargs.pop("filename", "evaluation.csv"), **kwargs)
    return [str(problem) for problem in caught.value.problems]


def _parse(data: bytes, **kwargs):
    return parse_evaluation(data, filename=kwargs.pop("filename", "evaluation.csv"), **kwargs)


def _parquet(df: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    df.to_parquet(sink, index=False)
    return sink.getvalue()


def _group_rows(count: int, **columns) -> list[str]:
    return [",".join(str(value) for value in row) for row in zip(*columns.values(), strict=True)][:count]


def test_it_parses_a_binary_csv_into_normalised_dtypes():
    lines = ["y_true,y_pred,y_score,sex,age,city,timestamp"]
    lines += [f"{i % 2},{(i // 2) % 2},0.{i % 10},{'fm'[i % 2]},{20 + i},c{i % 3},2024-05-01T10:00:{i % 60:02d}Z"
              for i in range(60)]

    parsed = _parse(_csv(*lines), sensitive_features=["sex"])

    df = parsed.df
    assert parsed.file_format == "csv"
    assert df["y_true"].dtype == np.int8 and df["y_pred"].dtype == np.int8
    assert df["y_true"].tolist()[:4] == [0, 1, 0, 1]
    assert df["y_score"].dtype == np.float64
    assert isinstance(df["sex"].dtype, pd.CategoricalDtype)
    assert isinstance(df["city"].dtype, pd.CategoricalDtype)
    assert str(df["timestamp"].dtype) == "datetime64[us, UTC]"
    assert parsed.feature_columns == ("age", "city")
    assert parsed.score_column == "y_score" and parsed.timestamp_column == "timestamp"
    assert parsed.labels == ("0", "1")
    assert parsed.warnings == []


def test_it_maps_text_labels_to_one_and_zero_with_the_positive_label():
    parsed = _parse(_csv("y_true,y_pred", "yes,no", "no,no", " yes,yes"), positive_label="yes")

    assert parsed.df["y_true"].tolist() == [1, 0, 1]
    assert parsed.df["y_pred"].tolist() == [0, 0, 1]
    assert parsed.labels == ("no", "yes")


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_it_detects_the_delimiter(delimiter):
    rows = [delimiter.join(["y_true", "y_pred", "y_score", "note"])]
    rows += [delimiter.join([str(i % 2), "1", "0.25", f"n{i}"]) for i in range(20)]

    parsed = _parse(_csv(*rows))

    assert list(parsed.df.columns) == ["y_true", "y_pred", "y_score", "note"]
    assert parsed.df["y_score"].tolist() == [0.25] * 20


def test_it_keeps_quoted_delimiters_and_line_breaks_inside_values():
    parsed = _parse(b'y_true,y_pred,comment\n1,0,"a, b"\n0,0,"two\nlines"\n1,1,plain\n')

    assert parsed.df["comment"].astype(str).tolist() == ["a, b", "two\nlines", "plain"]


def test_it_accepts_a_utf8_byte_order_mark():
    parsed = _parse(b"\xef\xbb\xbf" + _csv("y_true,y_pred,city", "1,0,Köln"))

    assert list(parsed.df.columns) == ["y_true", "y_pred", "city"]
    assert parsed.df["city"].astype(str).tolist() == ["Köln"]


def test_it_reads_json_lines_recognised_by_content():
    lines = [json.dumps({"y_true": i % 2, "y_pred": 1, "y_score": 0.5, "x": i}) for i in range(5)]

    parsed = _parse("\n".join(lines).encode(), filename="evaluation.csv")

    assert parsed.file_format == "jsonl"
    assert parsed.df["y_true"].tolist() == [0, 1, 0, 1, 0]


def test_it_reads_json_lines_with_mixed_value_types_and_reports_bad_lines_by_number():
    mixed = b'{"y_true": 1, "y_pred": "1"}\n{"y_true": "1", "y_pred": 0}\n'
    assert _parse(mixed).df["y_true"].tolist() == [1, 1]

    broken = b'{"y_true": 1, "y_pred": 1}\n\n{"y_true": 1, "y_pred": \n[1, 2]\n'
    problems = _problems(broken)
    assert problems[0].startswith("row 3: invalid JSON")
    assert problems[1] == "row 4: each line must be one JSON object ({...})"


def test_it_reads_parquet_recognised_by_magic_bytes():
    df = pd.DataFrame({"y_true": [1, 0, 1], "y_pred": [1, 1, 0], "y_score": [0.9, 0.6, 0.2], "x": [1.0, 2.0, 3.0]})

    parsed = _parse(_parquet(df), filename="upload.csv")

    assert parsed.file_format == "parquet"
    assert parsed.df["y_pred"].tolist() == [1, 1, 0]
    assert parsed.feature_columns == ("x",)


def test_it_rejects_a_file_named_parquet_that_is_not_parquet():
    assert _problems(_csv("y_true,y_pred", "1,0"), filename="data.parquet") == [
        "'data.parquet' is not a Parquet file (it does not start with the PAR1 magic bytes)"
    ]


def test_it_rejects_a_json_array_with_a_clear_message():
    problems = _problems(b'[{"y_true": 1, "y_pred": 1}]')

    assert problems == ["the file is a JSON array; upload CSV, or JSON Lines with one object per line"]


def test_it_rejects_gzip_input():
    assert "gzip-compressed files are not accepted" in _problems(gzip.compress(_csv("y_true,y_pred", "1,0")))[0]


def test_it_rejects_a_file_over_the_size_limit():
    assert _problems(_csv("y_true,y_pred", "1,0"), limits=Limits(max_bytes=10)) == [
        "the file is 18 bytes, the limit is 10 bytes; upload a sample or split it"
    ]


@pytest.mark.parametrize("data", [b"", b"  \n\n "])
def test_it_rejects_an_empty_file(data):
    assert _problems(data) == ["the file is empty"]


def test_it_rejects_a_header_without_rows():
    assert _problems(b"y_true,y_pred,y_score\n") == ["the file has a header but no data rows"]


def test_it_names_the_byte_offset_of_invalid_utf8():
    data = _csv("y_true,y_pred,city", "1,0,Paris") + "0,1,Montr\xe9al\n".encode("latin-1")

    problems = _problems(data)

    assert data.index(b"\xe9") == 38
    assert problems == ["row 3: the file is not UTF-8: byte 0xE9 at byte offset 38 cannot be decoded; "
                        "save the file as UTF-8"]


def test_it_rejects_nul_bytes():
    data = _csv("y_true,y_pred", "1,0") + b"0,\x001\n"

    assert data.index(b"\x00") == 20
    assert _problems(data) == ["row 3: NUL byte at byte offset 20: this is a binary file, not CSV or JSON Lines"]


def test_it_reports_ragged_rows_by_their_row_number_in_the_file():
    problems = _problems(_csv("y_true,y_pred,y_score", "1,0,0.5", "0,1", "", "1,1,0.5,extra", "0,0,0.1"))

    assert problems == ["rows 3, 5: has 2 or 4 values where the header has 3 columns "
                        "(delimiter ','; quote values that contain it)"]


def test_it_rejects_duplicate_and_unnamed_columns():
    problems = _problems(_csv("y_true,y_pred,x,,x", "1,0,1,2,3"))

    assert problems == [
        "row 1: column 4 has no name; name it or remove it",
        "column 'x', row 1: appears more than once in the header; column names must be unique",
    ]


def test_it_names_missing_required_columns_and_the_columns_it_found():
    problems = _problems(_csv("label,y_pred,x", "1,0,2"), sensitive_features=["sex"])

    assert problems == [
        "column 'y_true': is missing; the file has the columns 'label', 'y_pred', 'x'",
        "column 'sex': is missing; the file has the columns 'label', 'y_pred', 'x'",
    ]


def test_it_rejects_scores_outside_the_unit_interval_with_row_numbers():
    data = _csv("y_true,y_pred,y_score", "1,1,0.5", "1,1,1.7", "0,0,0.1", "0,0,0.2", "1,0,0.3", "0,1,2.5")

    problems = _problems(data)


    assert problems == ["column 'y_score', rows 3, 7: value 1.7 is outside [0, 1]"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty or NaN value; every row needs a number"),
        ("NaN", "empty or NaN value; every row needs a number"),
        ("inf", "value inf is infinite or too large (e.g. 1e400)"),
        ("1e400", "value inf is infinite or too large (e.g. 1e400)"),
        ("high", "value 'high' is not a number"),
        ("0,7", "value '0,7' is not a number (use '.' as the decimal separator)"),
    ],
)
def test_it_rejects_missing_infinite_and_non_numeric_scores(value, message):
    data = _csv("y_true;y_pred;y_score", "1;1;0.5", f"0;0;{value}")

    assert _problems(data) == [f"column 'y_score', row 3: {message}"]


def test_it_rejects_missing_labels():
    problems = _problems(_csv("y_true,y_pred", "1,0", ",1", "NaN,0"))

    assert problems == ["column 'y_true', rows 3, 4: empty value; every row needs a label"]


@pytest.mark.parametrize("value", ["", "inf", "1e400", "abc"])
def test_it_rejects_bad_regression_targets(value):
    problems = _problems(_csv("y_true,y_pred", "1.5,1.2", f"{value},2.0"), task_type="regression")

    assert len(problems) == 1 and problems[0].startswith("column 'y_true', row 3: ")


def test_it_rejects_infinite_numeric_features_but_accepts_missing_ones():
    assert _problems(_csv("y_true,y_pred,x", "1,0,1e400", "0,0,2")) == [
        "column 'x', row 2: infinite value or a number too large for 64 bits (e.g. 1e400)"
    ]
    assert np.isnan(_parse(_csv("y_true,y_pred,x", "1,0,", "0,0,2")).df["x"][0])


def test_it_rejects_labels_outside_the_known_labels():
    problems = _problems(_csv("y_true,y_pred", "yes,no", "maybe,no", "no,unsure"), positive_label="yes",
                         known_labels=["yes", "no"])

    assert problems == [
        "column 'y_true', row 3: value 'maybe' is not one of the known labels ['no', 'yes']",
        "column 'y_pred', row 4: value 'unsure' is not one of the known labels ['no', 'yes']",
    ]


def test_it_rejects_a_third_label_in_a_binary_evaluation():
    problems = _problems(_csv("y_true,y_pred", "1,0", "0,0", "2,1", "0,0"))

    assert problems == ["column 'y_true', row 4: value '2' makes more than two labels (['0', '1', '2']); "
                        "a binary evaluation has a positive and a negative label"]


def test_it_asks_for_the_positive_label_when_it_does_not_occur():
    problems = _problems(_csv("y_true,y_pred", "yes,no", "no,no"))

    assert problems == ["the positive label '1' does not occur in 'y_true', 'y_pred' (labels found: ['no', 'yes']); "
                        "set the positive label to one of them"]


def test_it_warns_about_small_groups_without_failing():
    rows = _group_rows(40, t=[1, 0] * 20, p=[1] * 40, g=["a"] * 35 + ["b"] * 5)

    parsed = _parse(_csv("y_true,y_pred,g", *rows), sensitive_features=["g"])

    assert parsed.warnings == [
        "sensitive feature 'g': groups 'b' (5) have fewer than 30 rows; their rates are unreliable"
    ]
    assert parsed.df["g"].value_counts().to_dict() == {"a": 35, "b": 5}


def test_it_groups_missing_sensitive_values_and_warns():
    parsed = _parse(_csv("y_true,y_pred,g", "1,1,a", "0,0,", "1,0,a"), sensitive_features=["g"], min_group_rows=1)

    assert parsed.df["g"].astype(str).tolist() == ["a", "(missing)", "a"]
    assert parsed.warnings == ["sensitive feature 'g', row 3: 1 rows without a value are grouped as '(missing)'"]


def test_it_keeps_numeric_looking_groups_as_text():
    parsed = _parse(_csv("y_true,y_pred,g", "1,1,01", "0,0,2"), sensitive_features=["g"], min_group_rows=1)

    assert list(parsed.df["g"].cat.categories) == ["01", "2"]


def test_it_rejects_more_than_2000_columns():
    header = ",".join(["y_true", "y_pred"] + [f"f{i}" for i in range(2000)])

    assert _problems(_csv(header, ",".join(["1"] * 2002))) == [
        "the file has 2002 columns; at most 2000 are supported"
    ]


def test_it_refuses_a_parquet_decompression_bomb():
    bomb = pa.table({"y_true": pa.array(np.zeros(3_000_000, dtype=np.int8))})
    sink = io.BytesIO()
    pq.write_table(bomb, sink, compression="zstd")

    problems = _problems(sink.getvalue())

    assert "declares 3000000 rows" in problems[0] and "decompression bomb" in problems[0]


def test_it_rejects_an_invalid_timestamp():
    problems = _problems(_csv("y_true,y_pred,timestamp", "1,0,2024-05-01", "0,0,yesterday"))

    assert problems == ["column 'timestamp', row 3: value 'yesterday' is not an ISO 8601 date/time "
                        "(e.g. 2024-05-31T14:00:00Z)"]


def test_it_collects_every_problem_of_the_file_at_once():
    problems = _problems(_csv("y_true,y_pred,y_score,x", "1,0,1.5,inf", ",0,0.5,1"))

    assert problems == [
        "column 'y_true', row 3: empty value; every row needs a label",
        "column 'y_score', row 2: value 1.5 is outside [0, 1]",
        "column 'x', row 2: infinite value or a number too large for 64 bits (e.g. 1e400)",
    ]


def test_it_counts_offending_rows_beyond_the_first_five():
    rows = [f"1,1,{2 if i % 2 else 0.5}" for i in range(20)]

    problems = _problems(_csv("y_true,y_pred,y_score", *rows))

    assert problems == ["column 'y_score', rows 3, 5, 7, 9, 11: value 2 is outside [0, 1] (in 10 rows)"]


def test_it_formats_a_problem_without_column_or_rows():
    assert str(Problem(None, (), "the file is empty")) == "the file is empty"
    assert str(Problem("y", (4,), "bad")) == "column 'y', row 4: bad"


def test_it_parses_a_multiclass_evaluation_with_probability_columns():
    data = _csv("y_true,y_pred,y_score_cat,y_score_dog", "cat,cat,0.8,0.2", "dog,cat,0.6,0.4", "dog,dog,0.3,0.6")

    parsed = _parse(data, task_type="multiclass")

    assert parsed.labels == ("cat", "dog")
    assert parsed.probability_columns == {"cat": "y_score_cat", "dog": "y_score_dog"}
    assert parsed.feature_columns == ()
    assert parsed.warnings == ["row 4: the class probabilities do not sum to 1 (in 1 of 3 rows)"]
    probabilities = parsed.df[["y_score_cat", "y_score_dog"]].to_numpy()
    result = multiclass_metrics(parsed.df["y_true"], parsed.df["y_pred"], probabilities, labels=parsed.labels)
    assert result["overall"]["accuracy"] == pytest.approx(2 / 3)


def test_it_parses_a_regression_evaluation_into_floats():
    parsed = _parse(_csv("y_true,y_pred", "1.5,1", "2,2.5"), task_type="regression")

    assert parsed.df["y_true"].tolist() == [1.5, 2.0]
    assert parsed.df["y_pred"].dtype == np.float64
    assert parsed.labels == ()


def test_it_rejects_an_unknown_task_type():
    assert _problems(_csv("y_true,y_pred", "1,0"), task_type="ranking") == [
        "unknown task type 'ranking'; choose one of binary, multiclass, regression"
    ]


def test_it_round_trips_the_columnar_copy_with_dtypes():
    rows = _group_rows(40, t=[1, 0] * 20, p=[1, 1, 0, 0] * 10, s=[0.25] * 40, g=["a", "b"] * 20, x=range(40))
    parsed = _parse(_csv("y_true,y_pred,y_score,g,x", *rows), sensitive_features=["g"])

    restored = read_parquet_bytes(to_parquet_bytes(parsed.df))

    pd.testing.assert_frame_equal(restored, parsed.df)
    sensitive = {"g": restored["g"]}
    assert binary_metrics(restored["y_true"], restored["y_pred"], restored["y_score"], sensitive) == binary_metrics(
        parsed.df["y_true"], parsed.df["y_pred"], parsed.df["y_score"], {"g": parsed.df["g"]}
    )


def test_it_reads_a_reference_table_with_only_the_byte_level_checks():
    df, file_format = read_table(_csv("age;city", "31;Oslo", "45;"), filename="reference.csv")

    assert file_format == "csv"
    assert df["age"].tolist() == [31, 45]
    with pytest.raises(IngestError, match="header but no data rows"):
        read_table(b"age,city\n", filename="reference.csv")


@pytest.fixture
def small_chunks(monkeypatch):
    """Read CSV in pieces of about 40 bytes, so every test file spans several pieces."""
    monkeypatch.setattr(ingest, "CSV_CHUNK_BYTES", 40)


def test_it_reads_a_csv_in_pieces_with_the_same_result(small_chunks):
    rows = [f"{i % 2},{(i // 3) % 2},0.{i % 10}5,g{i % 3},{i * 1.5}" for i in range(50)]
    data = _csv("y_true,y_pred,y_score,g,x", *rows)

    parsed = _parse(data, sensitive_features=["g"], min_group_rows=1)

    assert len(parsed.df) == 50
    assert parsed.df["x"].tolist() == [i * 1.5 for i in range(50)]
    assert parsed.df["g"].astype(str).tolist() == [f"g{i % 3}" for i in range(50)]


def test_it_finds_types_across_pieces_and_quoted_line_breaks_between_them(small_chunks):
    rows = [f"1,0,{i},plain" for i in range(20)] + ['0,1,2.5,"broken\nline"', "0,0,text,plain"]

    parsed = _parse(_csv("y_true,y_pred,x,note", *rows))

    assert parsed.df["x"].astype(str).tolist()[-2:] == ["2.5", "text"]
    assert parsed.df["note"].astype(str).tolist()[-2] == "broken\nline"


def test_it_numbers_ragged_rows_when_reading_in_pieces(small_chunks):
    rows = [f"1,0,{i}" for i in range(20)] + ["1,0"] + [f"0,0,{i}" for i in range(5)]

    assert _problems(_csv("y_true,y_pred,x", *rows)) == [
        "row 22: has 2 values where the header has 3 columns (delimiter ','; quote values that contain it)"
    ]


# --- bounds checked before any parser sees the data ------------------------------------------------------------


def test_it_reads_brackets_and_escaped_quotes_inside_json_strings_as_text():
    lines = [r'{"y_true": 1, "y_pred": 1, "note": "say \"[[{{\" twice", "path": "C:\\[x]\\"}',
             '{"y_true": 0, "y_pred": 0, "note": "{\\"a\\": [1]}", "path": "]"}']

    parsed = _parse("\n".join(lines).encode(), filename="evaluation.jsonl")

    assert parsed.df["note"].astype(str).tolist() == ['say "[[{{" twice', '{"a": [1]}']
    assert parsed.df["path"].astype(str).tolist() == ["C:\\[x]\\", "]"]


def test_it_scans_json_lines_in_pieces_and_finds_nesting_on_a_later_piece(monkeypatch):
    monkeypatch.setattr(ingest, "SCAN_BYTES", 64)
    lines = ['{"y_true": 1, "y_pred": 1, "x": "a\\\\"}'] * 20 + ['{"y_true": 0, "y_pred": 0, "x": [[1]]}']

    assert _problems("\n".join(lines).encode(), filename="evaluation.jsonl") == [
        "column 'x', row 21: nested values (lists or objects) are not accepted; evaluation files are flat, "
        "one value per column"
    ]


def test_it_counts_json_keys_across_lines_against_the_column_limit(monkeypatch):
    monkeypatch.setattr(ingest, "MAX_COLUMNS", 4)
    lines = ['{"y_true": 1, "y_pred": 0, "a": 1}', '{"y_true": 0, "y_pred": 1, "b": 2}',
             '{"y_pred": 1, "y_true": 0, "c": 3}']

    assert _problems("\n".join(lines).encode(), filename="evaluation.jsonl") == [
        "the file has more than 4 distinct keys; at most 4 columns are supported"
    ]
    assert _parse("\n".join(lines[:2]).encode(), filename="evaluation.jsonl").row_count == 2


@pytest.mark.parametrize("filename, data", [
    ("evaluation.csv", _csv("y_true,y_pred,y_score", "1,1,0.9", "0,0,0.1", "1,0,0.5")),
    ("evaluation.jsonl", b'{"y_true":1,"y_pred":1,"y_score":0.9}\n{"y_true":0,"y_pred":0,"y_score":0.1}\n'
                         b'{"y_true":1,"y_pred":0,"y_score":0.5}\n'),
], ids=["csv", "jsonl"])
def test_it_refuses_more_values_than_the_cells_limit(filename, data):
    assert _problems(data, filename=filename, limits=Limits(max_cells=8)) == [
        "the file has 9 values (rows x columns); at most 8 are accepted (PORTAL_MAX_CELLS); upload fewer rows or "
        "columns"
    ]
    assert _parse(data, filename=filename, limits=Limits(max_cells=9)).row_count == 3


def test_it_accepts_exactly_the_row_limit_and_refuses_one_more():
    rows = [f"{i % 2},{i % 2}" for i in range(5)]

    assert _parse(_csv("y_true,y_pred", *rows), limits=Limits(max_rows=5)).row_count == 5
    assert "the file has 6 rows; at most 5 are accepted (PORTAL_MAX_ROWS)" in _problems(
        _csv("y_true,y_pred", *rows, "1,1"), limits=Limits(max_rows=5))[0]


def test_it_counts_lone_carriage_returns_as_rows_before_reading():
    data = b"y_true,y_pred\n" + b"1,1\r" * 6

    assert "the file has 6 rows" in _problems(data, limits=Limits(max_rows=5))[0]


def test_it_refuses_parquet_whose_footer_declares_more_decoded_data_than_the_limit():
    # Two constant columns take a few bytes on disk and 8 bytes a row each once decoded, like the scores.
    rows = 300_000
    data = _parquet(pd.DataFrame({"y_true": np.ones(rows, np.int64), "y_pred": np.ones(rows, np.int64),
                                  "y_score": np.random.default_rng(3).random(rows)}))

    problems = _problems(data, filename="evaluation.parquet", limits=Limits(max_decoded_bytes=6 * 1024 * 1024))

    assert problems == ["the Parquet file declares 7.1 MB of data once decoded; at most 6.0 MB are accepted "
                        "(PORTAL_MAX_DECODED_MB); upload a sample or split it"]
    assert _parse(data, filename="evaluation.parquet").row_count == 300_000


def test_it_reads_parquet_text_dictionary_encoded_into_categoricals():
    data = _parquet(pd.DataFrame({"y_true": [1, 0, 1], "y_pred": [1, 0, 0], "sex": ["f", "m", "f"]}))

    parsed = _parse(data, filename="evaluation.parquet", sensitive_features=["sex"], min_group_rows=1)

    assert parsed.df["sex"].astype(str).tolist() == ["f", "m", "f"]


def test_it_refuses_a_text_value_longer_than_the_limit_in_parquet():
    data = _parquet(pd.DataFrame({"y_true": [1, 0], "y_pred": [1, 0], "note": ["short", "x" * 3000]}))

    assert _problems(data, filename="evaluation.parquet", limits=Limits(max_line_bytes=2048)) == [
        "column 'note', row 2: a value is longer than 2.0 KB; values that long are not accepted (PORTAL_MAX_LINE_KB)"
    ]


def test_it_refuses_a_sensitive_feature_with_more_groups_than_the_limit():
    rows = [f"{i % 2},{i % 2},g{i % 4}" for i in range(8)]

    assert _problems(_csv("y_true,y_pred,g", *rows), sensitive_features=["g"], limits=Limits(max_groups=3)) == [
        "column 'g': has 4 distinct values; a sensitive feature may have at most 3 groups "
        "(PORTAL_MAX_GROUPS_PER_FEATURE); group the values (e.g. age bands instead of ages) or leave the column out"
    ]
    assert _parse(_csv("y_true,y_pred,g", *rows), sensitive_features=["g"], limits=Limits(max_groups=4))


def test_it_lists_at_most_ten_small_groups_in_the_warning():
    rows = [f"{i % 2},{i % 2},g{i:02d}" for i in range(25)]

    parsed = _parse(_csv("y_true,y_pred,g", *rows), sensitive_features=["g"])

    (warning,) = parsed.warnings
    assert warning.count("(1)") == 10 and "and 15 more have fewer than 30 rows" in warning


def test_it_refuses_a_multiclass_target_with_more_labels_than_classes_exist(monkeypatch):
    monkeypatch.setattr(ingest, "MAX_CLASSES", 3)
    rows = [f"c{i % 4},c{i % 4}" for i in range(8)]

    assert _problems(_csv("y_true,y_pred", *rows), task_type="multiclass") == [
        "'y_true', 'y_pred' hold 4 distinct labels; a multiclass evaluation has at most 3 classes "
        "(is the target column a label?)"
    ]


@pytest.mark.parametrize("separator", ["\r", "\x0b", "\x0c", "\x1c", "\u0085", "\u2028"])
def test_a_line_break_python_knows_but_json_lines_does_not_never_exposes_nesting(separator):
    # The byte scan splits JSON Lines on \n as Arrow does; the fallback reader once split on every Unicode
    # line break too, which cut a string open and handed json.loads thousands of nested brackets (500).
    deep = "[" * 5000 + "]" * 5000
    data = ('{"y_true":1,"y_pred":1}\n{"y_true":1,"y_pred":1,"x":"a' + separator + '{"y":1,"x":' + deep
            + '}"}\n').encode()
    with pytest.raises(ingest.IngestError) as refused:
        ingest.read_table(data, filename="e.jsonl")
    assert refused.value.problems[0].rows == (2,)


def test_row_numbers_count_a_lone_carriage_return_as_a_line_break():
    # Found by the random-CSV property test: a blank line, then a row after a lone CR. The row numbers
    # counted LF only, ran out of lines and raised IndexError instead of naming the row.
    with pytest.raises(ingest.IngestError) as refused:
        ingest.parse_evaluation(b"y_true,y_pred\n\n\r0\n", filename="eval.csv", task_type="binary")
    assert all(row <= 4 for problem in refused.value.problems for row in problem.rows)


BIG = 9007199254740993  # 2**53 + 1: as a float, 9007199254740992


@pytest.mark.parametrize("tail", ["", "\n1,1,0.5,"])  # a gap makes pandas read the column as floats
def test_it_refuses_a_whole_number_a_float_cannot_hold_instead_of_rounding_it(tail):
    data = _csv("y_true,y_pred,y_score,account", "1,1,0.9,12", f"0,0,0.1,{BIG}") + tail.lstrip("\n").encode()

    (problem,) = _problems(data)

    assert problem.startswith("column 'account', row 3: value '9007199254740993' is a whole number beyond ±2**53")


def test_it_refuses_such_a_number_in_parquet_but_keeps_a_prediction_id_that_large_as_text():
    frame = pd.DataFrame({"y_pred": [1, 0], "y_score": [0.9, 0.1], "prediction_id": [BIG, BIG + 1]})
    parsed = _parse(_parquet(frame), filename="e.parquet", require_target=False)
    assert parsed.df["prediction_id"].tolist() == [str(BIG), str(BIG + 1)]

    (problem,) = _problems(_parquet(frame.assign(y_true=[1, 0], count=[1, -BIG])), filename="e.parquet")
    assert problem.startswith("column 'count', row 2: value '-9007199254740993' is a whole number beyond")


def test_it_accepts_whole_numbers_up_to_two_to_the_53():
    parsed = _parse(_csv("y_true,y_pred,account", f"1,1,{2**53}", f"0,0,{-2**53}"))
    assert parsed.df["account"].tolist() == [2**53, -2**53]


def test_it_reads_parquet_decimals_as_floats_and_refuses_binary_and_unnamed_columns_from_the_footer():
    import decimal

    labels = {"y_true": [1, 0], "y_pred": [1, 0]}
    amounts = pa.array([decimal.Decimal("1.25"), decimal.Decimal("2.50")], pa.decimal128(10, 2))
    sink = io.BytesIO()
    pq.write_table(pa.table({**labels, "amount": amounts}), sink)
    parsed = _parse(sink.getvalue(), filename="e.parquet")
    assert parsed.df["amount"].dtype == np.float64 and parsed.df["amount"].tolist() == [1.25, 2.5]

    sink = io.BytesIO()
    pq.write_table(pa.table({**labels, "blob": pa.array([b"\x00", b"\x01"]), "": [1, 2]}), sink)
    assert _problems(sink.getvalue(), filename="e.parquet") == [
        "column 4 has no name; name it or remove it",
        "column 'blob': holds binary values (binary), not numbers, text or dates; write it as text (UTF-8 strings) "
        "or leave it out"]


_TEXT = pa.dictionary(pa.int32(), pa.string())
_NULL_CASES = [
    b'x,1,\n"",2,NA\nNA,,null\n"NA",4,z\n',  # empty, quoted empty, NA quoted and not
    b",\n,\n",  # nothing at all: a null column
    b"NA,1\nnull,2\n",  # only missing values in a text column
    b'x,1\ny,2\n"",3\n#N/A,4\n',
    b"".join(b"v%d,%d\n" % (i, i) for i in range(200)) + b"NA,1\n,2\n",  # past the dictionary's cardinality
    b'"nan",1.5\nnan,NaN\n-NaN,2\n',
]


@pytest.mark.parametrize("threads", [True, False])
@pytest.mark.parametrize("types", [{}, {"a": _TEXT}, {"a": pa.string()}, {"a": _TEXT, "b": _TEXT}])
@pytest.mark.parametrize("body", _NULL_CASES)
def test_text_missing_values_are_those_arrow_finds_while_parsing(body, types, threads):
    """``_arrow_csv`` finds missing text values after parsing (in the dictionaries); the table must be the one
    Arrow's reader gives with ``strings_can_be_null``: values, types, chunks and dictionaries (no entry left for a
    missing value: a group with no row would show up in the fairness tables)."""
    import pyarrow.csv as pa_csv

    names = ["a", "b", "c"][:body.split(b"\n")[0].count(b",") + 1]
    expected = pa_csv.read_csv(
        pa.BufferReader(body), read_options=pa_csv.ReadOptions(column_names=names, use_threads=threads, block_size=16),
        parse_options=pa_csv.ParseOptions(newlines_in_values=not threads),
        convert_options=pa_csv.ConvertOptions(column_types=types, strings_can_be_null=True, auto_dict_encode=True))
    table, invalid = ingest._arrow_csv(memoryview(body), names, ",", dict(types), careful=not threads, block_size=16)
    assert not invalid
    assert table.schema == expected.schema
    for got, wanted in zip(table.columns, expected.columns, strict=True):
        assert got.to_pylist() == wanted.to_pylist()
        assert got.num_chunks == wanted.num_chunks
        for got_chunk, wanted_chunk in zip(got.chunks, wanted.chunks, strict=True):
            if pa.types.is_dictionary(wanted_chunk.type):
                assert got_chunk.dictionary.to_pylist() == wanted_chunk.dictionary.to_pylist()


def test_a_quote_never_closed_after_a_long_quoted_value_is_refused_not_swallowed():
    # Python's CSV reader, which finds the row a quote leaves open, stopped at a value over 128 KB: the quote
    # after it went unseen and Arrow read the 20 rows after it as part of one value.
    data = (b"y_true,y_pred,sex,note\n" + b'1,1,f,"' + b"x" * 200_000 + b'"\n' + b"0,0,m,plain\n" * 10
            + b'1,0,f,"never closed\n' + b"0,1,m,plain\n" * 20)

    with pytest.raises(IngestError) as caught:
        ingest.parse_evaluation(data, filename="e.csv", sensitive_features=["sex"])

    (problem,) = caught.value.problems
    assert problem.rows == (13,) and ingest.UNCLOSED_QUOTE in problem.message


@pytest.mark.parametrize("end", [b"\n", b""])
def test_a_quote_never_closed_beside_a_stray_quote_is_refused_not_swallowed(end):
    # 27" screen makes the count of quotes even, and the count was the only trigger of the check.
    data = (b"y_true,y_pred,sex,note\n" + b'1,1,f,27" screen\n' + b"0,0,m,plain\n" * 10 + b'1,0,f,"never closed\n'
            + b"0,1,m,plain\n" * 19 + b"0,1,m,plain" + end)

    with pytest.raises(IngestError) as caught:
        ingest.parse_evaluation(data, filename="e.csv", sensitive_features=["sex"])

    (problem,) = caught.value.problems
    assert problem.rows == (13,) and ingest.UNCLOSED_QUOTE in problem.message


def test_a_quoted_line_break_in_the_last_row_is_read_as_such():
    data = b"y_true,y_pred,sex,note\n" + b'1,1,f,27" screen\n' + b"0,0,m,plain\n" * 10 + b'1,0,f,"two\nlines"\n'

    parsed = ingest.parse_evaluation(data, filename="e.csv", sensitive_features=["sex"])

    assert len(parsed.df) == 12 and parsed.df["note"].tolist()[-1] == "two\nlines"


@pytest.mark.parametrize("lenient", [b'a""b', b'"ab"c'])
def test_a_quote_never_closed_after_a_leniently_read_value_is_refused(lenient):
    # Python's reader in strict mode stopped at these (Arrow reads them), so the quote after them went unseen.
    data = (b"y_true,y_pred,sex,note\n" + b"1,1,f," + lenient + b"\n" + b"0,0,m,plain\n" * 10
            + b'1,0,f,"never closed\n' + b"0,1,m,plain\n" * 20)

    with pytest.raises(IngestError) as caught:
        ingest.parse_evaluation(data, filename="e.csv", sensitive_features=["sex"])

    (problem,) = caught.value.problems
    assert problem.rows == (13,) and ingest.UNCLOSED_QUOTE in problem.message
