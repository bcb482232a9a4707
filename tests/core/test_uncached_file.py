"""``uncached.UncachedFile``: a file written once past the page cache (O_DIRECT) holds exactly the bytes written,
whatever their sizes and alignment, and falls back to the cache where direct writes are refused."""

import contextlib
import errno
import fcntl
import os
import random

import pytest

from apps.core import uncached
from apps.core.uncached import UncachedFile

SIZES = [0, 1, 100, 4095, 4096, 4097, 5000, 65_536, 70_000, 300_001]


def written(path, chunks, **kwargs) -> bytes:
    with UncachedFile(str(path), **kwargs) as out:
        for chunk in chunks:
            assert out.write(chunk) == memoryview(chunk).nbytes
    return path.read_bytes()


@pytest.mark.parametrize("seed", range(12))
def test_the_file_holds_exactly_the_bytes_written_whatever_their_sizes(tmp_path, seed):
    rng = random.Random(seed)
    chunks = [os.urandom(rng.choice(SIZES)) for _ in range(rng.randint(0, 14))]
    block_bytes = rng.choice([4096, 8192, 65_536, 1 << 20, 5000])  # 5000: staged in a whole number of pages
    assert written(tmp_path / "file", chunks, block_bytes=block_bytes) == b"".join(chunks)


def test_memory_views_of_any_shape_are_written_as_their_bytes(tmp_path):
    data = bytearray(os.urandom(3 * 8192 + 17))
    chunks = [memoryview(data)[:5], memoryview(data)[5:].cast("B"), memoryview(bytes(8)).cast("Q")]
    assert written(tmp_path / "file", chunks, block_bytes=8192) == bytes(data) + bytes(8)


def test_it_writes_past_the_cache_where_the_file_system_allows_it(tmp_path):
    with UncachedFile(str(tmp_path / "file")) as out:
        on = bool(fcntl.fcntl(out.fd, fcntl.F_GETFL) & os.O_DIRECT)
        assert out.direct == on  # what it says is what the descriptor has
        out.write(os.urandom(3 * 4096))
    if not on:  # this disk refuses O_DIRECT: the cache, and the same bytes
        assert (tmp_path / "file").stat().st_size == 3 * 4096
    assert oct((tmp_path / "file").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_file_system_that_refuses_the_flag_gets_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(uncached, "_direct", lambda fd, on: False)
    chunks = [os.urandom(5000), os.urandom(70_000)]
    with UncachedFile(str(tmp_path / "file"), block_bytes=8192) as out:
        assert not out.direct
        for chunk in chunks:
            out.write(chunk)
    assert (tmp_path / "file").read_bytes() == b"".join(chunks)


def test_a_direct_write_refused_midway_continues_through_the_cache_losing_nothing(tmp_path, monkeypatch):
    real, refused = os.write, []

    def write(fd, data):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT and len(refused) < 1 and len(data) >= 8192:
            refused.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, data)

    monkeypatch.setattr(uncached.os, "write", write)
    chunks = [os.urandom(8192), os.urandom(3), os.urandom(20_000), os.urandom(9000)]
    with UncachedFile(str(tmp_path / "file"), block_bytes=8192) as out:
        direct_at_start = out.direct
        for chunk in chunks:
            out.write(chunk)
        assert not out.direct  # after the refusal, the cache
    assert (tmp_path / "file").read_bytes() == b"".join(chunks)
    assert refused == ([8192] if direct_at_start else [])


def test_other_write_errors_are_raised_and_the_descriptor_still_closed(tmp_path, monkeypatch):
    out = UncachedFile(str(tmp_path / "file"), block_bytes=4096)
    fd = out.fd

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(uncached.os, "write", full)
    with pytest.raises(OSError) as caught:
        out.write(os.urandom(4096))
    assert caught.value.errno == errno.ENOSPC
    with contextlib.suppress(OSError):  # the staged bytes cannot be written either
        out.close()
    assert out.fd == -1
    with pytest.raises(OSError):
        os.fstat(fd)
