import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.core.models import AuditEvent
from apps.core.roles import user_roles
from apps.demo.management.commands import seed_demo
from apps.demo.users import DEMO_USERS

DEMO_NAMES = [d.username for d in DEMO_USERS]


@pytest.fixture(autouse=True)
def _debug_like_make_run(settings):
    settings.DEBUG = True  # pytest-django forces DEBUG off; seed_demo is for debug installs


@pytest.fixture
def users_only(monkeypatch):
    """The portfolio takes seconds to build; tests about the users leave it out."""
    monkeypatch.setattr(seed_demo, "PORTFOLIO_SEEDS", ())


def test_it_creates_one_user_per_role_with_the_demo_password(db, users_only):
    call_command("seed_demo")
    users = {u.username: u for u in get_user_model().objects.filter(username__in=DEMO_NAMES)}
    assert set(users) == {"executive", "reviewer", "reviewer2", "scientist", "admin"}
    assert all(u.check_password("portal-demo") for u in users.values())
    assert {r.value for r in user_roles(users["reviewer2"])} == {"reviewer"}
    assert users["admin"].is_staff and not users["executive"].is_staff


def test_it_is_idempotent_and_its_evaluations_are_explained_when_it_ends(db):
    from apps.monitoring.models import Evaluation

    call_command("seed_demo")
    events, users = AuditEvent.objects.count(), get_user_model().objects.count()
    call_command("seed_demo")
    assert get_user_model().objects.count() == users
    assert AuditEvent.objects.count() == events
    # The seed explains each evaluation itself (no worker may run yet), validation before production.
    found = [e.metrics["explanations"] for e in Evaluation.objects.filter(status="done")]
    assert found and all(f["status"] == "done" for f in found)
    assert any("features" in f.get("shift", {}) for f in found)


def test_it_refuses_to_run_in_production_unless_forced(db, settings, users_only):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="Refusing to create demo users"):
        call_command("seed_demo")
    assert not get_user_model().objects.exists()
    call_command("seed_demo", "--force")
    assert get_user_model().objects.filter(username__in=DEMO_NAMES).count() == 5


def test_demo_users_can_log_in(client, db, users_only):
    call_command("seed_demo")
    assert client.login(username="reviewer", password="portal-demo")
    assert client.get("/").status_code == 200
