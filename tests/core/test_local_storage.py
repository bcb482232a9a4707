"""Stored files on the default filesystem storage, written by requests and workers that race each other.

Found by CI: fifteen replays of one upload stored the same content-addressed Parquet copy at once; one request
saw another's half-written file, took it for an interrupted write, deleted it, and a third request asked the
size of a file that was no longer there (a 500). On local disk a file now appears under its name only whole.
"""

import errno
import os
import stat
import time
from datetime import timedelta

import pytest

from apps.core import storage as files
from tests.reviews.test_concurrency import race

NAME = "monitoring/parquet/ab/abcdef.parquet"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _folder_listing(settings) -> list[str]:
    return sorted(os.listdir(os.path.join(settings.MEDIA_ROOT, os.path.dirname(NAME))))


def test_writers_racing_on_one_name_all_succeed_with_one_whole_file(settings):
    data = os.urandom(4 * 1024 * 1024)  # long enough to write that the writers overlap

    outcomes = race([lambda: files.put(NAME, data) for _ in range(12)])

    assert outcomes == [NAME] * 12  # no exception, no second name (Django's save would pick ``…_a1b2c3d``)
    assert files.read(NAME) == data
    assert _folder_listing(settings) == ["abcdef.parquet"]  # no staged copy left behind


def test_a_file_being_written_is_not_visible_under_its_name(settings):
    seen = []

    class Reader:
        """A handle whose reads look at the name while the storage is still copying from it."""
        def __init__(self):
            self.blocks = [b"x" * files.COPY_BLOCK, b"y" * 10, b""]

        def seek(self, offset):
            assert offset == 0

        def read(self, size=-1):
            seen.append(files.exists(NAME))
            return self.blocks.pop(0)

    files.put_file(NAME, Reader(), size=files.COPY_BLOCK + 10)

    assert seen == [False, False, False]
    assert files.read(NAME) == b"x" * files.COPY_BLOCK + b"y" * 10


def test_a_truncated_local_copy_is_replaced_and_a_whole_one_kept(settings):
    target = os.path.join(settings.MEDIA_ROOT, NAME)
    os.makedirs(os.path.dirname(target))
    with open(target, "wb") as handle:
        handle.write(b"half")

    assert files.put(NAME, b"the whole file") == NAME
    assert files.read(NAME) == b"the whole file"
    inode = os.stat(target).st_ino
    assert files.put(NAME, b"the whole file") == NAME
    assert os.stat(target).st_ino == inode  # a complete copy is not written again


def test_a_stored_file_gets_the_configured_permissions(settings):
    settings.FILE_UPLOAD_PERMISSIONS = 0o640
    files.put(NAME, b"data")
    mode = stat.S_IMODE(os.stat(os.path.join(settings.MEDIA_ROOT, NAME)).st_mode)
    assert mode == 0o640


def test_a_part_sent_again_replaces_the_stored_one(settings):
    name = "monitoring/uploads/7/part-00001"
    files.put(name, b"first")
    with open(os.path.join(settings.MEDIA_ROOT, "again"), "wb+") as handle:
        handle.write(b"again")
        assert files.put_file(name, handle, size=5, replace=True) == name
    assert files.read(name) == b"again"


def test_a_file_on_another_disk_is_copied_in_and_moved_otherwise(settings, tmp_path, monkeypatch):
    source = tmp_path / "checked.parquet"
    source.write_bytes(b"columns")
    real_replace = os.replace

    def across_disks(src, dst):
        if src == str(source):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", across_disks)
    assert files.put_path(NAME, str(source)) == NAME
    assert files.read(NAME) == b"columns"
    assert _folder_listing(settings) == ["abcdef.parquet"]

    monkeypatch.setattr(os, "replace", real_replace)
    other = "monitoring/parquet/ab/other.parquet"
    assert files.put_path(other, str(source)) == other
    assert not source.exists()  # renamed, not copied


def test_the_sweep_deletes_what_a_write_killed_midway_left_and_nothing_else(settings):
    files.put(NAME, b"whole")
    folder = os.path.dirname(files.local_path(NAME))
    dead = os.path.join(folder, ".abcdef.parquet.k3x9_q.partial")  # as ``_beside`` names it; its writer killed
    live = os.path.join(folder, ".abcdef.parquet.a1b2c3.partial")  # a writer still at work
    kept = [os.path.join(folder, name) for name in ("report.partial", ".hidden")]
    for path in (dead, live, *kept):
        with open(path, "wb") as handle:
            handle.write(b"half")
    an_hour_ago = time.time() - 3601
    for path in (dead, *kept):
        os.utime(path, (an_hour_ago, an_hour_ago))

    assert files.sweep_partials(idle=timedelta(hours=1)) == ["monitoring/parquet/ab/.abcdef.parquet.k3x9_q.partial"]

    assert not os.path.exists(dead) and os.path.exists(live) and all(map(os.path.exists, kept))
    assert files.read(NAME) == b"whole"


def test_the_daily_sweep_is_scheduled_and_counts_what_it_deleted(settings):
    from celery.schedules import crontab

    from apps.core.tasks import sweep_storage

    entry = settings.CELERY_BEAT_SCHEDULE["sweep-storage"]
    assert entry["task"] == sweep_storage.name and isinstance(entry["schedule"], crontab)
    files.put(NAME, b"whole")
    leftover = os.path.join(os.path.dirname(files.local_path(NAME)), ".abcdef.parquet.zz.partial")
    with open(leftover, "wb") as handle:
        handle.write(b"half")
    os.utime(leftover, (time.time() - 7200,) * 2)

    assert sweep_storage() == 1 and sweep_storage() == 0
