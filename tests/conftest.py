import pytest

from apps.core.roles import Role
from tests.factories import UserFactory
from tests.s3_server import s3_server

ROLE_NAMES = [role.value for role in Role]


@pytest.fixture(scope="module")
def s3_endpoint():
    """(url, boto3 client) of a real S3 server on loopback (moto's), one per test module that asks; no bucket yet."""
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def make_user(db):
    def make(role: str | None = None, **kwargs):
        return UserFactory(roles=[role] if role else [], **kwargs)

    return make


@pytest.fixture
def client_as(client, make_user):
    """``client_as("reviewer")`` returns a test client logged in as a fresh user with that role, who is
    ``client.user`` (e.g. to make them a member of a model's team)."""

    def login(role: str | None, **kwargs):
        if role is not None:
            client.user = make_user(role if role != "no_role" else None, **kwargs)
            client.force_login(client.user)
        return client

    return login


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 is deliberately slow; tests create hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _tasks_run_inline(request):
    """Unit tests run Celery tasks in-process; tests marked ``worker`` use the real broker and worker.

    An eager ``apply_async`` runs its task with Celery's process-wide "join will block" flag set and puts back
    the value it found: two at once on two threads (a live server's request and the test's own) can leave it
    set, and every later ``result.get()`` then refuses ("Never call result.get() within a task"). Each test
    starts and ends with it clear."""
    from celery._state import _set_task_join_will_block

    from mlops_portal.celery import app

    eager = request.node.get_closest_marker("worker") is None
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = eager
    _set_task_join_will_block(False)
    yield
    _set_task_join_will_block(False)
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Transactional tests (real workers, browsers) flush the database after each test, which removes
    the rows data migrations created (risk matrix, policies, checklists); put them back first."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        return
    request.getfixturevalue("transactional_db")
    import importlib

    from django.apps import apps

    from apps.core.roles import sync_role_permissions

    # Every data migration, or the policies lose what a later one set (high and critical tiers suspend on a breach).
    for module, function in (("apps.risk.migrations.0002_defaults", "seed"),
                             ("apps.risk.migrations.0005_risk_acceptance_and_suspension",
                              "suspend_on_breach_for_high_tiers"),
                             ("apps.reviews.migrations.0002_checklist_items", "seed"),
                             ("apps.compliance.migrations.0002_load_frameworks", "load")):
        getattr(importlib.import_module(module), function)(apps, None)
    sync_role_permissions()


IN_PROCESS_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.fixture(scope="session", autouse=True)
def _in_process_cache():
    """Unit tests keep throttle counters in process memory: the shared default (a database table) would add
    its queries to every API call and blur the query counts the tests pin. tests/core/test_shared_cache.py
    tests the shared default itself."""
    from django.test.utils import override_settings

    with override_settings(CACHES=IN_PROCESS_CACHE):
        yield


@pytest.fixture(autouse=True)
def _fresh_cache(_in_process_cache):
    """Throttle counters and login lockouts live in the cache; each test starts without them."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _own_audit_checkpoints(settings, tmp_path, monkeypatch):
    """Each test anchors its own audit chain: checkpoints from another test's database would not match.
    The environment variable reaches real worker and beat processes too."""
    path = tmp_path / "audit" / "checkpoints.jsonl"
    settings.PORTAL_AUDIT_CHECKPOINT_FILE = path
    monkeypatch.setenv("PORTAL_AUDIT_CHECKPOINT_FILE", str(path))
    return path
