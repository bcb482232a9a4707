"""After signing in, each role lands on what it acts on; the home page links to the dashboard."""

import re

import pytest
from django.urls import reverse

from apps.core.navigation import start_page
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LANDS_ON = {
    "executive": "portfolio:dashboard",
    "reviewer": "reviews:index",
    "data_scientist": "core:home",
    "admin": "core:home",
}


@pytest.mark.parametrize(("role", "page"), LANDS_ON.items())
def test_signing_in_from_the_home_page_lands_on_the_role_s_start_page(client, role, page):
    UserFactory(username=f"u-{role}", roles=[role])

    response = client.post(f"{reverse('login')}?next=/", {"username": f"u-{role}", "password": PASSWORD})

    assert response.status_code == 302 and response["Location"] == reverse(page)


def test_a_page_asked_for_before_signing_in_wins_over_the_start_page(client):
    UserFactory(username="eve", roles=["executive"])

    response = client.post(f"{reverse('login')}?next=/risk/", {"username": "eve", "password": PASSWORD})

    assert response["Location"] == "/risk/"


def test_an_executive_who_also_reviews_lands_on_the_review_queue():
    assert start_page(UserFactory(roles=["executive", "reviewer"])) == reverse("reviews:index")
    assert start_page(UserFactory(roles=[])) == reverse("core:home")


def test_the_home_page_stays_reachable_and_links_to_the_dashboard(client_as):
    response = client_as("executive").get(reverse("core:home"))

    assert response.status_code == 200
    content = response.content.decode()
    page = content[content.index("<main"):]
    # The first link of the page's own content is the dashboard's.
    assert re.search(r'href="([^"#]+)"', page).group(1) == reverse("portfolio:dashboard")


def test_a_data_scientist_s_home_links_to_their_models_blocks_and_alerts(client_as):
    client = client_as("data_scientist", username="dora")

    page = client.get(reverse("core:home")).content.decode()

    assert f'{reverse("inventory:index")}?owner=dora' in page
    assert f'{reverse("reviews:index")}#blocks' in page and reverse("monitoring:index") in page
