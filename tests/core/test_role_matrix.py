"""Every URL pattern, requested by every role and by an anonymous visitor.

The matrix (``tests/role_matrix/*.py``, one module per app) must name every URL
of the project (admin aside, which Django guards with is_staff): a new view fails
``test_every_url_is_in_the_matrix`` until someone decides who may use it.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from apps.inventory.models import Team
from tests.role_matrix import EVERYONE, PUBLIC, collect_matrix

MATRIX = collect_matrix()


def iter_url_names(resolver: URLResolver | None = None, namespace: str = ""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from iter_url_names(entry, inner)
        elif isinstance(entry, URLPattern):
            if entry.name is None:
                raise AssertionError(f"URL pattern {entry.pattern} has no name; name it and add it to MATRIX")
            if "format" in entry.pattern.converters or "(?P<format>" in str(entry.pattern):
                continue  # DRF's ``.json`` suffix duplicates of a route already in the matrix
            yield f"{namespace}{entry.name}"


def test_every_url_is_in_the_matrix():
    names = set(iter_url_names())
    assert names - set(MATRIX) == set(), "new URLs need an entry in MATRIX"
    assert set(MATRIX) - names == set(), "MATRIX names URLs that no longer exist"


CASES = [(name, role) for name in MATRIX for role in [*sorted(EVERYONE), "no_role", None]]


@pytest.mark.parametrize(("url_name", "role"), CASES, ids=[f"{n}-{r or 'anonymous'}" for n, r in CASES])
def test_role_matrix(url_name, role, client_as, db):
    method, allowed, kwargs_factory = MATRIX[url_name]
    client = client_as(role)
    url = reverse(url_name, kwargs=kwargs_factory() if kwargs_factory else None)
    if role not in (None, "no_role"):
        # The role dimension, on objects of the user's own team; tests/security/test_object_matrix.py
        # probes another team's.
        client.user.teams.add(*Team.objects.all())
    response = getattr(client, method)(url)
    is_api = url.startswith("/api/")
    if allowed == PUBLIC or (role in allowed):
        # 400/405/409 mean the request got past the access check (empty or wrong-method probe).
        assert response.status_code < 500 and response.status_code not in (401, 403, 404), (
            f"{role} should reach {url}, got {response.status_code}")
        if response.status_code in (301, 302) and allowed != PUBLIC:
            assert not response["Location"].startswith(reverse("login")), f"{role} was sent to log in"
    elif role is None:
        if is_api:
            assert response.status_code in (401, 403)
        else:
            assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == 403, f"{role} must be refused {url}, got {response.status_code}"


@pytest.mark.parametrize("role", [*sorted(EVERYONE - {"admin"}), "no_role"])
def test_only_admins_reach_the_django_admin(role, client_as):
    response = client_as(role).get(reverse("admin:index"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admins_reach_the_django_admin(client_as):
    assert client_as("admin").get(reverse("admin:auth_user_changelist")).status_code == 200
