"""Single-line fields refuse line breaks and control characters; e-mail subjects never carry them."""

import pytest
from django.apps import apps
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.urls import reverse
from rest_framework.test import APIClient

from apps.core.errors import DomainError
from apps.core.validators import single_line, validate_single_line
from apps.inventory import services as inventory_services
from apps.notifications.models import Notification
from apps.notifications.services import deliver_pending_emails, notify
from tests.compliance.factories import UseCaseFactory
from tests.inventory.factories import MLModelFactory, TeamFactory
from tests.monitoring.test_services import evaluation_csv
from tests.reviews.helpers import assessed_version

INJECTED = "x\r\nBcc: victim@example.org"


def portal_char_fields():
    return [pytest.param(field, id=f"{model._meta.label}.{field.name}")
            for model in apps.get_models() if model.__module__.startswith("apps.")
            for field in model._meta.get_fields() if isinstance(field, models.CharField)]


@pytest.mark.parametrize("field", portal_char_fields())
def test_every_char_field_of_the_portal_refuses_a_line_break(field):
    # A CharField without choices needs the validator; a slug, URL or choice refuses the value by itself.
    with pytest.raises(ValidationError):
        field.clean(INJECTED, None)


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\tb", "a\x00b", "a\x1bb", "a\x85b", "a\u2028b", "a\x7fb"])
def test_the_validator_refuses_control_characters(value):
    with pytest.raises(ValidationError, match="single line"):
        validate_single_line(value)


@pytest.mark.parametrize("value", ["", "Credit scoring", "Modèle de crédit – v2", "a b  c", "名前"])
def test_the_validator_accepts_ordinary_text(value):
    validate_single_line(value)


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


def test_the_api_refuses_a_model_name_with_a_line_break(scientist):
    client = APIClient()
    client.force_authenticate(scientist)
    team = TeamFactory()
    response = client.post("/api/v1/models/", {"name": INJECTED, "purpose": "p", "accountable_owner": "sam",
                                               "team": team.slug}, format="json")
    assert response.status_code == 400
    assert "single line" in " ".join(response.json()["name"])
    model = MLModelFactory(team=team)
    renamed = client.patch(f"/api/v1/models/{model.slug}/", {"name": INJECTED}, format="json")
    assert renamed.status_code == 400 and "name" in renamed.json()


def test_the_form_refuses_a_model_name_with_a_line_break(client, scientist):
    client.force_login(scientist)
    response = client.post(reverse("inventory:model-create"), {
        "name": INJECTED, "purpose": "Score loans", "accountable_owner": scientist.pk, "team": TeamFactory().pk,
        "exposure": "internal", "automation_level": "human_reviews", "task_type": "binary"})
    assert "single line" in " ".join(response.context["form"].errors["name"])
    assert not inventory_services.MLModel.objects.exists()


def test_the_service_refuses_it_for_every_other_caller(scientist):
    with pytest.raises(DomainError) as refused:
        inventory_services.model_register(actor=scientist, name=INJECTED, purpose="p", accountable_owner=scientist,
                                          team=TeamFactory(members=[scientist]), use_case=UseCaseFactory().pk)
    assert refused.value.field == "name"


@pytest.mark.parametrize("field", ["target_column", "positive_label", "sensitive_features"])
def test_the_upload_api_refuses_a_column_name_with_a_line_break(scientist, settings, tmp_path, field):
    settings.MEDIA_ROOT = tmp_path
    client = APIClient()
    client.force_authenticate(scientist)
    response = client.post("/api/v1/evaluations/", {
        "model_version": assessed_version().pk, "file": SimpleUploadedFile("eval.csv", evaluation_csv()[0]),
        field: "y_true\r\nx"}, format="multipart")
    assert response.status_code == 400 and field in response.json()


def test_a_notification_about_such_a_name_is_still_emailed(make_user, django_capture_on_commit_callbacks):
    owner = make_user("executive", username="erin")
    with django_capture_on_commit_callbacks(execute=True):
        notify(recipient=owner, subject=f"Re-assess the risk of {INJECTED}")
    assert [m.subject for m in mail.outbox] == ["Re-assess the risk of x Bcc: victim@example.org"]
    assert [m.to for m in mail.outbox] == [["erin@example.org"]]
    assert Notification.objects.get().email_error == ""


def test_a_subject_stored_with_a_line_break_is_still_emailed(make_user):
    Notification.objects.create(recipient=make_user("executive"), subject=INJECTED)
    assert deliver_pending_emails() == 1
    assert mail.outbox[0].subject == "x Bcc: victim@example.org" and mail.outbox[0].bcc == []


def test_single_line_folds_each_run_of_control_characters_into_a_space():
    assert single_line("\r\n a\r\n\tb\x00") == "a b"
