"""Use cases in the Django admin: listed for support work, withdrawn only through the audited service."""

import pytest
from django.urls import reverse

from apps.core.models import AuditEvent
from tests.compliance.factories import UseCaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client_as):
    client = client_as("admin")
    client.user.is_staff = True
    client.user.save(update_fields=["is_staff"])
    return client


def test_an_admin_lists_use_cases_and_opens_one_read_only(admin_client):
    use_case = UseCaseFactory(title="Retail credit")
    assert b"Retail credit" in admin_client.get(reverse("admin:compliance_usecase_changelist")).content
    page = admin_client.get(reverse("admin:compliance_usecase_change", args=[use_case.pk]))
    assert page.status_code == 200 and b'name="title"' not in page.content


def test_the_withdraw_action_goes_through_the_service(admin_client):
    draft, approved = UseCaseFactory(state="draft"), UseCaseFactory()
    admin_client.post(reverse("admin:compliance_usecase_changelist"),
                      {"action": "withdraw", "_selected_action": [draft.pk, approved.pk]})
    draft.refresh_from_db(), approved.refresh_from_db()
    assert (draft.state, approved.state) == ("withdrawn", "approved")
    assert AuditEvent.objects.get(action="use_case.withdrawn").object_id == str(draft.pk)
