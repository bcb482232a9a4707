"""Content-addressed storage of uploads: the same bytes are stored once, named by their SHA-256.

Through Django's storage API (``apps.core.storage``): the filesystem by default, S3 by configuration.
"""

from apps.core import storage as files
from apps.core.storage import sha256

__all__ = ["open", "put", "put_file", "put_path", "read", "sha256"]


def put(data: bytes, *, kind: str, suffix: str) -> tuple[str, str]:
    """Store ``data`` and return (sha256, the stored name relative to the storage's root)."""
    digest = sha256(data)
    return digest, files.put(f"monitoring/{kind}/{digest[:2]}/{digest}{suffix}", data)


def put_file(handle, *, digest: str, size: int, kind: str, suffix: str) -> str:
    """``put`` for an open file whose SHA-256 the caller computed while writing it; returns the stored name."""
    return files.put_file(f"monitoring/{kind}/{digest[:2]}/{digest}{suffix}", handle, size=size)


def put_path(path: str, *, digest: str, kind: str, suffix: str) -> str:
    """``put_file`` for a local file the caller gives away: moved into a filesystem storage, copied to others."""
    return files.put_path(f"monitoring/{kind}/{digest[:2]}/{digest}{suffix}", path)


def read(name: str) -> bytes:
    return files.read(name)


def open(name: str):  # noqa: A001 - storage.open, as Django's storage API names it
    """The stored file open for reading: a Parquet copy is read in batches, never whole."""
    return files.open_file(name)
