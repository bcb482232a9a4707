"""Files the portal keeps, through Django's storage API (``storages["default"]``).

The local filesystem under MEDIA_ROOT by default; any S3-compatible store with ``PORTAL_STORAGE=s3``
(django-storages), so web and worker processes on different machines need no shared disk. Names are
relative (``monitoring/raw/ab/ab…cd.csv``) and never paths: nothing here may assume a local file.
"""

import contextlib
import hashlib
import os

from django.core.files.base import ContentFile, File
from django.core.files.storage import storages


def backend():
    return storages["default"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(name: str, data: bytes) -> str:
    """Store ``data`` under ``name`` unless a complete copy is there already; returns the stored name.

    For content-addressed names (the name carries the bytes' hash) a file of the right size is the same file.
    A shorter or longer one is what an interrupted write left behind: it is replaced, never trusted.
    """
    store = backend()
    if store.exists(name):
        if store.size(name) == len(data):
            return name
        store.delete(name)
    return store.save(name, ContentFile(data))


def put_file(name: str, handle, *, size: int, replace: bool = False) -> str:
    """``put`` for an open file, copied in chunks by the storage so memory never holds it whole.

    ``replace``: a name that does not carry its content's hash (an upload's part sent again) is always rewritten.
    """
    store = backend()
    if store.exists(name):
        if store.size(name) == size and not replace:
            return name
        store.delete(name)
    handle.seek(0)
    return store.save(name, File(handle, name=name))


class _LocalFile(File):
    """A local file the caller gives away: Django's filesystem storage moves such a file into place
    (``temporary_file_path``, as for a large form upload) instead of copying it; other storages read it."""

    def temporary_file_path(self) -> str:
        return self.name


def put_path(name: str, path: str) -> str:
    """``put_file`` for a file on local disk that the caller no longer needs: on the filesystem storage it is
    moved (a rename on the same disk), on any other copied in chunks. Returns the stored name."""
    store, size = backend(), os.path.getsize(path)
    if store.exists(name):
        if store.size(name) == size:
            return name
        store.delete(name)
    with open(path, "rb") as handle:
        return store.save(name, _LocalFile(handle, name=path))


def local_path(name: str) -> str | None:
    """Where ``name`` is (or would be) on this machine's disk with the filesystem storage; None with a remote one."""
    try:
        return backend().path(name)
    except NotImplementedError:
        return None


def read(name: str) -> bytes:
    with backend().open(name, "rb") as handle:
        return handle.read()


def open_file(name: str):
    """The stored file open for reading (seekable), for readers that take only the parts they need."""
    return backend().open(name, "rb")


def exists(name: str) -> bool:
    return backend().exists(name)


def delete(name: str) -> None:
    backend().delete(name)


def delete_folder(folder: str) -> None:
    """Delete every file directly under ``folder`` (and, on local disk, the folder once empty)."""
    store = backend()
    try:
        names = store.listdir(folder)[1]
    except FileNotFoundError:
        return
    for name in names:
        store.delete(f"{folder}/{name}")
    path = local_path(folder)
    if path:
        with contextlib.suppress(OSError):  # not empty: a scratch folder still in use keeps it
            os.rmdir(path)
