"""Check a file too large to hold in memory and write its Parquet copy, piece by piece (no Django imports).

``ingest.parse_evaluation`` reads a whole upload; a file assembled from an upload's parts may be gigabytes. Here a
CSV is read in pieces of about ``BLOCK_BYTES`` cut at row ends (each parsed by Arrow's multi-threaded reader) and a
Parquet file in record batches (``ParquetFile.iter_batches``); each piece goes through ingest's own column checks
(labels, scores, timestamps, sensitive features, features) and is appended to the Parquet copy, so memory holds
about one piece whatever the row count. What only the whole file can tell (the set of labels, the groups of a
sensitive feature) is counted across pieces and judged at the end. Checking stops at the first piece with problems
(every problem of that piece is listed): the file is refused, and the caller deletes the partial copy. Whole numbers
are read as int64, so that one a float cannot hold exactly (beyond 2**53) is refused, as on the direct path, before
the copy stores every number as float64. Row numbers follow ingest's (CSV header is row 1; blank lines are skipped
and counted, before the header and between rows, ``_blank_lines``; a quoted value's line breaks are not, each row
counts as one). A problem Arrow finds while converting a piece (bytes that are not UTF-8, a value of another type
than the first piece's) is named by its column and row, and so is a quote still open at the end of the file. The
rows named for a repeated prediction id, read back from the copy, do not count blank lines between rows.

JSON Lines are read in pieces of about ``BLOCK_BYTES`` cut at the last line feed (a record never holds a raw line
feed). Each piece first gets ingest's byte checks of JSON Lines (NUL bytes, invalid UTF-8, line lengths, nesting,
keys per line, the file's distinct keys, counted across pieces, and lines that are not objects), so Arrow never sees
hostile bytes; then Arrow's JSON reader parses it with the first piece's types imposed (whole numbers stay int64
until a decimal appears, as for CSV). The label, sensitive, prediction-id and timestamp columns are left to
inference in every piece: ingest's column checks normalise them whatever their JSON type, as for a direct upload. A
value of another type than the first piece's, or a key the first piece does not have, is a problem named by its row.
JSON Lines row 1 is the first line; blank lines (spaces only included), which Arrow skips, are counted
(``_scan_json`` finds them while it scans the piece's bytes).

A CSV or JSON Lines file may come as a stream (``readinto``) read once from start to end: an upload's parts are
checked while they are hashed and copied (``uploads``). A JSON array (``[`` ...) does not stream and is refused.
"""

import bisect
import contextlib
import hashlib
import os
import queue
import re
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from apps.core.uncached import UncachedFile
from apps.monitoring import ingest
from apps.monitoring.ingest import IngestError, Problem
from apps.monitoring.labels import id_hashes
from apps.monitoring.metrics import MISSING_GROUP

# A CSV is read in pieces of this size (each parsed on all cores); memory holds the piece being checked, its Arrow
# table and its DataFrame (about 200 MB for 32 MB of numbers), the next one being read and parsed (``_ReadAhead``),
# and the copy of the previous one being written.
BLOCK_BYTES = 32 * 1024 * 1024
_LINE_FEED = re.compile(b"\n")  # searched in a memory view without copying it
_QUOTE = re.compile(b'"')
_WHOLE = re.compile(r"[+-]?\d+")
# Arrow's CSV conversion errors, read on one thread: the column's index, the record's number in the piece.
_CSV_ERROR = re.compile(r"In CSV column #(?P<column>\d+): (?:Row #(?P<row>\d+): )?CSV conversion error to "
                        r"(?P<type>[^:]+): invalid (?:value '(?P<value>.*)'|UTF8 data)", re.DOTALL)
NUL_BYTE = "holds a NUL byte: this is a binary file, not CSV"
UNCLOSED_TO_THE_END = (f"{ingest.UNCLOSED_QUOTE}: it runs to the end of the file; close it, and write a quote inside "
                       'a quoted value twice ("")')
NUL_BYTE_JSON = "holds a NUL byte: this is a binary file, not JSON Lines"
# Arrow's JSON reader parses a piece in blocks of this size (or twice the longest line allowed) on all cores.
JSON_BLOCK_BYTES = 1024 * 1024
MAX_PIECES = 4  # a row may span at most this many pieces (a value of up to ~128 MB) before it is refused
MAX_WARNINGS = 20
TEXT = pa.dictionary(pa.int32(), pa.string())
# Arrow's JSON errors name the column (a JSON pointer) and the row within the block read.
_JSON_ERROR = re.compile(r"(?:JSON parse error: )?(?:Column\((?P<column>.*)\) )?(?P<what>.*?)\.? in row (?P<row>\d+)$")
_NOT_PARSED = re.compile(r"Failed to convert JSON to (?P<type>.*), couldn't parse:(?P<value>.*)$", re.DOTALL)


@dataclass
class Streamed:
    """What a streamed check found: the same facts ``ParsedEvaluation`` gives, without the data."""

    file_format: str
    row_count: int = 0
    columns: list[str] = field(default_factory=list)
    feature_columns: tuple[str, ...] = ()
    score_column: str | None = None
    timestamp_column: str | None = None
    labels: tuple[str, ...] = ()
    probability_columns: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    period: tuple[datetime | None, datetime | None] = (None, None)
    labels_pending: bool = False  # a production file without its target: labels are joined to its ids later
    prediction_id_column: str | None = None
    parquet_sha256: str = ""  # of the Parquet copy, hashed as it was written (its content-addressed name)


class _HashedFile:
    """The Parquet copy's file, hashed as Arrow writes it (on the writer's thread), so naming the copy by its
    SHA-256 needs no second read of it once the check ends."""

    closed = False

    def __init__(self, path: str):
        self.handle, self.digest, self.size = UncachedFile(path), hashlib.sha256(), 0

    def write(self, data) -> int:
        self.digest.update(data)
        written = self.handle.write(data)
        self.size += written
        return written

    def flush(self) -> None:
        pass

    def tell(self) -> int:
        return self.size

    def close(self) -> None:
        self.handle.close()
        self.closed = True


class _ReadAhead:
    """The batches of ``items`` (a generator), each read and parsed on a thread while the caller checks the one
    before: Arrow's parsing and the caller's pandas checks overlap instead of taking turns (measured on two cores
    at 1M rows: 2.55 s to be checked one piece after the other, 1.6 s so). At most one batch is read ahead of the
    one the caller holds. An error while reading is raised to the caller where its batch would have come; ``close``
    stops the reading (the caller refused the file) and waits for the thread, so the source is free again."""

    def __init__(self, items: Iterator):
        self._items, self._queue = items, queue.SimpleQueue()
        self._slots, self._stop = threading.Semaphore(2), threading.Event()
        self._thread = threading.Thread(target=self._read, name="csv-read-ahead", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while True:
                self._slots.acquire()
                if self._stop.is_set():
                    return
                try:
                    item = next(self._items)
                except StopIteration:
                    self._queue.put((False, None))
                    return
                self._queue.put((True, item))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, which raises it
            self._queue.put((False, exc))
        finally:
            self._items.close()

    def __iter__(self) -> Iterator:
        while True:
            ok, item = self._queue.get()
            if not ok:
                if item is not None:
                    raise item
                return
            yield item
            self._slots.release()  # the caller is done with this one: read the one after next

    def close(self) -> None:
        self._stop.set()
        self._slots.release()
        self._thread.join()


def sniff_format(head: bytes) -> str:
    """The format of a file from its first bytes (``ingest.SNIFF_BYTES`` of them): "csv", "jsonl" or "parquet", or
    the reason it is none of them (an ``IngestError``)."""
    if head.startswith(b"PAR1"):
        return "parquet"
    for magic, name in ingest.COMPRESSED_MAGIC.items():
        if head.startswith(magic):
            raise IngestError([Problem(None, (), f"the file is compressed ({name}); upload it uncompressed")])
    body = head.removeprefix(ingest.UTF8_BOM).lstrip()
    if not body:
        raise IngestError([Problem(None, (), "the file is empty")])
    if body[:1] == b"{":
        return "jsonl"
    if body[:1] == b"[":
        raise IngestError([Problem(None, (), "large files are read as they stream, which CSV and Parquet allow "
                                             "and JSON is not; upload this file as CSV or Parquet")])
    return "csv"


def _head(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(ingest.SNIFF_BYTES)


def _batches(source, file_format: str, text_columns: Sequence[str], block_bytes: int, id_column: str | None,
             max_value_bytes: int, timestamp_column: str | None = None,
             max_chunk_bytes: int = ingest.Limits.max_decoded_bytes) -> Iterator[tuple[ingest._RowNumbers, pa.Table]]:
    """(the row numbers of its rows, its rows) in file order; ``source`` is a path, or the binary stream of a CSV
    or JSON Lines file, or a seekable binary file of a Parquet file."""
    if file_format == "parquet":
        yield from _parquet_tables(source, block_bytes, max_value_bytes, max_chunk_bytes)
        return
    if file_format == "jsonl":
        free = {*text_columns, id_column, timestamp_column} - {None}
        read = partial(_json_tables, text_columns=text_columns, free_columns=free, block_bytes=block_bytes,
                       max_line_bytes=max_value_bytes)
    else:
        read = partial(_csv_tables, text_columns=text_columns, block_bytes=block_bytes, id_column=id_column,
                       max_value_bytes=max_value_bytes)
    if not isinstance(source, str):
        yield from read(source)
        return
    with open(source, "rb", buffering=0) as handle:
        yield from read(handle)


def _parquet_tables(path, block_bytes: int, max_value_bytes: int,
                    max_chunk_bytes: int) -> Iterator[tuple[ingest._RowNumbers, pa.Table]]:
    """The Parquet file in record batches, once its footer passed ``ingest.parquet_footer_problems`` (nothing is
    decoded before: a decompression bomb, a row group over ``max_chunk_bytes`` decoded, binary, nested or unnamed
    columns are refused from the footer). Decimals are read as float64; a text value over ``max_value_bytes`` is
    a problem named by its column and row."""
    try:
        parquet = pq.ParquetFile(path)
        meta, schema = parquet.metadata, parquet.schema_arrow
    except (pa.ArrowException, OSError) as error:
        raise IngestError([Problem(None, (), f"the Parquet file cannot be read: {error}")]) from error
    with parquet:
        problems = ingest.parquet_footer_problems(meta, schema, size=_size(path),
                                                  max_chunk_bytes=max_chunk_bytes)
        if problems:
            raise IngestError(problems)
        first = 1
        try:
            for batch in parquet.iter_batches(batch_size=max(1, block_bytes // 64)):
                table = ingest.decimals_as_floats(pa.Table.from_batches([batch]))
                if _longest_text(table) > max_value_bytes:
                    ingest._check_value_sizes(table, ingest._RowNumbers(first), max_value_bytes)
                yield ingest._RowNumbers(first), table
                first += batch.num_rows
        except (pa.ArrowException, OSError) as error:  # a page the footer did not describe truthfully
            raise IngestError([Problem(None, (), f"after row {first - 1:,}: the Parquet file cannot be read: "
                                                 f"{error}")]) from error


def _size(source) -> int:
    """The size in bytes of a file named by its path, or open and seekable (left where it was)."""
    if isinstance(source, str | os.PathLike):
        return os.path.getsize(source)
    here = source.tell()
    try:
        return source.seek(0, os.SEEK_END)
    finally:
        source.seek(here)


def _csv_tables(handle, text_columns: Sequence[str], block_bytes: int, id_column: str | None,
                max_value_bytes: int) -> Iterator[tuple[ingest._RowNumbers, pa.Table]]:
    """The CSV in pieces of about ``block_bytes``, each cut at a line end outside quotes and read by Arrow's
    multi-threaded reader (``ingest._arrow_csv``, as for a direct upload). Arrow's streaming reader converts on
    one thread: measured on two cores, it took 2 s for a 200 MB file that the threaded reader reads in 0.6 s.

    The types found in the first piece are imposed on the others (columns with no value in the first piece left
    to inference), as Arrow's streaming reader would do; a column of whole numbers becomes float64 from the piece
    where a decimal appears (``_csv_piece``).
    """
    first, column_types, names, delimiter = 2, {}, [], ","

    def quote_left_open(row: bytes) -> bool:  # the delimiter is the header's once it is read
        return ingest.unclosed_quote_line(row, 0, delimiter) is not None

    def row_end_as_read(buffer: bytearray, size: int) -> int | None:
        return _row_end_as_read(buffer, size, delimiter)

    pieces, answer, unclosed = _pieces(handle, block_bytes, quote_left_open=quote_left_open,
                                       row_end_as_read=row_end_as_read), None, None
    try:
        while True:
            try:
                piece, nul = pieces.send(answer)
            except StopIteration:
                break
            answer, piece_first, header_piece = None, first, not names
            if not names:
                # Blank lines before the header are skipped and counted, as ingest does with a whole file.
                start = ingest._first_content_byte(piece, 0)
                first += bytes(piece[:start]).count(b"\n")
                piece, nul = piece[start:], nul - start if nul >= 0 else nul
                if not len(piece):
                    continue
                line_end = _LINE_FEED.search(piece)
                if 0 <= nul < (line_end.end() if line_end else len(piece)):
                    raise IngestError([Problem(None, (first - 1,), NUL_BYTE)])
                names, delimiter, body = ingest._csv_header(
                    bytes(piece[:line_end.end() + ingest.SNIFF_BYTES] if line_end else piece), 0)
                column_types = {name: TEXT for name in text_columns if name in names}
                if id_column in names:
                    column_types[id_column] = pa.string()  # unique values: a dictionary would be as long as the column
                piece, nul = piece[body:], nul - body if nul >= 0 else nul
                if not len(piece):
                    continue
            try:
                rows, table, records = _csv_piece(piece, nul, names, delimiter, column_types, first,
                                                  max_value_bytes)
            except _CutInQuotes as cut:  # the piece again, cut where a CSV reader ends a row (``_pieces``)
                answer, unclosed = RECUT, first + cut.row
                if header_piece:
                    names, first = [], piece_first
                continue
            unclosed = None  # read: its cut was not inside a quoted value
            if header_piece:
                # Whole numbers stay int64 (a later piece with decimals widens them), so that a number a float
                # cannot hold is seen and refused rather than rounded as Arrow parses it.
                column_types = {f.name: f.type for f in table.schema if not pa.types.is_null(f.type)}
            if table.num_rows:
                yield rows, table
            first += records
    except _Unfinished as exc:  # the row starting at ``first`` (the header when there are no names yet)
        raise IngestError([Problem(None, (unclosed or (first if names else first - 1),), exc.message)]) from None
    finally:
        pieces.close()
    if not names:
        raise IngestError([Problem(None, (), "the file is empty")])


class _CutInQuotes(Exception):  # noqa: N818 - not an error: a piece to cut again
    """Arrow read a piece whose end is inside a quoted value (``_csv_piece``); ``row``: the piece's row (0 for its
    first) holding that value."""

    def __init__(self, row: int):
        super().__init__(row)
        self.row = row


# Sent back to ``_pieces`` for a piece cut inside a quoted value: it is offered again, cut where a reader ends a row.
RECUT = "recut"


class _Unfinished(Exception):  # noqa: N818 - not an error of the code: a row of the file that never ends
    """A row that does not end: longer than ``MAX_PIECES`` blocks, or, in a CSV, with a quote still open at the end
    of the file. Raised by ``_pieces`` where the row's piece would come; the reader names the row."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _pieces(handle, block_bytes: int, row_end=None, quote_left_open: Callable[[bytes], bool] | None = None,
            row_end_as_read=None) -> Iterator[tuple[memoryview, int]]:
    """The file in pieces of about ``block_bytes``, each ending at a row end (the first starts with the header,
    without a byte-order mark), read into one reused buffer: a piece is valid until the next is asked for.
    Each comes with the offset of its first NUL byte, or -1 (``bytearray.find`` is memchr; a memory view has
    no ``find``). ``row_end(buffer, size)`` finds where the last complete row ends: a CSV's last line feed outside
    quotes by default. A row longer than ``MAX_PIECES`` blocks raises ``_Unfinished``, and so does a quote still
    open at the end of the file (``quote_left_open(last_row)``, asked when the last piece holds an odd number of
    quotes), once the rows before it have come: Arrow would read the rest of the file as one value, and the rows
    in it would be lost without a word.

    ``row_end_as_read(buffer, size)``, a CSV reader's row end (``_row_end_as_read``), is asked when a full buffer
    holds no row end by ``row_end``, before the buffer grows, and when the consumer sends ``RECUT`` for the piece
    it was given (it was cut inside a quoted value): that piece is offered again, cut there, or, when no row ends in
    the buffer, once more bytes are read. Both follow a quote inside an unquoted value (``27" screen``), after
    which the count of quotes is wrong. ``RECUT`` for the last piece raises ``_Unfinished``: a quote never closed."""
    row_end = row_end or _last_row_end
    as_read = False  # the last piece offered was cut inside a quoted value: cut where a reader ends a row
    buffer, size = bytearray(block_bytes), 0
    head = handle.read(len(ingest.UTF8_BOM))
    if head != ingest.UTF8_BOM:
        buffer[:len(head)], size = head, len(head)
    while True:
        if size == len(buffer):  # one row fills the buffer: grow it (a new one, since pieces may still be viewed)
            if size >= MAX_PIECES * block_bytes:
                raise _Unfinished(_too_long(size, quote_left_open is not None))
            buffer = buffer[:size] + bytearray(block_bytes)
        read = _fill(handle, memoryview(buffer)[size:])
        if not read:
            break
        size += read
        cut = row_end_as_read(buffer, size) if as_read else row_end(buffer, size)
        if cut is None and size == len(buffer) and row_end_as_read is not None and not as_read:
            cut = row_end_as_read(buffer, size)
        while cut is not None:
            if (yield memoryview(buffer)[:cut], buffer.find(b"\x00", 0, cut)) != RECUT:
                buffer[:size - cut] = buffer[cut:size]
                size, as_read, cut = size - cut, False, None
            elif as_read or row_end_as_read is None:  # a reader's own row end: the quote is never closed
                raise _Unfinished(UNCLOSED_TO_THE_END)
            else:
                as_read, cut = True, row_end_as_read(buffer, size)
    if size and quote_left_open is not None and buffer.count(b'"', 0, size) % 2:
        # the complete rows before the one whose quote stays open
        cut = (row_end_as_read(buffer, size) if row_end_as_read is not None else _last_row_end(buffer, size)) or 0
        if quote_left_open(bytes(buffer[cut:size])):
            if cut:
                yield memoryview(buffer)[:cut], buffer.find(b"\x00", 0, cut)
            raise _Unfinished(UNCLOSED_TO_THE_END)
    if size and (yield memoryview(buffer)[:size], buffer.find(b"\x00", 0, size)) == RECUT:
        raise _Unfinished(UNCLOSED_TO_THE_END)


def _row_end_as_read(buffer: bytearray, size: int, delimiter: str) -> int | None:
    """The offset just after the last complete row of ``buffer[:size]`` (which starts at a row's start) as a CSV
    reader finds it, or None: a quote opens a quoted value only at a value's start, so ``27" screen`` is text, for
    Python's reader as for Arrow's. ``_last_row_end`` counts quotes instead, which is exact for a file quoted by the
    rules and fast, but past a quote inside an unquoted value it finds no row end in the rest of the piece: the
    piece would grow until the file is refused, though a whole read accepts it. Python's reader is slower (about
    half a second per 32 MB piece) and only asked then. The last row read may be cut short by the buffer's end: the
    rows before it are the complete ones."""
    read = ingest.rows_as_read(bytes(buffer[:size]), delimiter)
    # Stopped by an error: the rows before are whole, and Arrow's read of the piece names what stopped it.
    cut = read.end if not read.whole else int(read.starts[-1]) if len(read.starts) else 0
    return cut or None


def _too_long(size: int, csv: bool) -> str:
    shown = f"{size / 2**20:,.0f} MB" if size >= 2**20 else f"{size:,} bytes"
    limit = f"the row is longer than {shown}, the longest row a large file may have"
    if csv:
        return (f"{limit}: a quote that is never closed makes the rest of the file one value (close it, and write "
                'a quote inside a quoted value twice, ""); otherwise shorten the row\'s values or split its columns '
                "into two files")
    return f"{limit}: a JSON Lines file holds one record per line; check that each record ends with a line feed"


def _fill(handle, view: memoryview) -> int:
    """Read into all of ``view`` (a stream may answer fewer bytes than asked); the bytes read, 0 at the end."""
    filled = 0
    while filled < len(view) and (read := handle.readinto(view[filled:])):
        filled += read
    return filled


def _last_row_end(buffer: bytearray, size: int) -> int | None:
    """The offset just after the last line feed of ``buffer[:size]`` that is outside quotes, or None.

    The buffer starts at a row's start, so a line feed is outside quotes when an even number of quote characters
    precede it (RFC 4180 doubles a quote inside a quoted value, which keeps the parity). Walking back from the end
    subtracts the quotes after each candidate: linear in the buffer whatever the number of quoted line feeds.
    """
    quotes, end = buffer.count(b'"', 0, size), size
    while (line_feed := buffer.rfind(b"\n", 0, end)) >= 0:
        quotes -= buffer.count(b'"', line_feed, end)
        if quotes % 2 == 0:
            return line_feed + 1
        end = line_feed
    return None


def _csv_piece(piece: memoryview, nul: int, names: list[str], delimiter: str, column_types: dict, first: int,
               max_value_bytes: int) -> tuple[ingest._RowNumbers, pa.Table, int]:
    """One piece through Arrow: (the row numbers of its rows, its rows without blank lines, the lines it held, blank
    ones included: ``_blank_lines``). A NUL byte (at offset ``nul``, -1 for none), a row with another number of values
    than the header, a value of another type than the first piece's, bytes that are not UTF-8, or a text value
    over ``max_value_bytes`` is a problem named by its column and row. A column of whole numbers in which a decimal
    appears becomes float64 in ``column_types`` (for the pieces after this one too).

    A piece with a quote may hold a line feed inside a quoted value: Arrow is told so, or its threads would cut
    such a value in two. Its threads then find their blocks' ends by reading every block twice: on two cores, a
    quoted 200 MB file took 1.35-1.4 s of CPU so against 1.05-1.1 s read on one thread, and the CPU is what the
    streamed check lacks there (it parses the next piece while the current one is checked, written and counted,
    beside the web process). Such a piece is read on one thread unless the worker has more cores
    (``_parse_on_threads``). A piece that ends inside a quoted value raises ``_CutInQuotes`` (``_recut_if_open``):
    the caller asks for it again, cut where a CSV reader ends a row."""
    if nul >= 0:
        raise IngestError([Problem(None, (first + bytes(piece[:nul]).count(b"\n"),), NUL_BYTE)])
    quoted = _QUOTE.search(piece) is not None
    one_thread = quoted and not _parse_on_threads()
    if one_thread and (table := _csv_halves(piece, names, delimiter, column_types)) is not None:
        _recut_if_open(piece, delimiter, table)
        return _checked_piece(table, piece, names, delimiter, column_types, first, max_value_bytes)
    while True:
        try:
            table, invalid = ingest._arrow_csv(piece, names, delimiter, column_types, careful=one_thread,
                                               quoted_line_breaks=quoted, blank_lines_as_rows=True)
            break
        except pa.ArrowInvalid as exc:
            if not _widened(str(exc), names, column_types):
                _recut_if_open(piece, delimiter)
                raise IngestError([_conversion_problem(piece, names, delimiter, column_types, first, exc)]) from exc
    _recut_if_open(piece, delimiter, None if invalid else table)
    if invalid and not one_thread:
        # Arrow numbers rows only when it reads on one thread: read the piece again that way to name them.
        table, invalid = ingest._arrow_csv(piece, names, delimiter, column_types, careful=True,
                                           blank_lines_as_rows=True)
    if invalid:
        numbers = tuple(first + row.number - 1 for row in invalid[:ingest.MAX_LISTED_ROWS])
        counts = sorted({row.actual_columns for row in invalid})
        message = (f"has {' or '.join(map(str, counts))} values where the header has {len(names)} columns "
                   f"(delimiter {delimiter!r}; quote values that contain it)")
        raise IngestError([Problem(None, numbers, message + (f" (in {len(invalid)} rows)"
                                                              if len(invalid) > ingest.MAX_LISTED_ROWS else ""))])
    return _checked_piece(table, piece, names, delimiter, column_types, first, max_value_bytes)


def _checked_piece(table: pa.Table, piece: memoryview, names: list[str], delimiter: str, column_types: dict,
                   first: int, max_value_bytes: int) -> tuple[ingest._RowNumbers, pa.Table, int]:
    undecoded = {f.name: pa.string() for f in table.schema if ingest._is_binary(f.type)}
    if undecoded:  # Arrow keeps a column whose bytes are not UTF-8 as binary: read it as text to name the row
        raise IngestError([_conversion_problem(piece, names, delimiter, {**column_types, **undecoded}, first)])
    records = table.num_rows
    rows, table = _blank_lines(table, piece, first, names, delimiter, column_types)
    if _longest_text(table) > max_value_bytes:
        ingest._check_value_sizes(table, rows, max_value_bytes)  # names the rows
    return rows, table, records


def _blank_lines(table: pa.Table, piece: memoryview, first: int, names: list[str], delimiter: str,
                 column_types: dict) -> tuple[ingest._RowNumbers, pa.Table]:
    """The piece's rows without its blank lines, which Arrow read as rows with every value missing
    (``blank_lines_as_rows``, so that its row numbers count them), and the row numbers of the rows kept.

    A blank line is missing in every column, so a piece with a column that misses no value has none: nothing to do,
    which is every piece of most files. Otherwise the rows missing every value are looked up in the piece's bytes:
    blank lines are dropped, and a row of empty values (``,,,``) stays, as on the direct path. Where each row starts
    is found by Python's reader (``_row_starts``); should its rows not be Arrow's, the piece is read again with
    blank lines skipped, and the rows after a blank line are numbered without it."""
    if not table.num_rows or any(column.null_count == 0 for column in table.columns):
        return ingest._RowNumbers(first), table
    missing = np.ones(table.num_rows, dtype=bool)
    for column in table.columns:
        missing &= column.is_null().to_numpy(zero_copy_only=False)
    if not missing.any():
        return ingest._RowNumbers(first), table
    raw = np.frombuffer(piece, np.uint8)
    starts = _row_starts(bytes(piece), delimiter)
    if len(starts) != table.num_rows:
        table, _ = ingest._arrow_csv(piece, names, delimiter, column_types, careful=True)
        return ingest._RowNumbers(first), table
    candidates = np.flatnonzero(missing)
    blank = candidates[np.isin(raw[starts[candidates]], (10, 13))]
    if not len(blank):
        return ingest._RowNumbers(first), table
    kept = np.ones(table.num_rows, dtype=bool)
    kept[blank] = False
    return ingest._RowNumbers(first, lines=first + np.flatnonzero(kept)), table.filter(pa.array(kept))


def _row_starts(data: bytes, delimiter: str) -> np.ndarray:
    """The offset where each row of ``data`` (from a row's start) starts, blank lines included, as Python's CSV
    reader reads the rows (a quote inside an unquoted value is text: counting quotes would misplace the rows after
    it); about half a second per 32 MB, asked only of a piece with rows missing every value."""
    read = ingest.rows_as_read(data, delimiter)
    return read.starts if read.whole else np.zeros(0, np.int64)  # none: the caller reads the piece again


# A quoted piece at least this long is read in two halves at once (``_csv_halves``).
HALVES_MIN_BYTES = 256 * 1024
_SEARCH_BACK = 1 << 16  # how far before a piece's middle a row end outside quotes is looked for


def _csv_halves(piece: memoryview, names: list[str], delimiter: str, column_types: dict) -> pa.Table | None:
    """A quoted piece read in two halves at once, each on one thread as Arrow reads quoted line breaks (the piece
    cut at a line feed outside quotes near its middle): the CPU of one thread, the time of two. None when the
    piece is short, has no such line feed in the ``_SEARCH_BACK`` bytes before its middle, or either half is not
    read cleanly or not with the same types (a column inferred in each half): the caller reads it whole, which
    names the problem."""
    if len(piece) < HALVES_MIN_BYTES:
        return None
    cut = _middle_row_end(np.frombuffer(piece, np.uint8))
    if cut is None:
        return None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-half") as other:
        second = other.submit(ingest._arrow_csv, piece[cut:], names, delimiter, column_types, careful=True,
                              blank_lines_as_rows=True)
        try:
            head, invalid = ingest._arrow_csv(piece[:cut], names, delimiter, column_types, careful=True,
                                              blank_lines_as_rows=True)
        except pa.ArrowInvalid:
            head, invalid = None, True
        try:
            tail, tail_invalid = second.result()
        except pa.ArrowInvalid:
            return None
    if invalid or tail_invalid or head.schema != tail.schema or _ends_in_line_break(head):
        return None
    return pa.concat_tables([head, tail])


def _recut_if_open(piece: memoryview, delimiter: str, table: pa.Table | None = None) -> None:
    """Raise ``_CutInQuotes`` if the piece ends inside a quoted value, as a CSV reader reads it: asked when Arrow
    read it with a problem (``table`` None) or with a last value ending in a line break (``_ends_in_line_break``),
    the marks of such a cut; a reader's pass over the piece (about half a second per 32 MB) decides."""
    if table is not None and not _ends_in_line_break(table):
        return
    if (found := ingest.unclosed_quote(bytes(piece), 0, delimiter)) is not None:
        raise _CutInQuotes(found[1])


def _ends_in_line_break(table: pa.Table) -> bool:
    """Whether the last value of ``table`` is text ending in a line break: what Arrow reads when the data it was
    given ends inside a quoted value (the value runs to the end, the line feed included). Pieces and halves are cut
    where the quotes before number even, which is inside a quoted value if a quote inside an unquoted value
    (``27" screen``) came before: the rows after the cut would be read from the middle of the value."""
    if not table.num_rows or not table.num_columns:
        return False
    last = table.column(table.num_columns - 1)[table.num_rows - 1].as_py()
    return isinstance(last, str) and last.endswith(("\n", "\r"))


def _middle_row_end(raw: np.ndarray) -> int | None:
    """The offset just after the last line feed outside quotes in the ``_SEARCH_BACK`` bytes before the middle of
    ``raw`` (a piece starting at a row's start: outside quotes, an even number of quotes precede it), or None."""
    middle = len(raw) // 2
    start = max(middle - _SEARCH_BACK, 0)
    quotes = int(np.count_nonzero(raw[:start] == ord('"')))
    window = raw[start:middle]
    feeds = np.flatnonzero(window == ord("\n"))
    before = quotes + np.cumsum(window == ord('"'))  # quotes up to and including each byte of the window
    outside = feeds[(before[feeds] % 2) == 0]
    return int(start + outside[-1] + 1) if len(outside) else None


def _parse_on_threads() -> bool:
    """Whether a quoted piece is read by Arrow's threads: with more than two cores for this process (fewer CPU
    seconds on one thread, less time on several; see ``_csv_piece``)."""
    return len(os.sched_getaffinity(0)) > 2


def _widened(message: str, names: list[str], column_types: dict) -> bool:
    """Whether Arrow's error is a decimal in a column of whole numbers, now read as float64 (``column_types``)."""
    found = _CSV_ERROR.search(message)
    if not found or found["type"] != "int64" or found["value"] is None or int(found["column"]) >= len(names):
        return False
    value = found["value"].strip()
    if _WHOLE.fullmatch(value) or not _is_number(value):  # beyond int64 (a float would round it), or not a number
        return False
    column_types[names[int(found["column"])]] = pa.float64()
    return True


def _conversion_problem(piece: memoryview, names: list[str], delimiter: str, column_types: dict, first: int,
                        error: pa.ArrowInvalid | None = None) -> Problem:
    """Arrow's conversion error on a piece as a problem named by its column and row: the piece is read again on
    one thread, whose error numbers the row (``Row #3``: the piece's third record)."""
    try:
        ingest._arrow_csv(piece, names, delimiter, column_types, careful=True, blank_lines_as_rows=True)
    except pa.ArrowInvalid as exc:
        error = exc
    found = _CSV_ERROR.search(str(error)) if error is not None else None
    if not found or not found["row"] or int(found["column"]) >= len(names):
        return Problem(None, (), f"after row {first - 1:,}: {error}")
    column, rows, kind = names[int(found["column"])], (first + int(found["row"]) - 1,), found["type"]
    if found["value"] is None or "\ufffd" in found["value"]:  # Arrow shows bytes it cannot decode as U+FFFD
        return Problem(column, rows, "holds bytes that are not UTF-8; save the file as UTF-8")
    if kind == "int64" and _WHOLE.fullmatch(found["value"].strip()):
        return Problem(column, rows, ingest.inexact_integer(found["value"].strip()))
    value = ingest._quoted(found["value"])
    if kind in ("double", "int64", "float"):
        return Problem(column, rows, f"value {value} is not a number, and the file's first rows hold numbers in "
                                     "this column; a large file is checked in pieces whose column types are those "
                                     "of its first piece")
    return Problem(column, rows, f"value {value} cannot be read as {kind}, as this column's values in the file's "
                                 "first rows were")


def _longest_text(table: pa.Table) -> int:
    """The length in bytes of the longest text value (of a dictionary column: of its dictionaries)."""
    longest = 0
    for column in table.columns:
        for chunk in column.chunks:
            values = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk
            if ingest._is_text(values.type) and len(values):
                longest = max(longest, pc.max(pc.binary_length(values)).as_py() or 0)
    return longest


def _last_line_end(buffer: bytearray, size: int) -> int | None:
    """The offset just after the last line feed of ``buffer[:size]``, or None: a JSON Lines record never holds a
    raw line feed (JSON escapes it inside strings), so every line feed ends a row."""
    line_feed = buffer.rfind(b"\n", 0, size)
    return line_feed + 1 if line_feed >= 0 else None


def _json_tables(handle, *, text_columns: Sequence[str], free_columns: set[str], block_bytes: int,
                 max_line_bytes: int) -> Iterator[tuple[ingest._RowNumbers, pa.Table]]:
    """The JSON Lines file in pieces of about ``block_bytes`` cut at line ends, each scanned byte by byte
    (``_scan_json``) before Arrow's JSON reader parses it (on all cores, in blocks that hold the longest line).

    The types found in the first piece are imposed on the others (columns with no value in the first piece left to
    inference; whole numbers become float64 from the piece where a decimal appears), but for ``free_columns``
    (labels, sensitive features, prediction ids, the timestamp): those are inferred in every piece, since the column
    checks normalise them from any JSON type (``1`` and ``"1"`` are one label), as for a direct upload. Text labels
    and groups are dictionary-encoded, as the CSV reader reads them.
    """
    first, names, schema, keys, layouts = 1, [], None, set(), set()
    block_size = max(JSON_BLOCK_BYTES, 2 * max_line_bytes)  # Arrow refuses a record longer than its block
    try:
        for piece, nul in _pieces(handle, block_bytes, _last_line_end):
            lines, numbers = _scan_json(piece, nul, first, keys, layouts, max_line_bytes)
            rows = ingest._RowNumbers(first, lines=numbers)
            table, schema = _json_piece(piece, rows, schema, block_size)
            if not table.num_rows:  # blank lines only
                first += lines
                continue
            if schema is None:
                names = table.column_names
                schema = pa.schema([f for f in table.schema
                                    if f.name not in free_columns and not pa.types.is_null(f.type)])
            else:
                table = _fitted(table, names, rows)
            yield rows, _text_as_dictionary(table, text_columns)
            first += lines
    except _Unfinished as exc:
        raise IngestError([Problem(None, (first,), exc.message)]) from None
    if schema is None:
        raise IngestError([Problem(None, (), "the file is empty")])


def _scan_json(piece: memoryview, nul: int, first: int, keys: set, layouts: set,
               max_line_bytes: int) -> tuple[int, np.ndarray | None]:
    """Ingest's byte checks of JSON Lines on one piece, before any parser sees it: a NUL byte (at offset ``nul``,
    -1 for none), invalid UTF-8, a line over ``max_line_bytes``, then nesting and keys per line
    (``ingest._scan_json_piece``; ``keys`` and ``layouts`` are kept across pieces, so the distinct keys are
    counted over the whole file), and a line that is not an object (``ingest._non_object_line``). The piece is
    scanned in parts of about ``ingest.SCAN_BYTES`` cut at line ends, which keeps the scan's arrays small.
    Answers the number of line feeds in the piece, and, when it has blank lines (which Arrow skips), the number of
    every line that is not blank, for the rows' numbers; None when it has none."""
    if nul >= 0:
        raise IngestError([Problem(None, (first + bytes(piece[:nul]).count(b"\n"),), NUL_BYTE_JSON)])
    position, row, solid, blank = 0, first, [], False
    while position < len(piece):
        line_feed = _LINE_FEED.search(piece, min(position + ingest.SCAN_BYTES, len(piece)) - 1)
        stop = line_feed.end() if line_feed else len(piece)
        data = bytes(piece[position:stop])
        _check_json_text(data, row, max_line_bytes)
        ingest._scan_json_piece(data, 0, len(data), row, keys, layouts)
        leads = ingest.line_leads(data, 0, len(data))
        wrong = np.flatnonzero((leads != ord("{")) & (leads != ord("\n")))
        if len(wrong):  # Arrow's reader must not see it (``ingest._non_object_line``)
            raise IngestError([Problem(None, (row + int(wrong[0]),), "each line must be one JSON object ({...})")])
        objects = leads == ord("{")
        blank = blank or not objects.all()
        solid.append(row + np.flatnonzero(objects))
        row += data.count(b"\n")
        position = stop
    return row - first, np.concatenate(solid) if blank and solid else None


def _check_json_text(data: bytes, first: int, max_line_bytes: int) -> None:
    """Invalid UTF-8, or a line longer than ``max_line_bytes``, in ``data`` (whole lines; the first is row
    ``first``): the checks ``ingest._check_text`` and ``ingest._check_line_lengths`` make on a whole upload."""
    offset = ingest._utf8_error_offset(data, 0)
    if offset is not None:
        raise IngestError([Problem(None, (first + data.count(b"\n", 0, offset),),
                                   f"the file is not UTF-8: byte 0x{data[offset]:02X} cannot be decoded; save the "
                                   "file as UTF-8")])
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == ord("\n"))
    lengths = np.diff(ends, prepend=-1, append=len(data)) - 1  # of every line, the last one without its line feed
    long = np.flatnonzero(lengths > max_line_bytes)
    if len(long):
        raise IngestError([Problem(None, (first + int(long[0]),),
                                   f"the line is {ingest._mb(int(lengths[long[0]]))} long; lines longer than "
                                   f"{ingest._mb(max_line_bytes)} are not accepted (PORTAL_MAX_LINE_KB); a JSON "
                                   "Lines file holds one record per line")])


def _json_piece(piece: memoryview, rows: ingest._RowNumbers, schema: pa.Schema | None,
                block_size: int) -> tuple[pa.Table, pa.Schema | None]:
    """One piece through Arrow's JSON reader with ``schema`` imposed (None: every type inferred), and the schema for
    the pieces after it: a decimal in a column of whole numbers makes those columns float64 (Arrow's error does not
    say which one). Invalid JSON or a value of another type than the column's is a problem named by its row and
    column."""
    while True:
        try:
            return _arrow_json(piece, schema, block_size), schema
        except pa.ArrowInvalid as exc:
            error = exc
        found = _NOT_PARSED.match(str(error))
        if not found or found["type"] != "int64" or _WHOLE.fullmatch(found["value"].strip()) or not _is_number(
                found["value"]):
            break
        schema = pa.schema([pa.field(f.name, pa.float64()) if f.type == pa.int64() else f for f in schema])
    try:  # Arrow numbers rows within one of its blocks: read as one block, the piece names the row in the file
        _arrow_json(piece, schema, len(piece) + 1)
    except pa.ArrowInvalid as exc:
        error = exc
    raise IngestError([_json_problem(str(error), piece, rows, schema)]) from error


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _arrow_json(piece: memoryview, schema: pa.Schema | None, block_size: int) -> pa.Table:
    return pa_json.read_json(pa.BufferReader(piece), read_options=pa_json.ReadOptions(block_size=block_size),
                             parse_options=pa_json.ParseOptions(explicit_schema=schema,
                                                                unexpected_field_behavior="infer"))


def _json_problem(message: str, piece: memoryview, rows: ingest._RowNumbers, schema: pa.Schema | None) -> Problem:
    """Arrow's JSON error as a problem: its column (a JSON pointer, ``/name``) and its row when it names them
    (Arrow's number counts the rows it read: blank lines are not among them)."""
    first = rows.first
    if found := _JSON_ERROR.match(message):
        pointer, what, row = found["column"], found["what"], rows.numbers(np.array([int(found["row"])]))
        column = pointer[1:].replace("~1", "/").replace("~0", "~") if pointer else None
        if pointer == "":
            return Problem(None, row, "each line must be one JSON object ({...})")
        if changed := re.fullmatch(r"changed from (\w+) to (\w+)", what):
            return Problem(column, row, f"a {changed[2]} where the rows before hold a {changed[1]}; every value "
                                        "of a column has one type")
        return Problem(column, row, f"invalid JSON: {what}")
    if found := _NOT_PARSED.match(message):  # a value the first piece's type (a date/time, int64) does not read
        value = found["value"]
        columns = [f.name for f in schema or () if str(f.type) == found["type"]]
        at = re.search(re.escape(value.encode()), piece)
        lines = (first + bytes(piece[:at.start()]).count(b"\n"),) if at else ()  # blank lines counted
        if found["type"] == "int64" and _WHOLE.fullmatch(value.strip()):
            return Problem(columns[0] if len(columns) == 1 else None, lines, ingest.inexact_integer(value.strip()))
        return Problem(columns[0] if len(columns) == 1 else None, lines,
                       f"value {ingest._quoted(value)} cannot be read as {found['type']}, as this column's values "
                       "in the file's first rows were")
    return Problem(None, (), f"after row {first - 1:,}: {message}")


def _fitted(table: pa.Table, names: list[str], rows: ingest._RowNumbers) -> pa.Table:
    """A later piece's table with the first piece's columns, in their order (a key absent from the piece: a column
    of nulls). A key the first piece does not have is a problem: the Parquet copy has no room for a new column."""
    new = [name for name in table.column_names if name not in names]
    if new:
        raise IngestError([_new_key(table.column(name), name, rows) for name in new[:ingest.MAX_LISTED_ROWS]])
    for name in names:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows))
    return table.select(names)


def _new_key(column: pa.ChunkedArray, name: str, rows: ingest._RowNumbers) -> Problem:
    """A key new in the piece whose rows are numbered ``rows``, named by the first row giving it a value."""
    valid = np.flatnonzero(column.is_valid().to_numpy(zero_copy_only=False))
    return Problem(name, rows.numbers(valid[:1]),
                   "is a key the file's first rows do not have; a large JSON Lines file is checked in pieces "
                   "whose columns are those of its first piece: give every key in the first rows (null where "
                   "there is no value)")


def _text_as_dictionary(table: pa.Table, text_columns: Sequence[str]) -> pa.Table:
    for name in text_columns:
        if name in table.column_names and ingest._is_text(table.schema.field(name).type):
            table = table.set_column(table.column_names.index(name), name, pc.dictionary_encode(table.column(name)))
    return table


@dataclass
class _Totals:
    """What the whole file must satisfy, counted batch by batch."""

    labels: Counter = field(default_factory=Counter)
    groups: dict[str, Counter] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    first_stamp: pd.Timestamp | None = None
    last_stamp: pd.Timestamp | None = None
    ids: "_IdHashes" = field(default_factory=lambda: _IdHashes())  # given a scratch folder by check_and_convert

    def warn(self, messages: Sequence[str]) -> None:
        for message in messages:
            if "does not occur" not in message and len(self.warnings) < MAX_WARNINGS:
                self.warnings.append(message)


class _IdHashes:
    """Prediction ids must be unique across the whole file, which may hold tens of millions of them: each batch's
    ids are hashed to 64 bits (8 bytes a row: 400 MB at 50 million rows) and written to a scratch file in
    ``folder`` (the system's temporary folder if None), read back and sorted once at the end, so the check holds
    them in memory once, at the end, rather than all along and twice while they are put together. Equal hashes
    are only suspects (two ids may share a hash); ``repeated`` finds the ids behind them in the Parquet copy and
    reports only ids that truly repeat, named by the row numbers their batches had (blank lines counted)."""

    def __init__(self, folder: str | None = None):
        self.folder, self.file, self.count = folder, None, 0
        # Per batch: where its rows start in the copy, the row number of its first, and where the numbers of its
        # rows are in ``self.lines`` (-1: numbered one after the other, no blank line between them).
        self.starts: list[int] = []
        self.numbering: list[tuple[int, int]] = []
        self.lines = None

    def _scratch(self):
        return tempfile.TemporaryFile(prefix="portal-id-hashes-", dir=self.folder)  # noqa: SIM115 - see close

    def add(self, series: pd.Series, rows: ingest._RowNumbers) -> None:
        """The ids of the next batch of the copy, whose rows are numbered by ``rows``."""
        if self.file is None:
            self.file = self._scratch()
        hashes = np.ascontiguousarray(id_hashes(pa.array(series.array)), dtype=np.uint64)
        self.file.write(memoryview(hashes).cast("B"))
        offset, numbers = -1, rows._lines if rows.data is None else None
        if numbers is not None:
            if self.lines is None:
                self.lines = self._scratch()
            offset = self.lines.seek(0, os.SEEK_END)
            self.lines.write(memoryview(np.ascontiguousarray(numbers, dtype=np.int64)).cast("B"))
        self.starts.append(self.count)
        self.numbering.append((rows.first, offset))
        self.count += len(hashes)

    def suspects(self) -> np.ndarray:
        """Hashes seen more than once across the file."""
        if not self.count:
            return np.zeros(0, np.uint64)
        self.file.seek(0)
        every = np.fromfile(self.file, dtype=np.uint64, count=self.count)
        self.file.close()
        self.file = None
        every.sort()
        return np.unique(every[1:][every[1:] == every[:-1]])

    def close(self) -> None:
        """Let go of the scratch files (unnamed: nothing stays on disk after a crash either)."""
        for scratch in (self.file, self.lines):
            if scratch is not None:
                scratch.close()
        self.file = self.lines = None

    def _number(self, position: int) -> int:
        """The row number of the copy's row at ``position``, as its batch numbered it."""
        batch = bisect.bisect_right(self.starts, position) - 1
        first, offset = self.numbering[batch]
        if offset < 0:
            return first + position - self.starts[batch]
        self.lines.seek(offset + 8 * (position - self.starts[batch]))
        return int(np.frombuffer(self.lines.read(8), dtype=np.int64)[0])

    def repeated(self, parquet_path: str, column: str) -> list[Problem]:
        """The ids behind suspect hashes, read back from the Parquet copy: a problem for each id truly repeated."""
        try:
            suspects = self.suspects()
            if not len(suspects):
                return []
            rows: dict[str, list[int]] = {}
            position = 0
            for batch in pq.ParquetFile(parquet_path).iter_batches(columns=[column]):
                ids = batch.column(0)
                for index in np.flatnonzero(np.isin(id_hashes(ids), suspects)):
                    rows.setdefault(ids[int(index)].as_py(), []).append(position + int(index))
                position += batch.num_rows
            repeated = [(value, found) for value, found in rows.items() if len(found) > 1]
            return [Problem(column, tuple(self._number(p) for p in found[:ingest.MAX_LISTED_ROWS]),
                            f"prediction id {value!r} appears more than once; ids must be unique within the file")
                    for value, found in repeated[:ingest.MAX_LISTED_ROWS]]
        finally:
            self.close()


def _check_batch(frame: pd.DataFrame, rows: ingest._RowNumbers, *, spec: dict, totals: _Totals,
                 names: Sequence[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """One batch through ingest's column checks; answers the normalised frame and what each column is. ``names``:
    the batch's columns when ``frame`` holds only some of them (``_passed_through``: those left out are features
    that need no check here)."""
    checks = ingest._Checks(frame, rows)
    target, prediction, score_column = spec["target"], spec["prediction"], spec["score"]
    score, probability_columns = None, {}
    outcomes = (target, prediction)
    if spec["pending"]:  # a production file whose labels come later: ids now, unique across the whole file
        outcomes = (prediction,)
        ingest._prediction_ids(checks, spec["prediction_id"])
        if spec["prediction_id"] not in {problem.column for problem in checks.problems}:
            totals.ids.add(checks.df[spec["prediction_id"]], rows)
    if spec["task_type"] == "binary":
        totals.labels.update(ingest._binary_targets(checks, outcomes, spec["positive_label"], None))
        if score_column in frame.columns:
            score = score_column
            values = checks.numbers(score_column)
            checks.unit_interval(score_column, values)
            frame[score_column] = values
    elif spec["task_type"] == "multiclass":
        labels = ingest._multiclass_targets(checks, outcomes, None)
        totals.labels.update(labels)
        probability_columns = ingest._probability_columns(checks, score_column, labels)
    else:
        for column in outcomes:
            frame[column] = checks.numbers(column)
    timestamp = spec["timestamp"] if spec["timestamp"] in frame.columns else None
    if timestamp:
        ingest._timestamps(checks, timestamp)
        stamps = frame[timestamp].dropna()
        if len(stamps):
            low, high = stamps.min(), stamps.max()
            totals.first_stamp = low if totals.first_stamp is None else min(totals.first_stamp, low)
            totals.last_stamp = high if totals.last_stamp is None else max(totals.last_stamp, high)
    for column in spec["sensitive_features"]:
        ingest._sensitive(checks, column, 0, spec["max_groups"])
        if column in checks.df and isinstance(checks.df[column].dtype, pd.CategoricalDtype):
            counts = checks.df[column].value_counts()
            totals.groups.setdefault(column, Counter()).update({str(k): int(v) for k, v in counts.items()})
    special = {target, prediction, score, timestamp, *spec["sensitive_features"], *probability_columns.values(),
               spec["prediction_id"]}
    features = tuple(column for column in (frame.columns if names is None else names) if column not in special)
    ingest._features(checks, [column for column in features if column in frame.columns])
    if checks.problems:
        raise IngestError(checks.problems)
    totals.warn(checks.warnings)
    return checks.df, {"score": score, "timestamp": timestamp, "features": features,
                       "probability_columns": probability_columns}


def _final_checks(spec: dict, totals: _Totals, min_group_rows: int) -> list[Problem]:
    problems = []
    found = sorted(totals.labels)
    if spec["task_type"] == "binary":
        columns = f"'{spec['target']}', '{spec['prediction']}'"
        if len(found) > 2:
            problems.append(Problem(None, (), f"{columns} hold the labels {ingest._labels_text(found)} across the "
                                              "file; a binary evaluation has a positive and a negative label"))
        elif spec["positive_label"] not in found and len(found) > 1:
            problems.append(Problem(None, (), f"the positive label {spec['positive_label']!r} does not occur in "
                                              f"{columns} (labels found: {ingest._labels_text(found)}); "
                                              "set the positive label to one of them"))
        elif spec["positive_label"] not in found:
            totals.warnings.append(f"the positive label {spec['positive_label']!r} does not occur; every row "
                                   "is negative")
    if spec["task_type"] == "multiclass" and len(found) > ingest.MAX_CLASSES:
        problems.append(Problem(None, (), f"the labels hold {len(found):,} distinct values; a multiclass "
                                          f"evaluation has at most {ingest.MAX_CLASSES:,} classes"))
    for column, counts in totals.groups.items():
        if len(counts) > spec["max_groups"]:
            problems.append(Problem(column, (), f"has {len(counts):,} distinct values; a sensitive feature may "
                                                f"have at most {spec['max_groups']:,} groups "
                                                "(PORTAL_MAX_GROUPS_PER_FEATURE); group the values or leave the "
                                                "column out"))
            continue
        small = [f"'{label}' ({count})" for label, count in sorted(counts.items()) if 0 < count < min_group_rows]
        if small:
            totals.warnings.append(f"sensitive feature '{column}': groups {', '.join(small[:10])} have fewer than "
                                   f"{min_group_rows} rows; their rates are unreliable")
        if MISSING_GROUP in counts:
            totals.warnings.append(f"sensitive feature '{column}': {counts[MISSING_GROUP]:,} rows without a value "
                                   f"are grouped as '{MISSING_GROUP}'")
    return problems


def _arrow(frame: pd.DataFrame) -> pa.Table:
    """A batch as Arrow with one schema for every batch: text categories as dictionary<int32, string>, and
    whole numbers (but 0/1 labels) as float64, since pandas turns an integer batch with a gap into floats."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = [pa.field(f.name, TEXT) if pa.types.is_dictionary(f.type)
              else pa.field(f.name, pa.float64()) if pa.types.is_integer(f.type) and f.type != pa.int8()
              else f for f in table.schema]
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def _checked_columns(spec: dict | None) -> Callable[[str], bool]:
    """Whether a column of an evaluation is one the checks read and normalise whatever its type (labels, score,
    timestamp, sensitive features, prediction ids, a multiclass model's probability columns); None: reference data,
    which has none."""
    if spec is None:
        return lambda name: False
    named = {spec["target"], spec["prediction"], spec["score"], spec["timestamp"], spec["prediction_id"],
             *spec["sensitive_features"]} - {None}
    prefix = f"{spec['score']}_" if spec["score"] else None
    return lambda name: name in named or (prefix is not None and name.startswith(prefix))


def _passed_through(batch: pa.Table, checked: Callable[[str], bool]) -> set[str]:
    """The columns of ``batch`` that are features the pandas checks would leave as they are: 64-bit numbers
    without an infinity or a NaN (a NaN becomes a missing value on the way through pandas) and text categories
    with a value. They go into the copy as Arrow read them (whole numbers as float64, as ``_arrow`` makes them),
    without the two conversions through pandas: at 1M rows with 25 such features (``make bench-e2e``'s file), the
    check took 0.19 s less CPU (median of eight, 2.64 s against 2.83 s; its parsing waits for CPU on two cores)
    and the worker's peak memory 40-80 MB less. The copy is the same, byte for byte. Any other column goes
    through pandas as before, so a problem is found and worded as it always was."""
    return {name for name, column in zip(batch.column_names, batch.columns, strict=True)
            if not checked(name) and _unchanged_by_pandas(column)}


def _unchanged_by_pandas(column: pa.ChunkedArray) -> bool:
    kind = column.type
    if kind == pa.float64():
        return not (pc.any(pc.is_inf(column)).as_py() or pc.any(pc.is_nan(column)).as_py())
    return kind == pa.int64() or (kind == TEXT and column.null_count < len(column))


def _passed(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column passed through (``_passed_through``) as ``_arrow`` makes it from pandas: whole numbers as float64, a
    text column's dictionaries unified in order, as pandas unifies them into its categories. Its chunks stay as
    they are: the Parquet writer writes the same bytes either way."""
    if column.type == pa.int64():
        return column.cast(pa.float64())
    if column.num_chunks > 1 and pa.types.is_dictionary(column.type):
        return pa.table({"column": column}).unify_dictionaries().column(0)
    return column


def _with_passed(frame: pd.DataFrame, batch: pa.Table, through: set[str]) -> pa.Table:
    """The batch for the copy: the checked ``frame`` as ``_arrow`` makes it, with the columns passed through."""
    checked = _arrow(frame) if len(frame.columns) else None
    columns = [_passed(batch.column(name)) if name in through else checked.column(name)
               for name in batch.column_names]
    return pa.Table.from_arrays(columns, names=batch.column_names)


def _typed_as(table: pa.Table, schema: pa.Schema, first_row: int) -> pa.Table:
    """A batch with the Parquet copy's types, which the first batch set; a column whose values cannot take them (no
    value at all in the first batch, numbers later) is a problem rather than Arrow's error."""
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    problems = []
    for wanted, column in zip(schema, table.columns, strict=True):
        try:
            column.cast(wanted.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            problems.append(Problem(wanted.name, (), f"holds {_kind(column.type)} after row {first_row - 1:,}, where "
                                                     f"the file's first rows hold {_kind(wanted.type)}; a large file "
                                                     "is checked in pieces whose column types are those of its first "
                                                     "piece"))
    raise IngestError(problems or [Problem(None, (), f"the rows after row {first_row - 1:,} do not fit the types of "
                                                     "the file's first rows")])


def _kind(kind: pa.DataType) -> str:
    if pa.types.is_null(kind):
        return "no value"
    if pa.types.is_dictionary(kind) or ingest._is_text(kind):
        return "text"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return "numbers"
    return f"{kind} values"


def _missing(names: Sequence[str], required: Sequence[str], spec: dict | None) -> list[Problem]:
    present = ", ".join(f"'{column}'" for column in list(names)[:20])
    later = (f"; a production file without outcomes needs a '{spec['prediction_id']}' column, to which labels are "
             "joined later" if spec and spec["labels_later"] else "")
    return [Problem(column, (), f"is missing; the file has the columns {present}"
                                f"{later if spec and column == spec['target'] else ''}")
            for column in required if column not in names]


def check_and_convert(source, *, parquet_path: str | None, spec: dict | None, max_groups: int = 1000,
                      min_group_rows: int = 30, block_bytes: int = BLOCK_BYTES,
                      max_value_bytes: int = ingest.Limits.max_line_bytes, stream_format: str = "csv",
                      observe: Callable[[pa.Table, dict], None] | None = None,
                      max_chunk_bytes: int = ingest.Limits.max_decoded_bytes) -> Streamed:
    """Check the file at ``source`` and write its Parquet copy to ``parquet_path``, in row groups of
    ``ingest.PARQUET_ROW_GROUP_ROWS``. ``source`` is a path (its format sniffed here), or a binary stream
    (``readinto``) read once, of a CSV or, with ``stream_format="jsonl"``, of JSON Lines (its head sniffed by the
    caller), or, with ``stream_format="parquet"``, a seekable binary file of a Parquet file. ``parquet_path`` None:
    the file is checked and nothing is written (a data set registered by reference, whose rows are read where they
    are); ``observe`` and a production file without its target are refused then (ValueError).

    ``spec``: target, prediction, score, timestamp (column names), sensitive_features, task_type and
    positive_label of an evaluation; None for reference data, which gets the table checks only. Raises
    ``IngestError`` with the problems of the first batch that has any, or of the whole file's totals.

    ``max_chunk_bytes`` bounds what one row group of a Parquet file takes once decoded, from its footer.

    ``observe(table, described)``, when given, is handed every checked batch as the copy stores it, in file order,
    with what each column is (score, timestamp, features, probability_columns, labels_pending), on a thread of its
    own while the next batch is checked: the metrics are computed in the same pass (``batches.Following``). An
    error it raises is raised here. Batches of a file refused later have been observed too: the caller drops what
    it made of them.
    """
    file_format = sniff_format(_head(source)) if isinstance(source, str) else stream_format
    copy = parquet_path is not None
    if not copy and observe is not None:
        raise ValueError("observe is handed the copy's batches: a file checked without a copy has none")
    if not copy and spec is not None and spec.get("labels_later"):
        raise ValueError("a file checked without a copy cannot have its labels later: repeated prediction ids "
                         "are read back from the copy")
    if spec is not None:
        spec = {"prediction_id": None, "labels_later": False, **spec, "pending": False,
                "positive_label": str(spec["positive_label"]).strip(), "max_groups": max_groups}
        labels = (spec["target"], spec["prediction"]) if spec["task_type"] != "regression" else ()
        text_columns = (*labels, *spec["sensitive_features"])
    else:
        text_columns = ()
    id_column = None if spec is None else spec.get("prediction_id")
    timestamp_column = None if spec is None else spec["timestamp"]
    checked = _checked_columns(spec)
    result, writer, described, sink = Streamed(file_format), None, {}, None
    totals = _Totals(ids=_IdHashes(os.path.dirname(parquet_path) if parquet_path else None))
    # The Parquet copy is written by a thread while the next batch is read and checked (Arrow releases the GIL
    # in both); waiting for the previous write before handing over the next keeps two batches in memory at most.
    pending, background = None, ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer")
    observed, observer = None, ThreadPoolExecutor(max_workers=1, thread_name_prefix="observer") if observe else None
    batches = _ReadAhead(_batches(source, file_format, text_columns, block_bytes, id_column, max_value_bytes,
                                  timestamp_column, max_chunk_bytes))
    try:
        for rows, batch in batches:
            first_row = rows.first
            if not result.columns:  # the first batch
                names = batch.schema.names
                ingest._check_shape(pd.DataFrame(columns=names, index=[0]), file_format)
                required = [] if spec is None else [spec["target"], spec["prediction"], *spec["sensitive_features"]]
                if spec is not None:
                    spec["pending"] = (spec["labels_later"] and spec["target"] not in names
                                       and spec["prediction_id"] in names)
                    required = required[spec["pending"]:]
                if problems := _missing(names, required, spec):
                    raise IngestError(problems)
                result.columns = list(names)
            nested = [f.name for f in batch.schema if pa.types.is_nested(f.type)]
            if nested:
                raise IngestError([Problem(column, (), ingest.NESTED) for column in nested])
            ingest._check_whole_numbers(batch, rows, {id_column, *text_columns})
            # The first batch goes through pandas whole: the copy's schema (and its pandas metadata) is its own.
            through = _passed_through(batch, checked) if writer is not None or not copy else set()
            frame = batch.drop_columns(list(through)).to_pandas(strings_to_categorical=True)
            if spec is not None:
                frame, described = _check_batch(frame, rows, spec=spec, totals=totals, names=batch.column_names)
            result.row_count += batch.num_rows
            if not copy:
                continue
            table = _with_passed(frame, batch, through) if through else _arrow(frame)
            if writer is None:
                sink = _HashedFile(parquet_path)
                writer = pq.ParquetWriter(sink, table.schema, **ingest.parquet_options(table.schema))
            if pending is not None:
                pending.result()
            typed = _typed_as(table, writer.schema, first_row)
            pending = background.submit(writer.write_table, typed, row_group_size=ingest.PARQUET_ROW_GROUP_ROWS)
            if observer is not None:
                if observed is not None:
                    observed.result()
                observed = observer.submit(observe, typed, {**described, "labels_pending": bool(spec and
                                                                                                 spec["pending"])})
        for last in (pending, observed):
            if last is not None:
                last.result()
    except BaseException:
        totals.ids.close()
        raise
    finally:
        batches.close()
        background.shutdown(wait=True)
        if observer is not None:
            observer.shutdown(wait=True)
        if writer is not None:
            writer.close()
        if sink is not None:
            sink.close()
            result.parquet_sha256 = sink.digest.hexdigest()
    if not result.row_count:
        raise IngestError([Problem(None, (), "the file has a header but no data rows" if file_format == "csv"
                                   else "the file has no rows")])
    if spec is not None:
        problems = _final_checks(spec, totals, min_group_rows)
        if spec["pending"]:
            problems += totals.ids.repeated(parquet_path, spec["prediction_id"])
            result.labels_pending, result.prediction_id_column = True, spec["prediction_id"]
        if problems:
            raise IngestError(problems)
        result.labels = tuple(sorted(totals.labels))
        result.score_column, result.timestamp_column = described["score"], described["timestamp"]
        result.feature_columns, result.probability_columns = described["features"], described["probability_columns"]
        result.period = (_datetime(totals.first_stamp), _datetime(totals.last_stamp))
    result.warnings = totals.warnings
    return result


def _datetime(stamp: pd.Timestamp | None) -> datetime | None:
    return None if stamp is None or pd.isna(stamp) else stamp.to_pydatetime()


# A label file is read in pieces of at most this many bytes (and rows: ``label_pieces``).
LABEL_BLOCK_BYTES = 64 * 1024 * 1024


@dataclass
class LabelPiece:
    """Part of a label file, as a file of its own for ``ingest.parse_labels`` (a CSV's header before its rows):
    ``data``; ``shift``, what to add to a row number of ``data`` to get the file's; ``end``, the file's last line
    in it."""

    data: bytes
    shift: int
    end: int


def label_pieces(handle, *, file_format: str, max_rows: int,
                 block_bytes: int = LABEL_BLOCK_BYTES) -> Iterator[LabelPiece]:
    """A CSV or JSON Lines label file (``handle``, binary, read once) in pieces of at most ``max_rows`` lines and
    about ``block_bytes``, each cut at a line end outside quotes: each piece is checked like a label file sent
    alone, so a file of any length is read in the memory of one piece. The first piece is the file's beginning
    as it is (blank lines and header included), so its row numbers are the file's; the others start with the
    header line. A row longer than ``MAX_PIECES`` blocks (a quote never closed) is refused with its row."""
    csv, limit = file_format == "csv", MAX_PIECES * block_bytes
    header, delimiter, lines, buffer, ended, given = b"", ",", 0, bytearray(), False, False
    while True:
        while not ended and len(buffer) < block_bytes:
            read = handle.read(block_bytes - len(buffer))
            if read:
                buffer += read
            else:
                ended = True
        if not buffer or (given and ingest._first_content_byte(buffer, 0) == len(buffer)):
            return  # the end, or only blank lines left: nothing to check
        rows_from = 0  # the rows counted start here: the first piece's blank lines and header come on top
        if not given:  # the first piece: from the first line with content (a CSV: after its header)
            bom = len(ingest.UTF8_BOM) if buffer.startswith(ingest.UTF8_BOM) else 0
            start = ingest._first_content_byte(buffer, bom)
            line_end = buffer.find(b"\n", start)
            if line_end < 0 and not ended and len(buffer) < limit:
                block_bytes *= 2  # a header longer than the bytes read so far
                continue
            rows_from = buffer.rfind(b"\n", 0, start) + 1
            if csv:
                header = bytes(buffer[start:line_end + 1]) if line_end >= 0 else bytes(buffer[start:]) + b"\n"
                rows_from = line_end + 1 if line_end >= 0 else len(buffer)
                with contextlib.suppress(IngestError, ValueError):
                    delimiter = ingest._csv_header(header, 0)[1]
        cut = _label_rows_end(buffer, max_rows, csv, rows_from)
        if cut is None and csv and not ended:
            cut = _row_end_as_read(buffer, len(buffer), delimiter)  # a quote inside an unquoted value
            cut = cut if cut is not None and cut > rows_from else None
        if cut is None:
            if not ended:
                if len(buffer) >= limit:
                    raise IngestError([Problem(None, (lines + 1,), _too_long(len(buffer), csv))])
                block_bytes *= 2
                continue
            cut = len(buffer)
        with memoryview(buffer) as view:
            piece = bytes(view[:cut])
        del buffer[:cut]
        if given and ingest._first_content_byte(piece, 0) == len(piece):
            lines += piece.count(b"\n")  # blank lines only: counted, not checked
            continue
        data, shift = (piece, 0) if not given else (header + piece, lines - 1) if csv else (piece, lines)
        lines, given = lines + piece.count(b"\n"), True
        yield LabelPiece(data, shift, lines + (0 if piece.endswith(b"\n") else 1))


def _label_rows_end(buffer: bytearray, max_rows: int, csv: bool, start: int = 0) -> int | None:
    """The offset just after the ``max_rows``-th line feed of ``buffer`` from ``start`` (a row's start), or its
    last one when there are fewer; in a CSV only line feeds outside quotes count (an even number of quotes before
    them). None when there is none."""
    raw, counted, odd, last = np.frombuffer(buffer, np.uint8), 0, 0, None
    for at in range(start, len(raw), _ROWS_END_WINDOW):  # a window at a time: a piece is often half the buffer
        window = raw[at:at + _ROWS_END_WINDOW]
        feeds = np.flatnonzero(window == 10)
        if csv:
            quotes = np.flatnonzero(window == 34)
            if len(quotes) or odd:  # the window starts inside quotes: its line feeds before the next quote are too
                feeds = feeds[(np.searchsorted(quotes, feeds) + odd) % 2 == 0]
                odd = (odd + len(quotes)) % 2  # the quotes from ``start`` up to the next window, in parity
        if counted + len(feeds) >= max_rows:
            return at + int(feeds[max_rows - counted - 1]) + 1
        if len(feeds):
            counted, last = counted + len(feeds), at + int(feeds[-1]) + 1
    return last


_ROWS_END_WINDOW = 8 << 20
