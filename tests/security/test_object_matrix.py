"""The object dimension of the role matrix: writes to a model belong to its team.

The role matrix (tests/core/test_role_matrix.py, test_authz_methods.py) says which roles may use a URL. Here, for
every write a data scientist makes only to their own team's models or to data sets they own (``OWN_TEAM`` in
tests/role_matrix), the valid request of tests/security/cases.py is sent first by a data scientist of another
team, who is refused, told whom to ask and changes nothing; then by the case's actor, a member of the model's team
(or the data set's owner), whose request succeeds with its audit events.
"""

import pytest
from django.test import Client

from apps.core.models import AuditEvent
from tests.role_matrix import PUBLIC, REFUSED, collect_object_dimension, collect_writes
from tests.security.cases import CASES, send, url_for, user

OWN_TEAM, ANY_TEAM = collect_object_dimension()


def last_event() -> int:
    """How many events the writes made (a change of governance state it caused is tested in tests/governance)."""
    return AuditEvent.objects.exclude(action="governance.changed").count()


def scientist_writes() -> set[tuple[str, str]]:
    return {(name, method) for name, methods in collect_writes().items() for method, roles in methods.items()
            if roles != PUBLIC and "data_scientist" in roles}


def test_every_write_of_a_data_scientist_says_whether_it_is_their_teams():
    undecided = {(name, method) for name, method in scientist_writes()
                 if (name, method) not in OWN_TEAM and name not in ANY_TEAM}
    assert undecided == set(), "add each to OWN_TEAM or, saying why, to ANY_TEAM in tests/role_matrix"
    assert set(OWN_TEAM) <= scientist_writes() and set(ANY_TEAM) <= {name for name, _ in scientist_writes()}
    assert {name for name, _ in OWN_TEAM} & set(ANY_TEAM) == set()


def client_of(person) -> Client:
    client = Client()
    client.force_login(person)
    return client


@pytest.mark.parametrize(("url_name", "method"), sorted(OWN_TEAM), ids=[f"{n}-{m}" for n, m in sorted(OWN_TEAM)])
def test_another_teams_scientist_is_refused_and_the_teams_succeeds(url_name, method, ctx):
    write = CASES[(url_name, method)](ctx)
    url = url_for(url_name, write)
    before = last_event()

    refused = send(client_of(user("data_scientist")), method, url, write)

    assert refused.status_code == OWN_TEAM[(url_name, method)], refused.content[:1000]
    assert last_event() == before
    if refused.status_code == REFUSED:
        told = refused.json()["detail"] if write.api else refused.content.decode()
        assert "ask" in told and ("team" in told or "belongs to" in told), told[:1000]
    else:  # a form that offers only the user's own teams
        assert "team" in refused.context["form"].errors

    done = send(client_of(write.actor), method, url, write)

    assert done.status_code in (200, 201, 202, 302), done.content[:1000]
    assert last_event() - before == write.events
