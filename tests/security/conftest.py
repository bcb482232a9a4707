from types import SimpleNamespace

import pytest


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    """Uploads (evaluations, evidence, import previews) go to a folder of the test's own."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def ctx(monkeypatch, db):
    """What a case in ``tests/security/cases.py`` may use besides the database."""
    return SimpleNamespace(monkeypatch=monkeypatch)
