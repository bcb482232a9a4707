"""No API write lets a client set what the portal computes or decides (mass assignment).

Two checks, both derived from the serializers so a new one is covered without editing this file:

* statically, no serializer of ``apps/*/api/serializers.py`` offers a field named like authorship, workflow
  state, hashes, counters, timestamps or privileges as writable (a short allow-list says why the few that are);
* dynamically, every API write case (``tests/security/cases.py``) is sent again with every read-only field of
  its view's serializers plus those names added; the request is refused with 400 or the extra values are
  ignored: none of them is stored on any object the request recorded in the audit trail.
"""

import importlib
import inspect
import json
from datetime import datetime

import pytest
from django.apps import apps
from django.urls import resolve
from rest_framework import serializers

from apps.core.models import AuditEvent
from tests.security.cases import CASES, send, url_for, user

API_APPS = ("core", "inventory", "risk", "reviews", "monitoring")
# Names that must never be writable through the API.
NEVER_WRITABLE = {
    "id", "pk", "seq", "hash", "prev_hash", "created_at", "updated_at", "created_by", "submitted_by", "submitted_at",
    "approved_by", "decided_by", "decided_at", "acknowledged_by", "resolved_by", "owner_acknowledged_by", "actor",
    "status", "state", "stage", "tier", "base_tier", "content_hash", "attempts", "metrics", "approvals",
    "is_staff", "is_superuser", "is_active", "groups", "user_permissions", "password",
}
# Writable on purpose: (serializer, field) -> why.
WRITABLE_ON_PURPOSE = {
    ("TransitionSerializer", "stage"): "the transition action exists to move a version's stage (gated by a service)",
    ("MitigationSerializer", "status"): "the drafter of an assessment tracks each mitigation's progress",
    ("PolicySerializer", "tier"): "an admin publishes the policy of the tier named in the body",
}
SENTINEL_TEXT = "injected-by-mass-assignment"
SENTINEL_NUMBER = 987_654
SENTINEL_TIME = "2001-02-03T04:05:06Z"
PEOPLE = {"created_by", "submitted_by", "approved_by", "decided_by", "acknowledged_by", "resolved_by",
          "owner_acknowledged_by", "actor", "owner", "reviewer", "accountable_owner", "accountable_executive"}
NUMBERS = {"id", "pk", "seq", "round", "attempts", "row_count", "size_bytes", "approvals", "required_approvals",
           "matrix_version", "version"}


def api_serializers():
    for app in API_APPS:
        module = importlib.import_module(f"apps.{app}.api.serializers")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            # A ListSerializer has no fields of its own; its child serializer is checked.
            if (issubclass(cls, serializers.BaseSerializer) and not issubclass(cls, serializers.ListSerializer)
                    and cls.__module__ == module.__name__):
                yield cls


def writable_fields(serializer_class) -> set[str]:
    return {name for name, f in serializer_class().fields.items() if not f.read_only}


def read_only_fields(serializer_class) -> set[str]:
    return {name for name, f in serializer_class().fields.items() if f.read_only}


@pytest.mark.parametrize("serializer_class", list(api_serializers()), ids=lambda c: c.__name__)
def test_no_serializer_offers_a_computed_field_as_writable(serializer_class, db):
    offered = writable_fields(serializer_class) & NEVER_WRITABLE
    unexplained = {name for name in offered if (serializer_class.__name__, name) not in WRITABLE_ON_PURPOSE}
    assert not unexplained, f"{serializer_class.__name__} lets clients write {sorted(unexplained)}"


def view_serializers(url: str, method: str) -> list:
    """The serializer classes the view at ``url`` declares for ``method``: its input and its output."""
    match = resolve(url)
    cls = getattr(match.func, "cls", None)
    if cls is None:
        return []
    view = cls()
    view.action = (getattr(match.func, "actions", None) or {}).get(method)
    view.request, view.format_kwarg, view.kwargs = None, None, match.kwargs
    found = [getattr(view, "serializer_class", None)]
    if hasattr(view, "get_serializer_class") and found[0] is not None:
        found.append(view.get_serializer_class())
    return [s for s in found if s is not None]


def sentinel(name: str, mallory):
    if name in PEOPLE:
        return mallory.get_username()
    if name.endswith("_at"):
        return SENTINEL_TIME
    if name in NUMBERS:
        return SENTINEL_NUMBER
    if name in ("is_staff", "is_superuser", "is_active"):
        return True
    if name in ("groups", "user_permissions", "technical_owners", "assignees"):
        return ["admin"] if name == "groups" else [mallory.get_username()]
    if name in ("metrics", "changes", "config", "columns", "hyperparameters", "validation_metrics"):
        return {SENTINEL_TEXT: 1}
    return SENTINEL_TEXT


def injected_into(obj, name: str, value, mallory) -> bool:
    if name in PEOPLE or name in ("technical_owners", "assignees"):
        related = getattr(obj, f"{name}_id", None)
        if related is None and hasattr(obj, name) and hasattr(getattr(obj, name), "filter"):
            return getattr(obj, name).filter(pk=mallory.pk).exists()
        return related == mallory.pk
    stored = getattr(obj, name, None)
    if name in ("id", "pk"):
        return obj.pk == SENTINEL_NUMBER
    if isinstance(stored, datetime):
        return stored.year == 2001
    if isinstance(stored, bool) or stored is None:
        return False
    if isinstance(stored, int | float):
        return stored == SENTINEL_NUMBER
    if isinstance(stored, str):
        return SENTINEL_TEXT in stored
    return SENTINEL_TEXT in json.dumps(stored, default=str)


def encode(value, *, multipart: bool):
    if multipart and not isinstance(value, str):
        return json.dumps(value) if isinstance(value, dict | list) else str(value)
    return value


# HTML forms are left out: a Django form reads only the fields it declares.
# An upload's part is raw bytes, not fields: any extra byte makes it longer than the part (413, nothing stored).
API_CASES = [(name, method) for name, method in sorted(CASES)
             if ":" not in name and name not in ("login", "logout", "upload-part")]


@pytest.mark.parametrize(("url_name", "method"), API_CASES, ids=[f"{n}-{m}" for n, m in API_CASES])
def test_extra_fields_are_ignored_or_refused(url_name, method, client, ctx):
    write = CASES[(url_name, method)](ctx)
    url = url_for(url_name, write)
    assert url.startswith("/api/")
    mallory = user("admin", username="mallory")
    body = write.body()
    multipart = any(hasattr(v, "read") for v in body.values())
    names = set(NEVER_WRITABLE)
    for serializer_class in view_serializers(url, method):
        names |= read_only_fields(serializer_class)
        names -= writable_fields(serializer_class)
    names -= set(body)
    extra = {name: encode(sentinel(name, mallory), multipart=multipart) for name in sorted(names)}
    write.data = {**body, **extra}
    actor = write.actor
    groups_before = set(actor.groups.values_list("name", flat=True))
    client.force_login(actor)
    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    response = send(client, method, url, write)
    assert response.status_code in (200, 201, 202, 204, 400), (response.status_code, response.content[:500])
    events = list(AuditEvent.objects.filter(seq__gt=before))
    if response.status_code == 400:
        assert not events, "a refused request changed something"
        return
    if write.events == 0:  # the case says it changes nothing (a connection test): extra fields change nothing either
        assert not events, "a request that changes nothing recorded an event"
        return
    assert events, "the request was accepted but recorded nothing"
    stored = []
    for event in events:
        try:
            model = apps.get_model(event.object_type)
        except (LookupError, ValueError):
            continue
        obj = model.objects.filter(pk=event.object_id).first()
        # A DELETE (204, webhooks) leaves no object to have stored anything.
        assert obj is not None or event.object_type == "inventory.import" or response.status_code == 204
        stored += [f"{event.object_type}.{name}" for name in extra
                   if obj is not None and injected_into(obj, name, extra[name], mallory)]
    assert not stored, f"stored values the client may not set: {stored}"
    actor.refresh_from_db()
    assert not actor.is_superuser and set(actor.groups.values_list("name", flat=True)) == groups_before
