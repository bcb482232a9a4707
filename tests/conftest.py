import pytest

from apps.core.roles import Role
from tests.factories import UserFactory

ROLE_NAMES = [role.value for role in Role]


@pytest.fixture
def make_user(db):
    def make(role: str | None = None, **kwargs):
        return UserFactory(roles=[role] if role else [], **kwargs)

    return make


@pytest.fixture
def client_as(client, make_user):
    """``client_as("reviewer")`` returns a test client logged in as a fresh user with that role."""

    def login(role: str | None, **kwargs):
        if role is not None:
            client.force_login(make_user(role if role != "no_role" else None, **kwargs))
        return client

    return login


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 is deliberately slow; tests create hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
