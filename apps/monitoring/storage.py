"""Content-addressed storage of uploads: the same bytes are stored once, named by their SHA-256."""

import hashlib
import os
import tempfile
from pathlib import Path

from django.conf import settings


def root() -> Path:
    return Path(settings.MEDIA_ROOT) / "monitoring"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(data: bytes, *, kind: str, suffix: str) -> tuple[str, str]:
    """Store ``data`` (atomically: write then rename) and return (sha256, path relative to MEDIA_ROOT)."""
    digest = sha256(data)
    relative = Path("monitoring") / kind / digest[:2] / f"{digest}{suffix}"
    target = Path(settings.MEDIA_ROOT) / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return digest, str(relative)


def read(relative: str) -> bytes:
    return (Path(settings.MEDIA_ROOT) / relative).read_bytes()
