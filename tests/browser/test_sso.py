"""Single sign-on end to end: Chromium, the portal and a real OpenID Connect provider in a second process.

The provider is django-oauth-toolkit (``tests/sso_provider``) on its own SQLite database and loopback port, with
an RSA signing key made at its start. The browser clicks "Sign in with ...", signs in at the provider, consents,
and lands in the portal with the role its groups map to. Nothing is mocked: discovery, the token, the JWKS and
userinfo requests go over HTTP to the provider.
"""

import copy
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from apps.core import sso
from apps.core.models import AuditEvent, ExternalIdentity
from apps.core.roles import Role, user_roles
from tests.browser.test_accessibility import AXE, axe_violations
from tests.sso_provider.seed import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID, CLIENT_SECRET = "mlops-portal", "test-client-secret-0123456789"
PROVIDER = "Test IdP"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def provider(live_server, tmp_path_factory):
    """The provider's issuer URL; its client redirects to this test's live server."""
    folder = tmp_path_factory.mktemp("identity-provider")
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.sso_provider.settings",
           "SSO_PROVIDER_DB": str(folder / "provider.sqlite3"),
           "SSO_PROVIDER_REDIRECT_URI": f"{live_server.url}/accounts/sso/callback/",
           "SSO_PROVIDER_POST_LOGOUT_URI": f"{live_server.url}/accounts/login/",
           "SSO_CLIENT_ID": CLIENT_ID, "SSO_CLIENT_SECRET": CLIENT_SECRET}
    subprocess.run([sys.executable, "-m", "tests.sso_provider.seed"], env=env, cwd=ROOT, check=True, timeout=120)
    with open(folder / "server.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}/o"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{issuer}/.well-known/openid-configuration", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"the provider did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield issuer
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture
def sso_on(settings, provider):
    settings.PORTAL_OIDC_ENABLED = True
    settings.PORTAL_OIDC_ISSUER = provider
    settings.PORTAL_OIDC_PROVIDER_NAME = PROVIDER
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_RP_SCOPES = "openid email profile groups"
    settings.PORTAL_OIDC_ROLE_MAP = {"portal-execs": ["executive"], "portal-reviewers": ["reviewer"]}
    sso._discovery.clear()
    return settings


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    yield page
    context.close()


def sign_in_at_provider(page, live_server, username: str) -> list[str]:
    """From the portal's login page through the provider's login and consent; the callback URLs requested."""
    callbacks = []
    page.on("request", lambda r: callbacks.append(r.url) if "/accounts/sso/callback/" in r.url else None)
    page.goto(f"{live_server.url}/")
    assert axe_violations(page) == []
    page.get_by_role("link", name=f"Sign in with {PROVIDER}").click()
    page.get_by_label("Provider username").fill(username)
    page.get_by_label("Provider password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in at the provider").click()
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{live_server.url}/**")
    return callbacks


def test_a_person_signs_in_through_the_provider_and_lands_with_the_mapped_role(sso_on, page, live_server, provider):
    sign_in_at_provider(page, live_server, "erin")

    # An executive lands on the portfolio, as after a password sign-in; Home shows the role's own section.
    page.wait_for_url(f"{live_server.url}/inventory/dashboard/")
    page.goto(f"{live_server.url}/")
    assert page.get_by_role("heading", name="Welcome, Erin").is_visible()
    # The executive's section of the home page: shown only to the executive role.
    assert page.get_by_role("heading", name="Portfolio overview").is_visible()
    assert not page.get_by_role("heading", name="Reviews and risk").is_visible()
    identity = ExternalIdentity.objects.select_related("user").get(issuer=provider)
    assert identity.user.username == "erin"
    assert user_roles(identity.user) == {Role.EXECUTIVE}
    event = AuditEvent.objects.filter(action="auth.login_succeeded").get()
    assert (event.actor_id, event.changes["method"]) == (identity.user.pk, [None, "oidc"])
    assert "portal-execs" in event.reason


def test_a_replayed_callback_is_refused_and_audited(sso_on, page, live_server):
    callbacks = sign_in_at_provider(page, live_server, "rita")
    page.wait_for_url(f"{live_server.url}/reviews/")  # a reviewer's start page
    page.goto(f"{live_server.url}/")
    assert page.get_by_role("heading", name="Reviews and risk").is_visible()
    assert len(callbacks) == 1

    response = page.goto(callbacks[0])  # the same code and state, a second time

    assert response.status == 403
    assert "unknown or already used state" in page.get_by_role("alert").inner_text()
    assert axe_violations(page) == []
    failure = AuditEvent.objects.filter(action="auth.login_failed").get()
    assert failure.changes["method"] == [None, "oidc"]
    assert "already used state" in failure.reason


def test_a_person_whose_groups_map_to_no_role_is_told_so(sso_on, page, live_server):
    sign_in_at_provider(page, live_server, "nora")

    page.wait_for_url(f"{live_server.url}/accounts/sso/no-role/")
    assert page.get_by_role("heading", name="You are signed in, but have no role in the portal").is_visible()
    assert page.get_by_role("listitem").filter(has_text="staff").first.is_visible()
    assert axe_violations(page) == []
    nora = ExternalIdentity.objects.get(user__username="nora").user
    assert user_roles(nora) == frozenset()
    # The portal's pages stay closed to her.
    assert page.goto(f"{live_server.url}/inventory/").status == 403


def test_with_local_login_off_the_page_offers_only_single_sign_on(sso_on, page, live_server):
    sso_on.PORTAL_LOCAL_LOGIN = False
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.get_by_role("link", name=f"Sign in with {PROVIDER}").is_visible()
    assert page.get_by_label("Password").count() == 0
    assert axe_violations(page) == []


def test_logout_at_the_provider_ends_both_sessions(sso_on, page, live_server, provider):
    sso_on.PORTAL_OIDC_LOGOUT_AT_PROVIDER = True  # the end-session endpoint comes from discovery
    # What settings.py adds when PORTAL_OIDC_LOGOUT_AT_PROVIDER is set at start-up: the logout form redirects there.
    policy = copy.deepcopy(sso_on.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["form-action"].append(provider.removesuffix("/o"))
    sso_on.CONTENT_SECURITY_POLICY = policy
    sign_in_at_provider(page, live_server, "erin")
    page.wait_for_url(f"{live_server.url}/inventory/dashboard/")

    page.get_by_role("button", name="Log out").click()

    page.wait_for_url(f"{live_server.url}/accounts/login/**")
    assert page.get_by_role("link", name=f"Sign in with {PROVIDER}").is_visible()
    page.goto(f"{live_server.url}/")
    assert page.url.startswith(f"{live_server.url}/accounts/login/")  # the portal's session is over
    page.get_by_role("link", name=f"Sign in with {PROVIDER}").click()
    # ... and the provider's: it asks for the password again (not straight for consent).
    page.get_by_label("Provider password").wait_for(timeout=15_000)
