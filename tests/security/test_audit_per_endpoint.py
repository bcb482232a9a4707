"""Every request that changes state writes its audit events: exactly one, or the documented number.

The cases (``tests/security/cases.py``) send a valid request as a role allowed to make it. A new unsafe
method in the role matrix fails ``test_every_state_changing_request_has_a_case`` until someone writes one.
"""

import pytest
from django.urls import reverse

from apps.core.models import AuditEvent
from tests.role_matrix import PUBLIC, collect_writes
from tests.security.cases import CASES, EXPECTED_EVENTS, send, url_for

WRITES = collect_writes()
STATE_CHANGING = {(name, method) for name, methods in WRITES.items() for method in methods}


def test_every_state_changing_request_has_a_case():
    assert STATE_CHANGING - set(CASES) == set(), "add a case to tests/security/cases.py"
    assert set(CASES) - STATE_CHANGING == set(), "a case names a request no role may make"


def test_only_documented_requests_write_other_than_one_event():
    assert set(EXPECTED_EVENTS) <= set(CASES)


@pytest.mark.parametrize(("url_name", "method"), sorted(CASES), ids=[f"{n}-{m}" for n, m in sorted(CASES)])
def test_a_valid_request_writes_its_audit_events(url_name, method, client, ctx):
    write = CASES[(url_name, method)](ctx)
    if write.actor is not None:
        assert WRITES[url_name][method] == PUBLIC or _roles(write.actor) & WRITES[url_name][method]
        client.force_login(write.actor)
    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    response = send(client, method, url_for(url_name, write), write)
    assert response.status_code in (200, 201, 202, 204, 302), (response.status_code, response.content[:2000])
    if response.status_code == 302:
        assert not response["Location"].startswith(reverse("login")) or url_name == "logout"
    # The governance state a write changes is audited after it (governance.changed, system-made, tested in
    # tests/governance); these cases count the events of the write itself.
    new = list(AuditEvent.objects.filter(seq__gt=before).exclude(action="governance.changed").order_by("seq"))
    assert len(new) == write.events, [e.action for e in new]
    if write.actor is not None:
        assert {e.actor_username for e in new} <= {write.actor.get_username()}, "an event names someone else"


def _roles(user) -> set[str]:
    from apps.core.roles import user_roles

    return {role.value for role in user_roles(user)}
