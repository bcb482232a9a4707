"""Every URL, every HTTP method, as every role, an account without a role and an anonymous visitor.

Who may read a URL comes from ``MATRIX`` and who may use each unsafe method from ``collect_writes()``
(tests/role_matrix). Anyone else is refused (403, or 405 where the view has no such method) and nothing
changes: unsafe methods carry the valid body of the URL's case in ``tests/security/cases.py`` where there
is one, so a 2xx would be a real write. Anonymous visitors are sent to log in (pages) or get 401/403 (API).
No request answers 500.
"""

import pytest
from django.test import Client
from django.urls import reverse

from apps.core.models import AuditEvent
from tests.role_matrix import EVERYONE, NOBODY, PUBLIC, UNSAFE_METHODS, collect_matrix, collect_writes
from tests.security.cases import CASES, send, url_for, user

MATRIX = collect_matrix()
WRITES = collect_writes()
SAFE_METHODS = ("get", "head", "options")
IDENTITIES = [*sorted(EVERYONE), "no_role", None]


def allowed_roles(url_name: str, method: str, *, is_api: bool):
    probe, roles, _ = MATRIX[url_name]
    if roles == PUBLIC:
        return PUBLIC
    if method in UNSAFE_METHODS:
        return WRITES.get(url_name, {}).get(method, NOBODY)
    if probe == "get":
        return roles
    # A POST-only URL has nothing to read; the API still describes it (DRF metadata) to every reader.
    return EVERYONE if is_api and method == "options" else NOBODY


def last_event() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def clients() -> dict:
    made = {}
    for identity in IDENTITIES:
        client = Client()
        if identity is not None:
            client.force_login(user(None if identity == "no_role" else identity))
        made[identity] = client
    return made


def check(url_name: str, method: str, identity, response, *, is_api: bool, changed: bool) -> str | None:
    """What is wrong with ``response``, or None."""
    status = response.status_code
    allowed = allowed_roles(url_name, method, is_api=is_api)
    if status >= 500:
        return f"answered {status}"
    if allowed == PUBLIC:
        return "changed the audit trail with a method nobody may use" if (
            changed and method not in WRITES.get(url_name, {})) else None
    if identity is None:
        to_login = status == 302 and response["Location"].startswith(reverse("login"))
        ok = status in (401, 403) if is_api else to_login
        return None if ok and not changed else f"anonymous got {status}{' and changed state' if changed else ''}"
    if identity in allowed:
        if method in UNSAFE_METHODS and status == 405:
            return "the matrix allows this method but the view answers 405"
        return None
    if status not in (403, 405) or changed:
        return f"must be refused, got {status}{' and changed state' if changed else ''}"
    return None


@pytest.mark.parametrize("url_name", sorted(MATRIX))
def test_every_method_as_every_identity(url_name, ctx):
    _, _, kwargs_factory = MATRIX[url_name]
    base_url = reverse(url_name, kwargs=kwargs_factory() if kwargs_factory else None)
    is_api = base_url.startswith("/api/")
    by_identity = clients()
    problems = []
    for method in (*SAFE_METHODS, *UNSAFE_METHODS):
        write = CASES[(url_name, method)](ctx) if (url_name, method) in CASES else None
        url = url_for(url_name, write) if write else base_url
        allowed = allowed_roles(url_name, method, is_api=is_api)
        # Refusals first, while the objects are as the case built them; then the roles that may act.
        order = sorted(IDENTITIES, key=lambda i: allowed != PUBLIC and i in allowed)
        readers = [i for i in order if allowed != PUBLIC and i in allowed] if method in SAFE_METHODS else []
        for identity in order:
            # tests/core/test_role_matrix.py reads every page as every allowed role; HEAD and OPTIONS render the
            # same view, so one allowed role is enough to show they do not fail.
            if identity in readers and (method == "get" or identity != readers[0]):
                continue
            before = last_event()
            response = send(by_identity[identity], method, url, write)
            problem = check(url_name, method, identity, response, is_api=is_api, changed=last_event() != before)
            if problem:
                problems.append(f"{method.upper()} {url} as {identity or 'anonymous'}: {problem}")
    assert not problems, "\n".join(problems)


# --- Rules about the object, not the role ---------------------------------------------------------------
# Nothing restricts objects by team or unit (every role reads the whole inventory); these rules are per object.

def _submitter_decides():
    from tests.security.cases import submitted_review

    review = submitted_review(submitter=user("admin"))  # admins may also decide, but not on their own review
    return review, review.submitted_by, "decide", {"decision": "approve"}


def _technical_owner_decides():
    from tests.security.cases import submitted_review

    review, owner = submitted_review(), user("reviewer")
    review.version.model.technical_owners.add(owner)
    return review, owner, "decide", {"decision": "approve"}


def _someone_else_acknowledges():
    from tests.security.cases import draft_review

    return draft_review(), user("reviewer"), "acknowledge", {"confirm": True}


def _another_scientist_withdraws():
    from tests.security.cases import draft_review

    return draft_review(), user("data_scientist"), "withdraw", {"reason": "mine now"}


# Four-eyes: whoever submitted a review or owns the model does not decide it. Only the model's accountable
# owner acknowledges responsibility. Only a round's opener, its submitter or an admin withdraws it.
REFUSALS = {build.__name__.strip("_"): build for build in (
    _submitter_decides, _technical_owner_decides, _someone_else_acknowledges, _another_scientist_withdraws)}


@pytest.mark.parametrize("api", [False, True], ids=["page", "api"])
@pytest.mark.parametrize("rule", sorted(REFUSALS))
def test_object_rules_refuse_the_wrong_person(rule, api, client, db):
    from apps.reviews.models import Review

    review, person, action, body = REFUSALS[rule]()
    client.force_login(person)
    state = Review.objects.get(pk=review.pk).state
    before = last_event()
    if api:
        response = client.post(reverse(f"review-{action}", kwargs={"pk": review.pk}), body,
                               content_type="application/json")
    else:
        form = {k: ("on" if v is True else v) for k, v in body.items()}
        response = client.post(reverse(f"reviews:{action}", kwargs={"pk": review.pk}), form)
    assert response.status_code == 403, response.content[:500]
    assert last_event() == before and Review.objects.get(pk=review.pk).state == state
