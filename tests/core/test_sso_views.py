"""The single sign-on pages as seen by the test client: off by default, state checked, failures audited and
counted, the no-role page, logout at the provider. The full round trip is in tests/browser/test_sso.py."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from apps.core.models import AuditEvent
from apps.core.roles import Role

ISSUER = "https://idp.invalid"


@pytest.fixture
def sso_on(settings):
    settings.PORTAL_OIDC_ENABLED = True
    settings.PORTAL_OIDC_ISSUER = ISSUER
    settings.PORTAL_OIDC_PROVIDER_NAME = "Acme ID"
    settings.OIDC_RP_CLIENT_ID = "portal"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    # Given one by one, so nothing is discovered over the network.
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{ISSUER}/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{ISSUER}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{ISSUER}/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{ISSUER}/jwks"
    settings.PORTAL_OIDC_END_SESSION_ENDPOINT = f"{ISSUER}/logout"
    settings.PORTAL_OIDC_ROLE_MAP = {"portal-execs": ["executive"]}
    return settings


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["oidc-start", "oidc-callback"])
def test_with_single_sign_on_off_its_urls_lead_back_to_the_login_page(client, name):
    response = client.get(reverse(name), follow=True)
    assert response.redirect_chain[-1][0] == reverse("login")
    assert b"Single sign-on is not configured" in response.content
    assert b"/accounts/sso/start/" not in response.content  # no button


@pytest.mark.django_db
def test_the_login_page_offers_the_provider_when_configured(client, sso_on):
    response = client.get(reverse("login") + "?next=/audit/")
    assert b"Sign in with Acme ID" in response.content
    assert b'href="/accounts/sso/start/?next=/audit/"' in response.content
    assert b'name="password"' in response.content  # local accounts still possible


@pytest.mark.django_db
def test_start_sends_the_browser_to_the_provider_with_state_nonce_and_pkce(client, sso_on):
    response = client.get(reverse("oidc-start"), {"next": "/audit/"})
    target = urlsplit(response["Location"])
    query = {key: values[0] for key, values in parse_qs(target.query).items()}
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{ISSUER}/authorize"
    assert query["client_id"] == "portal" and query["response_type"] == "code"
    assert query["redirect_uri"] == "http://testserver/accounts/sso/callback/"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    stored = client.session["oidc_states"][query["state"]]
    assert stored["nonce"] == query["nonce"] and stored["code_verifier"]
    assert client.session["oidc_login_next"] == "/audit/"


@pytest.mark.django_db
def test_a_callback_with_a_state_this_browser_never_got_is_refused_and_audited(client, sso_on):
    client.get(reverse("oidc-start"))
    response = client.get(reverse("oidc-callback"), {"code": "stolen", "state": "forged"})
    assert response.status_code == 403
    assert b"unknown or already used state" in response.content
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.changes == {"method": [None, "oidc"]} and event.actor is None
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_refusal_at_the_provider_is_audited_with_its_reason_and_spends_the_state(client, sso_on):
    start = client.get(reverse("oidc-start"))
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    response = client.get(reverse("oidc-callback"), {"error": "access_denied", "state": state,
                                                    "error_description": "The user said no"})
    assert response.status_code == 403
    assert AuditEvent.objects.get(action="auth.login_failed").reason == (
        "The identity provider refused the sign-in: access_denied (The user said no)")
    assert state not in client.session["oidc_states"]


@pytest.mark.django_db
def test_repeated_failed_callbacks_lock_the_address_out_of_single_sign_on(client, sso_on):
    sso_on.PORTAL_SSO_MAX_FAILURES = 3
    for n in range(3):
        assert client.get(reverse("oidc-callback"), {"code": "x", "state": f"forged-{n}"}).status_code == 403
    assert client.get(reverse("oidc-start")).status_code == 429
    locked = client.get(reverse("oidc-callback"), {"code": "x", "state": "forged-4"})
    assert locked.status_code == 429 and b"Too many failed single sign-on attempts" in locked.content
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 3


@pytest.mark.django_db
def test_the_no_role_page_names_the_groups_and_those_that_grant_a_role(client, sso_on, make_user):
    client.force_login(make_user(None))
    session = client.session
    session["sso_groups"] = ["staff"]
    session.save()
    response = client.get(reverse("sso-no-role"))
    assert response.status_code == 200
    assert b"<code>staff</code>" in response.content
    assert b"<code>portal-execs</code></td><td>Executive</td>" in response.content


@pytest.mark.django_db
def test_the_no_role_page_sends_someone_with_a_role_home(client, make_user):
    client.force_login(make_user(Role.REVIEWER.value))
    assert client.get(reverse("sso-no-role"))["Location"] == reverse("core:home")


@pytest.mark.django_db
def test_logout_ends_the_portal_session_and_the_provider_s_when_asked(client, sso_on, make_user):
    sso_on.PORTAL_OIDC_LOGOUT_AT_PROVIDER = True
    client.force_login(make_user(Role.EXECUTIVE.value))
    session = client.session
    session["oidc_id_token"] = "the.id.token"
    session.save()
    response = client.post(reverse("logout"))
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{ISSUER}/logout"
    assert parse_qs(target.query) == {"id_token_hint": ["the.id.token"], "client_id": ["portal"],
                                      "post_logout_redirect_uri": ["http://testserver/accounts/login/"]}
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_logout_stays_local_by_default(client, sso_on, make_user):
    client.force_login(make_user(Role.EXECUTIVE.value))
    session = client.session
    session["oidc_id_token"] = "the.id.token"
    session.save()
    assert client.post(reverse("logout"))["Location"] == reverse("login")


@pytest.mark.django_db
def test_an_error_answer_for_no_sign_in_of_this_browser_is_not_quoted_in_the_trail(client, sso_on):
    client.get(reverse("oidc-callback"), {"error": "access_denied", "error_description": "Call 555-0100 now"})
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert "unknown or already used state" in event.reason and "555" not in event.reason
