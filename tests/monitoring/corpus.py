"""Malformed evaluation uploads, generated in memory (no binary fixtures in the repository).

``malformed_uploads()`` returns ``Case`` tuples: a name, the file's bytes, words the error must
mention (case-insensitive; a column's name where one applies) and, when the case needs them,
the file name and extra form fields of the upload (e.g. ``sensitive_features``). Every file is
meant for a binary model with the default columns ``y_true``, ``y_pred``, ``y_score``.

``crash_class_uploads()`` (part of the malformed uploads) are the files that crashed or bloated
the process before their bounds existed: nesting tens of thousands of levels deep, huge single
values and lines, nested Parquet types, Parquet whose footer declares 20 million rows, tens of
thousands of columns. Each must be refused with a clear message by the parser alone
(``parse_evaluation`` and ``read_table``), which the tests run in a subprocess so a crash shows
as a failure, not as a dead test run.
"""

import bz2
import functools
import gzip
import io
import json
import lzma
import zipfile
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

GOOD_HEADER = "y_true,y_pred,y_score,sex"
GOOD_ROWS = ["1,1,0.9,female", "0,0,0.2,male", "1,0,0.4,female"]
BOMB_BYTES = 50 * 1024 * 1024
DEEP = 30_000
# Refused as evaluations (the cell is not a score) but harmless, and accepted, as reference data.
HARMLESS_AS_REFERENCE = frozenset({"csv-deep-nesting-in-a-cell"})


class Case(NamedTuple):
    name: str
    data: bytes
    words: tuple[str, ...]
    filename: str = "eval.csv"
    fields: dict = {}


def _csv(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\n".join(lines) + "\n").encode(encoding)


def _good(**replace: str) -> bytes:
    """The good file with one row's cell replaced: ``_good(y_score="inf")`` changes the second data row."""
    header = GOOD_HEADER.split(",")
    row = GOOD_ROWS[1].split(",")
    for column, value in replace.items():
        row[header.index(column)] = value
    return _csv(GOOD_HEADER, GOOD_ROWS[0], ",".join(row), GOOD_ROWS[2])


def _parquet(table: pa.Table, **options) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **options)
    return sink.getvalue().to_pybytes()


def _zip(member: str, data: bytes) -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, data)
    return sink.getvalue()


def _encoding_cases() -> list[Case]:
    latin1 = _csv("y_true,y_pred,y_score,région", "1,1,0.9,Côte", "0,0,0.2,Zürich", encoding="latin-1")
    cp1252 = _csv(GOOD_HEADER, "1,1,0.9,\u201cfemale\u201d", encoding="cp1252")
    good = _good().decode()
    return [
        Case("latin1", latin1, ("not UTF-8", "0xE9", "save the file as UTF-8")),
        Case("cp1252-smart-quotes", cp1252, ("not UTF-8", "0x93")),
        Case("utf16-le-bom", good.encode("utf-16"), ("UTF-16",)),
        Case("utf16-be-bom", b"\xfe\xff" + good.encode("utf-16-be"), ("UTF-16",)),
        Case("utf16-le-without-bom", good.encode("utf-16-le"), ("NUL byte",)),
        Case("utf8-encoded-surrogate", _good(sex="x").replace(b"x", b"\xed\xa0\x80"), ("not UTF-8", "0xED")),
        Case("truncated-utf8-sequence-at-end", _good() + b"\xc3", ("not UTF-8", "0xC3")),
        Case("nul-byte-in-a-cell", _good(sex="fe\x00male"), ("NUL byte", "binary file")),
        Case("nul-bytes-only", b"\x00" * 4096, ("NUL byte",)),
        Case("random-binary", np.random.default_rng(7).bytes(8192).replace(b"\x1f\x8b", b"..") + b"\x00",
             ("NUL byte",)),
    ]


def _compressed_cases() -> list[Case]:
    zeros = bytes(BOMB_BYTES)
    small = bytes(5 * 1024 * 1024)  # bzip2 is slow to compress 50 MB; a 5 MB bomb makes the same point
    return [
        Case("gzip-bomb-50mb-of-zeros", gzip.compress(zeros, compresslevel=9, mtime=0), ("gzip", "uncompressed"),
             filename="eval.csv.gz"),
        Case("gzip-named-csv", gzip.compress(_good(), mtime=0), ("gzip",)),
        Case("bzip2-bomb", bz2.compress(small, 9), ("bzip2",), filename="eval.csv.bz2"),
        Case("zip-bomb", _zip("eval.csv", zeros), ("zip",), filename="eval.zip"),
        Case("xz-bomb", lzma.compress(zeros, preset=1), ("xz",), filename="eval.csv.xz"),
        Case("zstd-bomb", pa.Codec("zstd").compress(zeros, asbytes=True), ("zstd",), filename="eval.csv.zst"),
        Case("7zip-magic", b"7z\xbc\xaf\x27\x1c" + bytes(64), ("7-Zip",), filename="eval.7z"),
        Case("excel-workbook", _zip("xl/workbook.xml", b"<workbook/>"), ("Excel",), filename="eval.xlsx"),
    ]


def _shape_cases() -> list[Case]:
    wide = ",".join(["y_true", "y_pred"] + [f"f{i}" for i in range(2498)])
    return [
        Case("empty", b"", ("empty",)),
        Case("whitespace-only", b" \t\r\n\n   \n", ("empty",)),
        Case("bom-only", b"\xef\xbb\xbf", ("empty",)),
        Case("header-only", _csv(GOOD_HEADER), ("header", "no data rows")),
        Case("header-and-blank-lines", _csv(GOOD_HEADER, "", ""), ("no data rows",)),
        Case("delimiter-row-only", _csv(",,,"), ("has no name",)),
        Case("delimiter-row-then-data", _csv(",,,", "1,1,0.9,female"), ("has no name",)),
        Case("too-many-cells", _csv(GOOD_HEADER, GOOD_ROWS[0], "0,0,0.2,male,extra", GOOD_ROWS[2]),
             ("5 values", "4 columns", "row 3")),
        Case("too-few-cells", _csv(GOOD_HEADER, GOOD_ROWS[0], "0,0", GOOD_ROWS[2]), ("2 values", "row 3")),
        Case("quote-never-closed", _csv(GOOD_HEADER, GOOD_ROWS[0], '0,0,0.2,"male', GOOD_ROWS[2]), ("quote", "row 3")),
        Case("duplicate-columns", _csv("y_true,y_pred,y_score,y_score", "1,1,0.9,0.8"),
             ("y_score", "more than once")),
        Case("unnamed-column", _csv("y_true,,y_pred", "1,2,1"), ("column 2", "no name")),
        Case("2500-columns", _csv(wide, ",".join(["1"] * 2500)), ("2500 columns", "2000")),
        Case("missing-target", _csv("y_pred,y_score", "1,0.9", "0,0.2"), ("y_true", "missing")),
        Case("missing-prediction", _csv("y_true,y_score", "1,0.9", "0,0.2"), ("y_pred", "missing")),
        Case("wrong-header-names", _csv("label,predicted,prob", "1,1,0.9"), ("y_true", "y_pred", "label")),
        Case("missing-sensitive-feature", _good(), ("age_band", "missing"), fields={"sensitive_features": "age_band"}),
        Case("cr-only-line-endings", b"y_true,y_pred,y_score\r1,1,0.9\r0,0,0.2\r", ("row 1", "line")),
        Case("carriage-return-inside-the-header", _csv("y_true,y_pred,y_\rscore", "1,1,0.9"), ("row 1", "line")),
        Case("header-has-the-wrong-delimiter", _csv("y_true;y_pred;y_score", "1,1,0.9", "0,0,0.2"), ("values",)),
    ]


def _value_cases() -> list[Case]:
    cases = []
    for value, words in [("", "empty or NaN"), ("NaN", "empty or NaN"), ("nan", "empty or NaN"),
                         ("inf", "infinite"), ("-Infinity", "infinite"), ("1e400", "infinite"),
                         ("high", "not a number"), ("0,5", "decimal separator"), ("1.7", "outside [0, 1]"),
                         ("-0.1", "outside [0, 1]")]:
        data = _good(y_score=f'"{value}"' if "," in value else value)
        cases.append(Case(f"y_score-{value or 'empty'}", data, ("y_score", words)))
    cases += [
        Case("y_true-empty", _good(y_true=""), ("y_true", "empty value")),
        Case("y_true-nan", _good(y_true="NaN"), ("y_true", "empty value")),
        Case("y_true-multivalued", _csv(GOOD_HEADER, *GOOD_ROWS, "2,1,0.5,male", "3,0,0.5,male"),
             ("y_true", "more than two labels")),
        Case("y_pred-third-label", _good(y_pred="7"), ("y_pred", "more than two labels")),
        Case("positive-label-absent", _csv(GOOD_HEADER, "yes,no,0.9,female", "no,yes,0.2,male"),
             ("positive label", "'1'")),
        Case("timestamp-unparseable", _csv(GOOD_HEADER + ",timestamp", GOOD_ROWS[0] + ",2024-05-01T10:00:00Z",
                                           GOOD_ROWS[1] + ",yesterday"), ("timestamp", "yesterday", "ISO 8601")),
        Case("timestamp-impossible-date", _csv(GOOD_HEADER + ",timestamp", GOOD_ROWS[0] + ",2024-02-30"),
             ("timestamp", "2024-02-30")),
        Case("timestamp-empty", _csv(GOOD_HEADER + ",timestamp", GOOD_ROWS[0] + ",2024-05-01", GOOD_ROWS[1] + ","),
             ("timestamp", "empty value")),
        Case("feature-1e400", _csv(GOOD_HEADER + ",income", GOOD_ROWS[0] + ",1e400", GOOD_ROWS[1] + ",3.5"),
             ("income", "infinite")),
        Case("many-problems-at-once", _csv(GOOD_HEADER, "1,1,1.5,female", "0,0,abc,male", "2,0,0.2,male"),
             ("y_score", "y_true")),
    ]
    return cases


def _json_cases() -> list[Case]:
    records = [{"y_true": 1, "y_pred": 1, "y_score": 0.9}, {"y_true": 0, "y_pred": 0, "y_score": 0.1}]
    lines = [json.dumps(record) for record in records]
    return [
        Case("json-array", json.dumps(records).encode(), ("JSON array",), filename="eval.json"),
        Case("json-lines-broken-line", "\n".join([lines[0], '{"y_true": 0, "y_pred":', lines[1]]).encode(),
             ("invalid JSON", "row 2"), filename="eval.jsonl"),
        Case("json-lines-array-line", "\n".join([lines[0], "[1, 0, 0.5]"]).encode(), ("JSON object", "row 2"),
             filename="eval.jsonl"),
        Case("json-lines-nested-value", "\n".join([lines[0], json.dumps({**records[1], "y_score": [0.1]})]).encode(),
             ("y_score",), filename="eval.jsonl"),
        Case("json-lines-list-label", b'{"y_true": 1, "y_pred": 1}\n{"y_true": [1], "y_pred": 0}\n',
             ("y_true", "nested"), filename="eval.jsonl"),
        Case("json-lines-mixed-nested-feature",
             b'{"y_true": 1, "y_pred": 1, "income": 0.5}\n{"y_true": 0, "y_pred": 0, "income": [1]}\n',
             ("income", "nested"), filename="eval.jsonl"),
        Case("json-lines-missing-target", b'{"y_pred": 1, "y_score": 0.9}\n', ("y_true", "missing"),
             filename="eval.jsonl"),
        Case("json-lines-string-then-spaces-only", b'{"x"\r\n', ("invalid JSON", "row 1"), filename="eval.jsonl"),
        Case("json-lines-score-as-string", "\n".join([lines[0], json.dumps({**records[1], "y_score": "high"})])
             .encode(), ("y_score", "not a number"), filename="eval.jsonl"),
    ]


def _parquet_cases() -> list[Case]:
    good = pa.table({"y_true": [1, 0], "y_pred": [1, 0], "y_score": [0.9, 0.1]})
    good_bytes = _parquet(good)
    bomb = pa.table({"y_true": pa.array(np.zeros(3_000_000, dtype=np.int8))})
    return [
        Case("parquet-wrong-schema", _parquet(pa.table({"a": [1, 2], "b": ["x", "y"]})), ("y_true", "missing"),
             filename="eval.parquet"),
        Case("parquet-score-out-of-range", _parquet(good.set_column(2, "y_score", pa.array([0.9, 3.0]))),
             ("y_score", "outside [0, 1]"), filename="eval.parquet"),
        Case("parquet-nested-column", _parquet(good.append_column("tags", pa.array([[1], [2]]))),
             ("tags", "nested"), filename="eval.parquet"),
        Case("parquet-absurd-row-count", _parquet(bomb, compression="zstd"), ("3000000 rows", "decompression bomb"),
             filename="eval.parquet"),
        Case("parquet-truncated", good_bytes[: len(good_bytes) // 2], ("truncated",), filename="eval.parquet"),
        Case("parquet-corrupt-footer", good_bytes[:4] + bytes(len(good_bytes) - 8) + b"PAR1", ("Parquet",),
             filename="eval.parquet"),
        Case("parquet-named-but-csv", _csv("y_true,y_pred", "1,1"), ("not a Parquet file",), filename="eval.parquet"),
        Case("parquet-zero-rows", _parquet(good.slice(0, 0)), ("no rows",), filename="eval.parquet"),
    ]


def _deep_nesting_cases() -> list[Case]:
    arrays = b"[" * DEEP + b"]" * DEEP
    objects = b'{"x":' * DEEP + b"1" + b"}" * DEEP
    first = b'{"y_true": 1, "y_pred": 1, "y_score": 0.9}\n'
    return [
        Case("jsonl-deep-nesting-arrays", b'{"y_true":1,"y_pred":1,"x":' + arrays + b"}\n", ("x", "nested", "row 1"),
             filename="eval.jsonl"),
        Case("jsonl-deep-nesting-objects", b'{"y_true":1,"y_pred":1,"x":' + objects + b"}\n", ("x", "nested"),
             filename="eval.jsonl"),
        Case("jsonl-deep-nesting-on-row-2", first + b'{"y_true":0,"y_pred":0,"deep":' + arrays + b"}\n",
             ("deep", "nested", "row 2"), filename="eval.jsonl"),
        Case("jsonl-deep-nesting-never-closed", b'{"y_true":1,"y_pred":1,"x":' + b"[" * DEEP, ("x", "nested"),
             filename="eval.jsonl"),
        Case("jsonl-deep-nesting-after-escaped-quotes", b'{"y_true":1,"y_pred":"a\\\\","x":' + arrays + b"}\n",
             ("x", "nested"), filename="eval.jsonl"),
        Case("csv-deep-nesting-in-a-cell", _good(y_score=arrays.decode()), ("y_score", "not a number")),
    ]


def _huge_value_cases() -> list[Case]:
    huge = "a" * (2 * 1024 * 1024)
    lines = ("a" * 1000 + "\n") * 1500
    return [
        Case("jsonl-huge-single-string", ('{"y_true":1,"y_pred":1,"note":"' + huge + '"}\n').encode(),
             ("row 1", "longer than 1.0 MB", "PORTAL_MAX_LINE_KB"), filename="eval.jsonl"),
        Case("csv-huge-single-value", _csv("y_true,y_pred,note", f"1,1,{huge}"),
             ("row 2", "longer than 1.0 MB", "PORTAL_MAX_LINE_KB")),
        Case("csv-huge-quoted-value-over-many-lines", _csv("y_true,y_pred,note", f'1,1,"{lines}"', "0,0,x"),
             ("note", "row 2", "longer than 1.0 MB")),
        Case("csv-5mb-quoted-value-over-many-lines", _csv("y_true,y_pred,note", f'1,1,"{lines * 4}"', "0,0,x"),
             ("row is longer than 2.0 MB", "PORTAL_MAX_LINE_KB")),
        Case("50mb-single-line", b"y_true,y_pred," + b"x" * BOMB_BYTES,
             ("no line break within the first 1.0 MB", "50.0 MB", "row 1", "PORTAL_MAX_LINE_KB")),
        Case("jsonl-string-not-closed-at-line-end", b'{"y_true":1,"y_pred":1}\n{"y_true":"1,"y_pred":0}\n' * 2,
             ("not closed", "row 2"), filename="eval.jsonl"),
    ]


def _nested_parquet_cases() -> list[Case]:
    good = pa.table({"y_true": [1, 0], "y_pred": [1, 0]})
    struct = pa.array([{"a": 1}, {"a": 2}])
    mapping = pa.array([[("a", 1)], [("b", 2)]], type=pa.map_(pa.string(), pa.int64()))
    def nested(depth: int) -> pa.Array:
        return pa.array([None, None], type=functools.reduce(lambda inner, _: pa.list_(inner), range(depth), pa.int8()))

    return [
        Case("parquet-list-column", _parquet(good.append_column("tags", pa.array([["a"], ["b"]]))), ("tags", "nested"),
             filename="eval.parquet"),
        Case("parquet-struct-column", _parquet(good.append_column("point", struct)), ("point", "nested"),
             filename="eval.parquet"),
        Case("parquet-map-column", _parquet(good.append_column("attributes", mapping)), ("attributes", "nested"),
             filename="eval.parquet"),
        Case("parquet-list-nested-20-deep", _parquet(good.append_column("deep", nested(20))), ("deep", "nested"),
             filename="eval.parquet"),
        Case("parquet-list-nested-60-deep", _parquet(good.append_column("deep", nested(60))), ("nested",),
             filename="eval.parquet"),
    ]


def _twenty_million_row_parquet() -> bytes:
    """About 1.7 MB declaring 20,000,000 rows of nearly constant columns (10% of one column varies)."""
    rows = 1_000_000
    chunk = pa.table({"y_true": pa.array(np.ones(rows, np.int8)), "y_pred": pa.array(np.ones(rows, np.int8)),
                      "y_score": np.where(np.random.default_rng(1).random(rows) < 0.06, 0.6, 0.5)})
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, chunk.schema, compression="zstd", use_dictionary=["y_score"]) as writer:
        for _ in range(20):
            writer.write_table(chunk)
    return sink.getvalue().to_pybytes()


def _size_cases() -> list[Case]:
    wide_line = "{" + ",".join(f'"k{i}": 1' for i in range(3000)) + "}"
    many_keys = "\n".join("{" + ",".join(f'"k{line}_{i}":1' for i in range(2000)) + "}" for line in range(200))
    wide = pa.table({f"f{i}": pa.array([1, 0], pa.int8()) for i in range(2500)})
    return [
        Case("parquet-20-million-rows", _twenty_million_row_parquet(), ("20,000,000 rows", "PORTAL_MAX_ROWS"),
             filename="eval.parquet"),
        Case("parquet-2500-columns", _parquet(wide), ("2500 columns", "2000"), filename="eval.parquet"),
        Case("jsonl-3000-keys-on-a-line", (wide_line + "\n").encode(), ("3000 keys", "2000", "row 1"),
             filename="eval.jsonl"),
        Case("jsonl-400000-distinct-keys", (many_keys + "\n").encode(), ("more than 2000 distinct keys",),
             filename="eval.jsonl"),
        # Arrow's JSON reader (pyarrow 26) dies of a segmentation fault on a block that starts with a null line.
        Case("jsonl-null-lines-at-a-block-start", b'{"y_true": 1, "y_pred": 1}\n' * 50_000 + b"null\n" * 400_000,
             ("JSON object", "row 50001"), filename="eval.jsonl"),
        Case("csv-2000001-rows", b"y_true,y_pred\n" + b"1,0\n" * 2_000_001, ("2,000,001 rows", "PORTAL_MAX_ROWS")),
    ]


@functools.cache
def crash_class_uploads() -> tuple[Case, ...]:
    return (*_deep_nesting_cases(), *_huge_value_cases(), *_nested_parquet_cases(), *_size_cases())


def _group_cases() -> list[Case]:
    groups = [f"{i % 2},{i % 2},0.5,g{i}" for i in range(200_000)]
    return [Case("200000-sensitive-groups", _csv(GOOD_HEADER, *groups),
                 ("sex", "200,000 distinct values", "1,000 groups", "PORTAL_MAX_GROUPS_PER_FEATURE"),
                 fields={"sensitive_features": "sex"}),
            Case("group-name-with-an-escape-character", _good(sex="fe\x1b[2Jmale"),
                 ("sex", "row 3", "U+001B", "printable"), fields={"sensitive_features": "sex"}),
            Case("group-name-with-a-right-to-left-override", _good(sex="\u202eelamef"),
                 ("sex", "row 3", "U+202E", "printable"), fields={"sensitive_features": "sex"}),
            Case("label-with-a-line-break-inside-quotes", _good(y_pred='"0\n0"'),
                 ("y_pred", "row 3", "U+000A"))]


@functools.cache
def malformed_uploads() -> tuple[Case, ...]:
    cases = [*_encoding_cases(), *_compressed_cases(), *_shape_cases(), *_value_cases(), *_json_cases(),
             *_parquet_cases(), *_group_cases(), *crash_class_uploads()]
    names = [case.name for case in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return tuple(cases)


def oversized_upload(limit: int) -> Case:
    """A well-formed CSV just over ``limit`` bytes, under 1 MB (the test sets PORTAL_MAX_UPLOAD_BYTES to ``limit``)."""
    rows = [GOOD_ROWS[i % 2] for i in range(limit // len(GOOD_ROWS[0]) + 10)]
    return Case("over-the-size-limit", _csv(GOOD_HEADER, *rows),
                (f"the limit is {limit / 1024:.1f} KB; upload a sample",))
