"""Single sign-on's accounts and roles: claims mapped through PORTAL_OIDC_ROLE_MAP, re-applied at every sign-in."""

import pytest

from apps.core import services
from apps.core.models import AuditEvent, ExternalIdentity
from apps.core.roles import Role, user_roles
from apps.core.sso import role_map_problems, roles_from_claims
from tests.factories import UserFactory

ISSUER = "https://login.example.org/realms/acme"
ROLE_MAP = {"portal-execs": ["executive"], "portal-reviewers": ["reviewer"], "ml-team": ["data_scientist", "reviewer"]}


def test_it_maps_each_listed_group_to_its_roles():
    roles, groups = roles_from_claims({"groups": ["ml-team", "staff"]}, claim="groups", role_map=ROLE_MAP)
    assert roles == {Role.DATA_SCIENTIST, Role.REVIEWER}
    assert groups == ["ml-team", "staff"]


def test_a_claim_holding_one_group_as_a_string_counts():
    roles, _ = roles_from_claims({"roles": "portal-execs"}, claim="roles", role_map=ROLE_MAP)
    assert roles == {Role.EXECUTIVE}


def test_unmapped_or_missing_groups_grant_no_role():
    assert roles_from_claims({"groups": ["staff"]}, claim="groups", role_map=ROLE_MAP)[0] == frozenset()
    assert roles_from_claims({}, claim="groups", role_map=ROLE_MAP) == (frozenset(), [])


def test_a_role_the_portal_does_not_have_is_reported():
    assert role_map_problems({"execs": ["exec"], "ok": ["admin"]}) == [
        "execs:exec names no portal role (use one of admin, data_scientist, executive, reviewer)"]


def sign_in(sub="abc-123", roles=frozenset({Role.EXECUTIVE}), **claims):
    claims = {"sub": sub, "preferred_username": "erin", "email": "erin@example.org", "given_name": "Erin",
              **claims}
    return services.sso_sign_in(issuer=ISSUER, claims=claims, roles=roles, username_claim="preferred_username")


@pytest.mark.django_db
def test_a_first_sign_in_creates_an_account_linked_by_issuer_and_subject():
    user = sign_in()
    assert (user.username, user.email, user.first_name) == ("erin", "erin@example.org", "Erin")
    assert not user.has_usable_password()
    assert ExternalIdentity.objects.get(issuer=ISSUER, subject="abc-123").user == user
    assert user_roles(user) == {Role.EXECUTIVE}
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {"user.created", "user.roles_synced"}


@pytest.mark.django_db
def test_the_next_sign_in_finds_the_same_account_and_re_applies_the_roles():
    first = sign_in()
    again = sign_in(roles=frozenset({Role.REVIEWER}), email="erin.new@example.org")
    assert again.pk == first.pk
    again.refresh_from_db()
    assert again.email == "erin.new@example.org"
    assert user_roles(again) == {Role.REVIEWER}
    synced = AuditEvent.objects.filter(action="user.roles_synced").order_by("seq").last()
    assert synced.changes == {"roles": [["executive"], ["reviewer"]]}


@pytest.mark.django_db
def test_a_group_removed_at_the_provider_removes_the_role_and_the_admin_site():
    user = sign_in(roles=frozenset({Role.ADMIN}))
    assert user.is_staff
    user = sign_in(roles=frozenset())
    user.refresh_from_db()
    assert user_roles(user) == frozenset() and not user.is_staff


@pytest.mark.django_db
def test_an_unchanged_sign_in_writes_no_role_event():
    sign_in()
    before = AuditEvent.objects.count()
    sign_in()
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db
def test_it_never_takes_over_a_local_account_of_the_same_name_or_email():
    local = UserFactory(username="erin", email="erin@example.org", roles=[Role.ADMIN])
    user = sign_in(roles=frozenset())
    assert user.pk != local.pk and user.username == "erin-sso"
    assert user_roles(local) == {Role.ADMIN}
    assert sign_in(sub="other", roles=frozenset()).username == "erin-sso2"


@pytest.mark.django_db
def test_a_superuser_s_powers_do_not_come_from_the_provider():
    user = sign_in()
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    assert sign_in(roles=frozenset()).is_superuser
    assert not AuditEvent.objects.filter(action="user.roles_synced", changes__roles__1=[]).exists()
