"""Fixtures shared by the upload tests: a data scientist ("sam"), an API client with their token, and an assessed
model version of their team. A module defining one of these names uses its own."""

import pytest
from rest_framework.test import APIClient

from tests.factories import api_key_for
from tests.reviews.helpers import assessed_version


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist", username="sam")


@pytest.fixture
def api(scientist) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(scientist)}")
    return client


@pytest.fixture
def version(scientist):
    return assessed_version(team__members=[scientist])
