"""Integers read from the request: a bad value is a 4xx that names the parameter, never a 500."""

import pytest
from django.test import Client
from django.urls import reverse

from apps.core.params import InvalidParameter, query_int
from tests.inventory.factories import ModelVersionFactory

# "²".isdigit() is true and int() refuses it; the long one overflows an SQLite integer.
BAD_NUMBERS = ["²", "-1", "1e5", "99999999999999999999999", "0"]

# (URL name, whether it takes the model's slug, parameter); each page reads the parameter with query_int.
PAGES = [
    ("monitoring:upload", False, "version"),
    ("monitoring:reference-upload", False, "version"),
    ("monitoring:compare", True, "challenger"),
    ("risk:model", True, "a"),
    ("risk:assess", True, "draft"),
]
API = [("/api/v1/evaluations/", "model_version"), ("/api/v1/reviews/", "version")]


@pytest.fixture
def admin_client(make_user):
    client = Client(raise_request_exception=False)
    client.force_login(make_user("admin"))
    return client


@pytest.mark.parametrize("value", BAD_NUMBERS)
@pytest.mark.parametrize(("route", "takes_slug", "name"), PAGES)
def test_it_refuses_a_bad_number_in_a_page_query_with_400(admin_client, route, takes_slug, name, value):
    version = ModelVersionFactory()
    url = reverse(route, args=[version.model.slug] if takes_slug else [])
    response = admin_client.get(url, {name: value, "b": "1"})  # risk:model compares a with b
    assert response.status_code == 400
    assert f"{name} must be a whole number" in response.content.decode()


@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_it_shows_the_review_queue_with_a_bad_version_filter(admin_client, value):
    assert admin_client.get(reverse("reviews:index"), {"version": value}).status_code == 200


@pytest.mark.parametrize("value", BAD_NUMBERS)
@pytest.mark.parametrize(("url", "name"), API)
def test_it_answers_a_bad_number_in_an_api_query_with_json_400(admin_client, url, name, value):
    response = admin_client.get(url, {name: value})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body.get("field") == name or name in body  # a service's refusal, or the filter form's errors


def test_it_names_the_parameter_in_the_api_answer(admin_client):
    body = admin_client.get("/api/v1/evaluations/", {"model_version": "²"}).json()
    assert body == {"detail": "model_version must be a whole number from 1 to 9223372036854775807.",
                    "field": "model_version"}


@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_it_refuses_a_bad_notification_id_without_failing(admin_client, value):
    assert admin_client.post(reverse("notifications:mark-read"), {"id": value}).status_code == 400


def test_it_still_filters_by_a_good_number(admin_client):
    version = ModelVersionFactory()
    assert admin_client.get("/api/v1/evaluations/", {"model_version": str(version.pk)}).status_code == 200
    assert admin_client.get("/api/v1/evaluations/", {"model_version": ""}).status_code == 200


@pytest.mark.parametrize(("raw", "expected"), [(None, None), ("", None), ("1", 1), ("42", 42),
                                                ("9223372036854775807", 2**63 - 1)])
def test_query_int_reads_a_whole_number_or_nothing(raw, expected):
    assert query_int({} if raw is None else {"n": raw}, "n") == expected


@pytest.mark.parametrize("raw", BAD_NUMBERS + ["9" * 5000, "9223372036854775808", "+1", "1_000", "1.0", " 7", "١"])
def test_query_int_refuses_anything_else(raw):
    with pytest.raises(InvalidParameter, match="n must be a whole number"):
        query_int({"n": raw}, "n")


def test_query_int_honours_a_range():
    assert query_int({"n": "-3"}, "n", minimum=-5, maximum=5) == -3
    with pytest.raises(InvalidParameter, match="from -5 to 5"):
        query_int({"n": "6"}, "n", minimum=-5, maximum=5)


@pytest.mark.parametrize(("path", "status"), [("/api/v1/failing/", 500), ("/api/v1/no-such-thing/", 404)])
def test_the_api_answers_failures_as_json(db, settings, path, status):
    settings.DEBUG = False
    settings.ROOT_URLCONF = "tests.security.urls_failing"
    response = Client(raise_request_exception=False).get(path)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()
