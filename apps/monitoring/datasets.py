"""Parquet data sets registered by reference: read where they are, never copied (no Django imports).

A data set is named by an absolute path or by an object-store URL, ``s3://bucket/key``.

A path must lie, once every symlink is resolved, inside one of the configured roots
(``PORTAL_DATA_ROOTS``); a path with a ``..`` component is refused outright rather than normalised, so
what a person typed is what is checked. Registration reads only the Parquet footer (schema and row
count; the footer checks of an uploaded Parquet file apply, ``ingest.parquet_footer_problems``); the
worker opens the file once, hashes it sequentially, compares the SHA-256 with the registered one, and
reads the same open file in batches (first for an upload's row checks, ``services._check_in_place``, then for
the metrics): a file swapped for another by rename after the check is not the one read.

An ``s3://`` URL must name a key in one of the allowed buckets (``PORTAL_DATA_BUCKETS``: a bucket, or
a bucket and a prefix taken as a folder, so ``lake/eval`` allows ``eval/march.parquet`` but not
``evaluations/...``). A key with an empty, ``.`` or ``..`` segment is refused: a proxy or a
self-hosted store may normalise it into another key. The object is reached with boto3, through the
endpoint, region and credentials of the portal's own object store (``PORTAL_S3_*``, ``AWS_*``).
Registration sends one HEAD and the ranged GETs that read the footer. The worker pins the object it
hashes: the HEAD's ETag (and VersionId, when the bucket is versioned) goes with every later GET as
``IfMatch`` (and ``VersionId``), so the bytes hashed and the bytes read in batches are one object's.
An object replaced after the HEAD answers 412, and the evaluation fails with "the object changed
since it was registered"; in a versioned bucket the pinned version is still the one read. Hashing
streams the object in GETs of ``HASH_RANGE_BYTES`` consumed ``HASH_CHUNK_BYTES`` at a time; pyarrow
then reads through ``S3Object``, a seekable file whose every read is one ranged GET, so memory holds
the chunk being hashed or the column chunk being decoded, never the object, and nothing is written
to disk.

Why a file object over boto3 and not ``pyarrow.fs.S3FileSystem``: Arrow's S3 filesystem can neither
send ``If-Match`` nor open a given ``VersionId``, so it could not promise that the object read is the
one hashed; and it configures endpoint and credentials through the AWS C++ SDK, apart from the boto3
configuration the portal's storage already uses.
"""

import hashlib
import io
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from apps.monitoring.ingest import parquet_footer_problems

HASH_CHUNK_BYTES = 4 * 1024 * 1024
HASH_RANGE_BYTES = 64 * 1024 * 1024  # one GET of the hash pass: few requests, and a failure loses little
READ_AHEAD_BYTES = 8 * 1024 * 1024  # the one buffer an open object keeps
S3_SCHEME = "s3://"


class DataSetError(ValueError):
    """The data set cannot be registered or read; the message says what to change."""


@dataclass(frozen=True)
class Footer:
    """What a data set's Parquet footer says: enough to register it without reading its rows."""

    location: str  # the resolved path, or the s3:// URL
    name: str
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


@dataclass(frozen=True)
class ObjectRef:
    """An object in an allowed bucket: where a data set registered by ``s3://`` URL is."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.key}"


def resolve(uri: str, *, roots: Sequence[str], buckets: Sequence[str] = ()) -> Path | ObjectRef:
    """Where the data set is: its real path inside an allowed root, or its object inside an allowed bucket."""
    if uri[:len(S3_SCHEME)].lower() == S3_SCHEME:
        return _resolve_object(uri, buckets=buckets)
    if "://" in uri:
        raise DataSetError(f"{uri!r} is a URL of a kind the portal cannot read; give a file path (under "
                           "PORTAL_DATA_ROOTS) or an s3://bucket/key URL (in PORTAL_DATA_BUCKETS).")
    return _resolve_path(uri, roots=roots)


def _resolve_path(uri: str, *, roots: Sequence[str]) -> Path:
    if not roots:
        raise DataSetError("Registering data sets by reference is turned off on this portal: no folder is allowed "
                           "(PORTAL_DATA_ROOTS is empty). Upload the file instead, or ask an administrator to set "
                           "PORTAL_DATA_ROOTS.")
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


def _resolve_object(uri: str, *, buckets: Sequence[str]) -> ObjectRef:
    if not buckets:
        raise DataSetError("Registering data sets from an object store is turned off on this portal: no bucket is "
                           "allowed (PORTAL_DATA_BUCKETS is empty). Upload the file instead, or ask an administrator "
                           "to set PORTAL_DATA_BUCKETS.")
    bucket, _, key = uri[len(S3_SCHEME):].partition("/")
    if not bucket or not key:
        raise DataSetError(f"{uri!r} does not name an object; give s3://<bucket>/<key>.")
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise DataSetError(f"{uri!r} has an empty, '.' or '..' segment in its key; give the key without it.")
    if not any(_allows(allowed, bucket, key) for allowed in buckets):
        raise DataSetError(f"{uri!r} is outside the buckets data sets may be registered from "
                           f"({_roots_text(buckets)}).")
    return ObjectRef(bucket, key)


def _allows(allowed: str, bucket: str, key: str) -> bool:
    """Whether ``allowed`` (a bucket, or bucket/prefix, the prefix a folder) holds the key."""
    allowed_bucket, _, prefix = allowed.strip().removeprefix(S3_SCHEME).strip("/").partition("/")
    return allowed_bucket == bucket and (not prefix or key.startswith(prefix.rstrip("/") + "/"))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _roots_text(roots: Sequence[str]) -> str:
    return ", ".join(roots)


def read_footer(uri: str, *, roots: Sequence[str], buckets: Sequence[str] = (),
                s3: Mapping | None = None, max_chunk_bytes: int | None = None) -> Footer:
    """The data set's schema and row count, from its footer alone (no row is decoded), once the footer passes
    the checks of an uploaded Parquet file (``ingest.parquet_footer_problems``; ``max_chunk_bytes`` bounds what
    a row group takes once decoded).

    ``s3``: the boto3 client's options (``endpoint_url``, ``region_name``, ``addressing_style``)."""
    where = resolve(uri, roots=roots, buckets=buckets)
    if isinstance(where, ObjectRef):
        with S3Object(_client(s3 or {}), where) as handle:
            return _footer(uri, handle, location=where.uri, name=where.key.rsplit("/", 1)[-1], size=handle.size,
                           max_chunk_bytes=max_chunk_bytes)
    return _footer(uri, where, location=str(where), name=where.name, size=where.stat().st_size,
                   max_chunk_bytes=max_chunk_bytes)


def _footer(uri: str, source, *, location: str, name: str, size: int, max_chunk_bytes: int | None) -> Footer:
    try:
        parquet = pq.ParquetFile(source)
        schema, meta = parquet.schema_arrow, parquet.metadata
    except (pa.ArrowException, OSError) as error:
        raise DataSetError(f"{uri!r} is not a readable Parquet file: {error}") from error
    problems = parquet_footer_problems(meta, schema, size=size, max_chunk_bytes=max_chunk_bytes)
    if problems:
        raise DataSetError(f"{uri!r} cannot be used: " + "; ".join(str(problem) for problem in problems[:5]) + ".")
    return Footer(location=location, name=name, size_bytes=size, row_count=meta.num_rows,
                  columns=tuple(schema.names), metadata=meta)


def _sha256(handle) -> str:
    digest = hashlib.sha256()
    chunks = handle.chunks(HASH_CHUNK_BYTES) if isinstance(handle, S3Object) else iter(
        lambda: handle.read(HASH_CHUNK_BYTES), b"")
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def open_verified(uri: str, *, sha256: str, roots: Sequence[str], buckets: Sequence[str] = (),
                  s3: Mapping | None = None) -> Iterator:
    """The data set open for reading, once the bytes of this open file (or pinned object) hash to ``sha256``."""
    where = resolve(uri, roots=roots, buckets=buckets)
    with (S3Object(_client(s3 or {}), where) if isinstance(where, ObjectRef) else open(where, "rb")) as handle:
        actual = _sha256(handle)
        if actual != sha256.lower():
            raise DataSetError(f"the data set {uri} has changed since it was registered: its SHA-256 is {actual}, "
                               f"not {sha256}. Nothing was computed; register it again with its new hash.")
        handle.seek(0, os.SEEK_SET)
        yield handle


def _client(options: Mapping):
    """An S3 client for the data buckets; credentials as boto3 finds them (``AWS_*``, a profile, a role)."""
    style = options.get("addressing_style")
    return boto3.client("s3", endpoint_url=options.get("endpoint_url") or None,
                        region_name=options.get("region_name") or None,
                        config=Config(s3={"addressing_style": style} if style else None,
                                      retries={"mode": "standard", "max_attempts": 5}))


class S3Object(io.RawIOBase):
    """One object, pinned by the ETag (and VersionId) its HEAD answered, as a seekable read-only file.

    Every GET is ranged and carries ``IfMatch`` (and ``VersionId``): a read of an object replaced since
    the HEAD fails with ``DataSetError`` instead of answering another object's bytes. A read smaller than
    ``READ_AHEAD_BYTES`` fetches that much and serves the reads that follow from it: pyarrow reads a row
    group's column chunks one after the other, so a file of small row groups costs a GET per few MB, not
    one per column chunk (a request's latency, 20-50 ms on AWS, would otherwise dominate).
    """

    mode = "rb"

    def __init__(self, client, ref: ObjectRef):
        super().__init__()
        self._client, self.ref, self.name, self._position = client, ref, ref.uri, 0
        self._buffer_start, self._buffer = 0, b""
        head = _call(ref, client.head_object, Bucket=ref.bucket, Key=ref.key)
        self.size, self.etag = head["ContentLength"], head["ETag"]
        self._pin = {"IfMatch": self.etag, **({"VersionId": head["VersionId"]} if head.get("VersionId") else {})}

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self.size}[whence] + offset
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._position = position
        return position

    def read(self, size: int | None = -1) -> bytes:
        start = self._position
        end = self.size if size is None or size < 0 else min(self.size, start + size)
        if end <= start:
            return b""
        self._position = end
        if end - start >= READ_AHEAD_BYTES:  # a large column chunk: read as asked, not kept
            return self._fetch(start, end)
        if start < self._buffer_start or end > self._buffer_start + len(self._buffer):
            self._buffer_start, self._buffer = start, self._fetch(start, min(self.size, start + READ_AHEAD_BYTES))
        return self._buffer[start - self._buffer_start:end - self._buffer_start]

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[:len(data)] = data
        return len(data)

    def chunks(self, size: int) -> Iterator[bytes]:
        """The whole object in order, ``size`` bytes at a time, streamed over GETs of ``HASH_RANGE_BYTES``."""
        for start in range(0, self.size, HASH_RANGE_BYTES):
            body = self._get(start, min(self.size, start + HASH_RANGE_BYTES))
            try:
                while chunk := body.read(size):
                    yield chunk
            finally:
                body.close()

    def _fetch(self, start: int, end: int) -> bytes:
        body = self._get(start, end)
        try:
            data = body.read()
        finally:
            body.close()
        if len(data) != end - start:
            raise DataSetError(f"{self.name} answered {len(data):,} bytes for a range of {end - start:,}.")
        return data

    def _get(self, start: int, end: int):
        return _call(self.ref, self._client.get_object, Bucket=self.ref.bucket, Key=self.ref.key,
                     Range=f"bytes={start}-{end - 1}", **self._pin)["Body"]


def _call(ref: ObjectRef, method, **params):
    """``method(**params)``, its failures told as what a person can do about them."""
    try:
        return method(**params)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("PreconditionFailed", "412", "NoSuchVersion"):
            raise DataSetError(f"the object {ref.uri} changed since it was registered (it was replaced or deleted "
                               "while it was read). Nothing was computed; register it again with its new "
                               "SHA-256.") from error
        if code in ("NoSuchKey", "NoSuchBucket", "404"):
            raise DataSetError(f"{ref.uri!r} does not exist.") from error
        if code in ("AccessDenied", "403"):  # a HEAD's 403 has no body: its code is the status
            # S3 tells a missing key from a forbidden one only to those who may list the bucket, so a typo in the
            # key looks like a permission problem: say both, and how to tell them apart.
            raise DataSetError(f"The object store answered 403 Access Denied for {ref.uri!r}: either no object "
                               "exists at that key (S3 answers 403, not 404, for a missing key when the portal's "
                               "credentials lack s3:ListBucket on the bucket) or the portal's credentials may not "
                               f"read it. Check the key first, e.g. with `aws s3 ls {ref.uri}`; if the object is "
                               "there, ask an administrator to allow the portal s3:GetObject on it.") from error
        raise DataSetError(f"{ref.uri!r} cannot be read: {error}") from error
    except BotoCoreError as error:  # no credentials, endpoint unreachable, ...
        raise DataSetError(f"{ref.uri!r} cannot be read: {error}") from error
