"""Parquet data sets registered by reference: read where they are, never copied (no Django imports).

A data set is named by an absolute path that must lie, once every symlink is resolved, inside one of
the configured roots (``PORTAL_DATA_ROOTS``); a path with a ``..`` component is refused outright
rather than normalised, so what a person typed is what is checked. Registration reads only the
Parquet footer (schema and row count; ``ingest``'s column bounds apply); the worker opens the file
once, hashes it sequentially, compares the SHA-256 with the registered one, and reads the same open
file in batches: a file swapped for another by rename after the check is not the one read.

Object-store URLs (``s3://bucket/key``) are not supported yet: they are refused with that message.
"""

import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from apps.monitoring.ingest import MAX_COLUMNS, NESTED

HASH_CHUNK_BYTES = 4 * 1024 * 1024


class DataSetError(ValueError):
    """The data set cannot be registered or read; the message says what to change."""


@dataclass(frozen=True)
class Footer:
    """What a data set's Parquet footer says: enough to register it without reading its rows."""

    path: Path
    size_bytes: int
    row_count: int
    columns: tuple[str, ...]
    metadata: pq.FileMetaData

    def period(self, column: str) -> tuple[datetime | None, datetime | None]:
        """The first and last time in a timestamp column, from the row groups' statistics (UTC; naive
        times are taken as UTC), or (None, None) when the column is not a timestamp or has no statistics."""
        index = self.columns.index(column)
        lows, highs = [], []
        for group in range(self.metadata.num_row_groups):
            chunk = self.metadata.row_group(group).column(index)
            statistics = chunk.statistics
            if statistics is None or not statistics.has_min_max or not isinstance(statistics.min, datetime):
                return None, None
            lows.append(statistics.min)
            highs.append(statistics.max)
        if not lows:
            return None, None
        return _utc(min(lows)), _utc(max(highs))


def resolve(uri: str, *, roots: Sequence[str]) -> Path:
    """The data set's real path, once it is shown to be a file inside an allowed root."""
    if not roots:
        raise DataSetError("Registering data sets by reference is turned off on this portal: no folder is allowed "
                           "(PORTAL_DATA_ROOTS is empty). Upload the file instead, or ask an administrator to set "
                           "PORTAL_DATA_ROOTS.")
    if "://" in uri:
        raise DataSetError(f"{uri!r} is a URL; only file paths under {_roots_text(roots)} can be registered "
                           "(object-store URLs are not supported yet).")
    path = Path(uri)
    if not path.is_absolute():
        raise DataSetError(f"{uri!r} is not an absolute path; give the full path under {_roots_text(roots)}.")
    if ".." in path.parts:
        raise DataSetError(f"{uri!r} contains '..'; give the path without it.")
    try:
        real = path.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise DataSetError(f"{uri!r} does not exist.") from None
    except (OSError, RuntimeError) as error:
        raise DataSetError(f"{uri!r} cannot be read: {error}") from None
    if not any(real.is_relative_to(Path(root).resolve()) for root in roots):
        raise DataSetError(f"{uri!r} is outside the folders data sets may be registered from "
                           f"({_roots_text(roots)}), once its links are followed.")
    if not real.is_file():
        raise DataSetError(f"{uri!r} is not a file.")
    return real


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _roots_text(roots: Sequence[str]) -> str:
    return ", ".join(roots)


def read_footer(uri: str, *, roots: Sequence[str]) -> Footer:
    """The data set's schema and row count, from its footer alone (no row is decoded)."""
    path = resolve(uri, roots=roots)
    try:
        parquet = pq.ParquetFile(path)
        schema, meta = parquet.schema_arrow, parquet.metadata
    except (pa.ArrowException, OSError) as error:
        raise DataSetError(f"{uri!r} is not a readable Parquet file: {error}") from error
    if meta.num_columns > MAX_COLUMNS:
        raise DataSetError(f"{uri!r} has {meta.num_columns} columns; at most {MAX_COLUMNS} are supported.")
    nested = [field.name for field in schema if pa.types.is_nested(field.type)]
    if nested:
        raise DataSetError(f"column {nested[0]!r} of {uri!r}: {NESTED}.")
    return Footer(path=path, size_bytes=path.stat().st_size, row_count=meta.num_rows, columns=tuple(schema.names),
                  metadata=meta)


def _sha256(handle) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(HASH_CHUNK_BYTES):
        digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def open_verified(uri: str, *, sha256: str, roots: Sequence[str]) -> Iterator:
    """The data set open for reading, once the bytes of this open file hash to ``sha256``."""
    path = resolve(uri, roots=roots)
    with open(path, "rb") as handle:
        actual = _sha256(handle)
        if actual != sha256.lower():
            raise DataSetError(f"the data set {uri} has changed since it was registered: its SHA-256 is {actual}, "
                               f"not {sha256}. Nothing was computed; register it again with its new hash.")
        handle.seek(0, os.SEEK_SET)
        yield handle
