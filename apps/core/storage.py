"""Files the portal keeps, through Django's storage API (``storages["default"]``).

The local filesystem under MEDIA_ROOT by default; any S3-compatible store with ``PORTAL_STORAGE=s3``
(django-storages), so web and worker processes on different machines need no shared disk. Names are
relative (``monitoring/raw/ab/ab…cd.csv``) and never paths: nothing here may assume a local file.
"""

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
import time
from datetime import timedelta

from django.core.files.base import ContentFile, File
from django.core.files.storage import storages


def backend():
    return storages["default"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(name: str, data: bytes) -> str:
    """Store ``data`` under ``name`` unless a complete copy is there already; returns the stored name.

    For content-addressed names (the name carries the bytes' hash) a file of the right size is the same file.
    A shorter or longer one is what an interrupted write left behind: it is replaced, never trusted. On local
    disk the bytes are written beside the name and renamed into place (``_place``), so two requests storing
    the same content at once both succeed and neither sees the other's half-written copy.
    """
    store = backend()
    if _stored_size(store, name) == len(data):
        return name
    target = local_path(name)
    if target is not None:
        with _beside(target) as staged:
            with open(staged, "wb") as handle:
                handle.write(data)
            return _place(store, name, staged)
    _delete_quietly(store, name)
    return store.save(name, ContentFile(data))


def put_file(name: str, handle, *, size: int, replace: bool = False) -> str:
    """``put`` for an open file, copied in chunks by the storage so memory never holds it whole.

    ``replace``: a name that does not carry its content's hash (an upload's part sent again) is always rewritten.
    """
    store = backend()
    if not replace and _stored_size(store, name) == size:
        return name
    handle.seek(0)
    target = local_path(name)
    if target is not None:
        with _beside(target) as staged:
            with open(staged, "wb") as copy:
                shutil.copyfileobj(handle, copy, COPY_BLOCK)
            return _place(store, name, staged)
    _delete_quietly(store, name)
    return store.save(name, File(handle, name=name))


def put_path(name: str, path: str) -> str:
    """``put_file`` for a file on local disk that the caller no longer needs: on the filesystem storage it is
    moved (a rename on the same disk, a copy beside the name then a rename across disks), on any other copied in
    chunks. Returns the stored name."""
    store, size = backend(), os.path.getsize(path)
    if _stored_size(store, name) == size:
        return name
    target = local_path(name)
    if target is not None:
        try:
            return _place(store, name, path)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        with open(path, "rb") as handle:
            return put_file(name, handle, size=size, replace=True)
    _delete_quietly(store, name)
    with open(path, "rb") as handle:
        return store.save(name, File(handle, name=name))


COPY_BLOCK = 1024 * 1024


def _stored_size(store, name: str) -> int | None:
    """The stored file's size; None when there is none, including one another writer removed a moment ago."""
    if not store.exists(name):  # a remote store's size() of a missing object is not FileNotFoundError
        return None
    try:
        return store.size(name)
    except FileNotFoundError:
        return None


def _delete_quietly(store, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        store.delete(name)


@contextlib.contextmanager
def _beside(target: str):
    """A fresh file name in ``target``'s folder (so renaming it into place is atomic), removed on the way out
    unless it was renamed. Dot-prefixed, so it is never taken for a stored file of the folder's kind."""
    folder, base = os.path.split(target)
    os.makedirs(folder, exist_ok=True)
    descriptor, staged = tempfile.mkstemp(dir=folder, prefix=f".{base}.", suffix=".partial")
    os.close(descriptor)
    try:
        yield staged
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(staged)


def _place(store, name: str, path: str) -> str:
    """Rename the local file ``path`` to ``name`` on the filesystem storage, replacing what is there.

    A rename is atomic: a reader finds the old file or the complete new one, never part of it, and two writers of
    one content-addressed name both end with that content under that name (Django's ``save`` would instead pick
    another name for the second). Raises EXDEV when ``path`` is on another disk."""
    target = store.path(name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if store.file_permissions_mode is not None:  # before the rename: the name never shows other permissions
        os.chmod(path, store.file_permissions_mode)
    os.replace(path, target)
    return name


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


def sweep_partials(*, idle: timedelta) -> list[str]:
    """Delete the files an interrupted local write left beside a stored name (``_beside``'s dot-prefixed
    ``.partial`` files: a process killed mid-write never reaches its ``finally``), once nothing has written to them
    for ``idle`` (a live writer keeps touching its file). Answers the names deleted; nothing with a remote store,
    whose puts are atomic and leave no such file."""
    root = local_path("")
    if root is None or not os.path.isdir(root):
        return []
    cutoff, deleted = time.time() - idle.total_seconds(), []
    for folder, _, names in os.walk(root):
        for name in names:
            if not (name.startswith(".") and name.endswith(".partial")):
                continue
            path = os.path.join(folder, name)
            with contextlib.suppress(FileNotFoundError):  # renamed into place or removed a moment ago
                if os.stat(path).st_mtime < cutoff:
                    os.remove(path)
                    deleted.append(os.path.relpath(path, root))
    return deleted
