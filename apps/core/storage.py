"""Files the portal keeps, through Django's storage API (``storages["default"]``).

The local filesystem under MEDIA_ROOT by default; any S3-compatible store with ``PORTAL_STORAGE=s3``
(django-storages), so web and worker processes on different machines need no shared disk. Names are
relative (``monitoring/raw/ab/ab…cd.csv``) and never paths: nothing here may assume a local file.
"""

import contextlib
import errno
import fcntl
import hashlib
import mmap
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


class UncachedFile:
    """A local file written once, in order, and not read back soon (an upload's raw file as sent, its Parquet
    copy), written past the system's page cache (``O_DIRECT``) where the file system allows it.

    Written through the cache, each 4 KB page of a new file is memory the kernel finds, maps and copies into: on
    this project's two-core virtual machines about 0.5 s of CPU for 200 MB, where ``O_DIRECT`` takes 0.01 s (the
    disk does the work, 0.14 s). Direct writes need addresses, lengths and offsets that are multiples of the
    disk's block: the data is copied into an aligned staging buffer of about ``block_bytes`` and written a whole
    number of ``ALIGN`` bytes at a time. The last few bytes, and everything on a file system that refuses direct
    writes, go through the cache as usual."""

    ALIGN = 4096

    def __init__(self, path: str, *, block_bytes: int = 32 * 1024 * 1024):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        self.direct, self.stage, self.held = _direct(self.fd, True), None, 0
        if self.direct:
            self.stage = mmap.mmap(-1, max(block_bytes - block_bytes % self.ALIGN, self.ALIGN))  # page-aligned

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        if self.stage is None:
            self._write(view)
            return len(view)
        done = 0
        while done < len(view):
            take = min(len(self.stage) - self.held, len(view) - done)
            self.stage[self.held:self.held + take] = view[done:done + take]
            self.held, done = self.held + take, done + take
            if self.held == len(self.stage):
                aligned = self.held - self.held % self.ALIGN
                self._write(memoryview(self.stage)[:aligned])
                self.stage.move(0, aligned, self.held - aligned)
                self.held -= aligned
        return len(view)

    def _write(self, view: memoryview) -> None:
        """All of ``view``; a direct write the file system refuses (EINVAL) is made through the cache instead, and
        so is everything after it."""
        done = 0
        while done < len(view):
            try:
                done += os.write(self.fd, view[done:])
            except OSError as exc:
                if exc.errno != errno.EINVAL or not self.direct:
                    raise
                self.direct = _direct(self.fd, False)
                if self.direct:  # the flag cannot be turned off: nothing else to try
                    raise

    def close(self) -> None:
        if self.fd < 0:
            return
        try:
            if self.held:
                self.direct = _direct(self.fd, False)  # the last bytes are not a whole block
                self._write(memoryview(self.stage)[:self.held])
        finally:
            self.held = 0
            if self.stage is not None:
                with contextlib.suppress(BufferError):  # a view kept by an error's traceback: freed with it
                    self.stage.close()
                self.stage = None
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "UncachedFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _direct(fd: int, on: bool) -> bool:
    """Turn ``O_DIRECT`` on or off for ``fd``; whether it is on."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return False
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | flag if on else flags & ~flag)
    except OSError:
        return bool(flags & flag)
    return on
