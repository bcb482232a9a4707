import re

import pytest
from django.urls import reverse

from apps.core.models import ApiToken, AuditEvent, hash_api_key
from apps.core.services import audit_record
from tests.factories import PASSWORD


def test_it_redirects_anonymous_visitors_to_the_login_page(client, db):
    response = client.get(reverse("inventory:index"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/inventory/"


def test_it_logs_in_with_a_password_and_lands_on_home(client, make_user):
    make_user("data_scientist", username="erin")
    response = client.post(reverse("login"), {"username": "erin", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("core:home")
    assert b"Your models" in response.content


def test_it_explains_a_wrong_password(client, make_user):
    make_user("executive", username="erin")
    response = client.post(reverse("login"), {"username": "erin", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_logout_needs_a_post(client_as):
    client = client_as("reviewer")
    assert client.get(reverse("logout")).status_code == 405
    client.post(reverse("logout"))
    assert client.get(reverse("core:home")).status_code == 302


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        ("executive", "Portfolio overview", "Administration"),
        ("reviewer", "Reviews and risk", "Your models"),
        ("data_scientist", "Your models", "Reviews and risk"),
        ("admin", "Administration", "Your models"),
    ],
)
def test_home_shows_the_sections_of_the_users_role(client_as, role, shown, hidden):
    content = client_as(role).get(reverse("core:home")).content.decode()
    assert shown in content and hidden not in content


def test_navigation_hides_the_admin_link_from_non_admins(client_as):
    content = client_as("executive").get(reverse("core:home")).content.decode()
    assert 'href="/admin/"' not in content
    assert 'href="/inventory/"' in content


def test_a_user_without_a_role_is_told_to_ask_for_one(client_as):
    response = client_as("no_role").get(reverse("core:home"))
    assert response.status_code == 403
    assert b"Ask an administrator" in response.content


@pytest.fixture
def trail(make_user):
    ada, bob = make_user("admin", username="ada"), make_user("reviewer", username="bob")
    for i in range(60):
        audit_record(actor=ada if i % 2 else bob, action="model.updated" if i % 3 else "model.created",
                     object_type="inventory.model", object_id=str(i % 4), object_repr=f"Model {i % 4}")
    return ada, bob


def test_audit_page_filters_by_actor_and_action(client_as, trail):
    response = client_as("executive").get(reverse("core:audit"), {"actor": "bob", "action": "model.created"})
    events = list(response.context["events"])
    assert events and all(e.actor_username == "bob" and e.action == "model.created" for e in events)
    assert response.context["page_obj"].paginator.count == 10


def test_audit_page_paginates_newest_first(client_as, trail):
    client = client_as("executive")
    first = client.get(reverse("core:audit")).context
    second = client.get(reverse("core:audit"), {"page": 2}).context
    assert [e.seq for e in first["events"]][:2] == [60, 59]
    assert len(first["events"]) == 50 and len(second["events"]) == 10


def test_audit_page_filters_one_object_and_says_when_nothing_matches(client_as, trail):
    client = client_as("executive")
    response = client.get(reverse("core:audit"), {"object_type": "inventory.model", "object_id": "3"})
    assert {e.object_id for e in response.context["events"]} == {"3"}
    empty = client.get(reverse("core:audit"), {"actor": "nobody"})
    assert b"No events match these filters" in empty.content


def test_audit_page_rejects_a_malformed_date_with_a_message(client_as, trail):
    response = client_as("executive").get(reverse("core:audit"), {"date_from": "yesterday"})
    assert response.status_code == 200
    assert b"Enter a valid date" in response.content


def test_audit_page_returns_only_the_table_to_htmx(client_as, trail):
    response = client_as("executive").get(reverse("core:audit"), HTTP_HX_REQUEST="true")
    assert b"<table" in response.content and b"<html" not in response.content


def test_account_page_shows_a_new_token_once_and_audits_it(client_as):
    client = client_as("data_scientist", username="sam")
    response = client.post(reverse("core:api-token-create"), {"name": "CI"}, follow=True)
    token = ApiToken.objects.get(user__username="sam")
    key = re.search(r'<code class="token">([^<]+)</code>', response.content.decode()).group(1)
    assert token.key_hash == hash_api_key(key)
    assert key not in client.get(reverse("core:account")).content.decode()
    event = AuditEvent.objects.get(action="api_token.created")
    assert event.actor_username == "sam" and key not in str(event.hashed_fields())


def test_account_page_shows_the_users_history(client_as):
    client = client_as("data_scientist", username="sam", first_name="Sam", last_name="Scientist")
    client.post(reverse("core:api-token-create"), {"name": "CI"})
    client.post(reverse("core:api-token-revoke"), {"token": ApiToken.objects.get().pk})
    content = client.get(reverse("core:account")).content.decode()
    assert "Sam Scientist created API token" in content and "Sam Scientist revoked API token" in content


def test_healthz_answers_without_login(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert client.head("/healthz").status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_healthz_only_reads(client, db, method):
    assert getattr(client, method)("/healthz").status_code == 405


def test_pages_carry_security_headers(client_as):
    response = client_as("executive").get(reverse("core:home"))
    assert response["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Request-ID"]


def test_pages_load_nothing_from_other_hosts(client_as):
    content = client_as("admin").get(reverse("core:home")).content.decode()
    assert "<script src=\"/static/" in content
    assert "https://" not in content.replace("https://www.w3.org", "")


def test_repeated_wrong_passwords_lock_the_account_for_a_while(client, make_user, settings):
    make_user("executive", username="erin")
    for _ in range(settings.PORTAL_LOGIN_MAX_FAILURES):
        client.post(reverse("login"), {"username": "erin", "password": "nope"})
    locked = client.post(reverse("login"), {"username": "erin", "password": PASSWORD})
    assert b"Too many failed attempts" in locked.content
    assert "_auth_user_id" not in client.session
