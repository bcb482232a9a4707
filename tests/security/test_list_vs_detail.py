"""Lists and exports never show what the same person could not open on its own.

No view restricts objects by team, unit or author: every role reads the whole inventory (the executives'
brief). What a person sees still differs: roles, and per-person lists (notifications, work queues). So,
over a portfolio with objects in every state (retired, draft, withdrawn, superseded, resolved), as every role:
every item of every API list opens in its detail view, every link of every list page opens, every row of
the CSV exports names a page that opens, and one person's notifications stay theirs.
"""

import csv
import io
import re
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import Resolver404, resolve, reverse

from apps.inventory.models import MLModel, Stage
from apps.notifications.models import Notification
from apps.notifications.services import notify
from tests.compliance.factories import UseCaseFactory
from tests.factories import api_key_for
from tests.notifications.factories import WebhookDeliveryFactory
from tests.role_matrix import EVERYONE, collect_matrix
from tests.security.cases import alert, draft_review, submitted_review, user

MATRIX = collect_matrix()
ROLES = sorted(EVERYONE)
API_LISTS = sorted(name for name, (method, _, _) in MATRIX.items()
                   if ":" not in name and name.endswith("-list") and method == "get"
                   and f"{name[:-5]}-detail" in MATRIX)
LIST_PAGES = ["inventory:index", "inventory:dataset-list", "inventory:process-list", "portfolio:dashboard",
              "risk:index", "risk:policies", "reviews:index", "monitoring:index", "notifications:list", "core:audit",
              "core:home", "findings:index", "findings:incidents"]
LINKS_PER_PAGE = 15


@pytest.fixture
def portfolio(db):
    """A little of everything, in every state a list might forget to hide or a detail might refuse."""
    from apps.monitoring.models import Evaluation, MetricWindow
    from apps.reviews.services import review_withdraw
    from apps.risk.services import assessment_save_draft, assessment_submit
    from tests.integrations.factories import SyncRunFactory
    from tests.inventory.factories import (
        BusinessProcessFactory,
        DataSetFactory,
        DeploymentFactory,
        ModelVersionFactory,
        PipelineStepFactory,
    )
    from tests.risk.factories import ratings

    retired = ModelVersionFactory(stage=Stage.RETIRED, model__stage=Stage.RETIRED)
    DeploymentFactory(version=retired, retired_at=retired.created_at)
    live = DeploymentFactory(environment="staging", business_process=BusinessProcessFactory()).version
    PipelineStepFactory(output=DataSetFactory(kind="derived"))
    model = live.model
    first = assessment_submit(actor=None, assessment=assessment_save_draft(actor=None, model=model,
                                                                           ratings=ratings()), based_on_id=None)
    assessment_submit(actor=None, assessment=assessment_save_draft(actor=None, model=model, ratings=ratings(3, 3)),
                      based_on_id=first.pk)
    assessment_save_draft(actor=None, model=model, ratings=ratings())
    withdrawn = draft_review()
    review_withdraw(actor=withdrawn.created_by, review=withdrawn, reason="probe")
    submitted_review()
    resolved = alert()
    resolved.status = "resolved"
    resolved.save(update_fields=["status"])
    alert()
    MetricWindow.objects.create(version=live, cadence="daily", window_start=live.created_at,
                                window_end=live.created_at, row_count=1, metrics={})
    Evaluation.objects.create(version=live, filename="e.csv", file_format="csv", sha256="0" * 64, size_bytes=1,
                              raw_path="x", parquet_path="x", row_count=1, status=Evaluation.Status.FAILED)
    WebhookDeliveryFactory(status="failed")
    for state in ("draft", "submitted", "approved", "declined", "withdrawn"):
        UseCaseFactory(state=state)
    SyncRunFactory(status="failed")
    from tests.findings.factories import FindingFactory, IncidentFactory

    FindingFactory(version=live)
    FindingFactory(version=retired, status="closed", closing_note="Checked on the holdout.")
    IncidentFactory(model=model)
    IncidentFactory(model=retired.model, status="closed")
    return model


def client_for(role: str, **kwargs) -> tuple[Client, object]:
    person = user(role, **kwargs)
    client = Client()
    client.force_login(person)
    return client, person


@pytest.mark.parametrize("list_name", API_LISTS)
def test_every_item_of_an_api_list_opens_in_its_detail(list_name, portfolio):
    url = reverse(list_name)
    lookup = getattr(resolve(url).func.cls, "lookup_field", "pk")
    detail_name = f"{list_name[:-5]}-detail"
    refused = []
    for role in sorted(set(ROLES) & MATRIX[list_name][1]):  # admins' lists (webhooks) only for them
        client, _ = client_for(role)
        body = client.get(url, {"page_size": 500}).json()
        items = body["results"] if isinstance(body, dict) else body
        assert items, f"{list_name} is empty: the portfolio should give it something to list"
        for item in items:
            value = item[lookup] if lookup in item else item["id"]
            status = client.get(reverse(detail_name, kwargs={lookup: value})).status_code
            if status != 200:
                refused.append(f"{role} sees {detail_name} {value} in the list but gets {status}")
    assert not refused, "\n".join(refused)


def page_links(html: str) -> list[str]:
    """Same-site links of a page that name a URL of the matrix read with GET."""
    links = []
    for href in dict.fromkeys(re.findall(r'href="([^"#]+)', html)):
        path = urlsplit(href.replace("&amp;", "&")).path
        if not path.startswith("/") or path.startswith(("/static/", "/admin/", "/accounts/logout")):
            continue
        try:
            match = resolve(path)
        except Resolver404:
            continue
        if match.view_name in MATRIX and MATRIX[match.view_name][0] == "get":
            links.append(href.replace("&amp;", "&"))
    return links[:LINKS_PER_PAGE]


@pytest.mark.parametrize("role", ROLES)
def test_every_link_of_a_list_page_opens_for_the_same_role(role, portfolio):
    client, _ = client_for(role)
    refused, seen = [], set(map(reverse, LIST_PAGES))
    for page in LIST_PAGES:
        response = client.get(reverse(page))
        assert response.status_code == 200, page
        links = page_links(response.content.decode())
        assert links or page == "notifications:list", f"{page} links to nothing"
        fresh = [link for link in links if link not in seen]
        seen.update(fresh)
        refused += [f"{page} -> {link}: {status}" for link in fresh
                    if (status := client.get(link).status_code) != 200]
    assert not refused, "\n".join(refused)


@pytest.mark.parametrize("role", ROLES)
def test_every_row_of_the_model_export_opens(role, portfolio):
    client, _ = client_for(role)
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("inventory:export")).content.decode())))
    assert {row["slug"] for row in rows} == set(MLModel.objects.values_list("slug", flat=True))
    for row in rows:
        assert client.get(reverse("inventory:model-detail", kwargs={"slug": row["slug"]})).status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_every_row_of_the_risk_register_export_opens(role, portfolio):
    client, _ = client_for(role)
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("risk:register-export")).content.decode())))
    assert rows
    for name in {row["model"] for row in rows}:
        slug = MLModel.objects.get(name=name).slug
        assert client.get(reverse("risk:model", kwargs={"slug": slug})).status_code == 200


def test_notifications_stay_with_their_recipient(db):
    client, erin = client_for("executive")
    _, sam = client_for("data_scientist")
    mine = notify(recipient=erin, subject="for erin", url="/")
    theirs = notify(recipient=sam, subject="for sam only", url="/")
    page = client.get(reverse("notifications:list")).content.decode()
    assert "for erin" in page and "for sam only" not in page
    client.post(reverse("notifications:mark-read"), {"id": theirs.pk})
    assert Notification.objects.get(pk=theirs.pk).read_at is None, "marked someone else's notification read"
    client.post(reverse("notifications:mark-read"), {"id": mine.pk})
    assert Notification.objects.get(pk=mine.pk).read_at is not None


def test_the_account_page_never_shows_a_stored_token(db):
    client, erin = client_for("executive")
    key = api_key_for(erin)
    assert key not in client.get(reverse("core:account")).content.decode()
