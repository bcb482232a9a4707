"""Every list page behaves alike (``apps.core.views_mixins.HtmxListMixin``): htmx gets the results alone, a history
restore and a plain load get the whole page, both say ``Vary: HX-Request``, and pagination keeps the filters."""

import re

import pytest
from django.urls import reverse

from apps.core.services import audit_record
from apps.notifications.services import notify
from tests.inventory.factories import DataSetFactory, MLModelFactory

LIST_PAGES = ["inventory:index", "inventory:dataset-list", "inventory:process-list", "monitoring:index",
              "risk:index", "core:audit", "notifications:list", "compliance:index"]
HTMX = {"HX-Request": "true"}
RESTORE = {"HX-Request": "true", "HX-History-Restore-Request": "true"}


@pytest.fixture
def admin(client_as):
    return client_as("admin")


@pytest.mark.parametrize("url_name", LIST_PAGES)
def test_an_htmx_request_gets_only_the_results(admin, url_name):
    response = admin.get(reverse(url_name), headers=HTMX)
    assert response.status_code == 200 and "<html" not in response.content.decode()
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize("url_name", LIST_PAGES)
def test_a_history_restore_gets_the_whole_page(admin, url_name):
    response = admin.get(reverse(url_name), headers=RESTORE)
    assert "<html" in response.content.decode() and "HX-Request" in response["Vary"]


@pytest.mark.parametrize("url_name", LIST_PAGES)
def test_a_plain_load_gets_the_whole_page_and_varies_on_htmx(admin, url_name):
    response = admin.get(reverse(url_name))
    assert "<html" in response.content.decode() and "HX-Request" in response["Vary"]


def make_models():
    MLModelFactory.create_batch(3, name=factory_name("Churn"))


def factory_name(prefix):
    import itertools

    counter = itertools.count()
    return __import__("factory").LazyFunction(lambda: f"{prefix} {next(counter)}")


def make_datasets():
    DataSetFactory.create_batch(3, source_system="crm")


def make_events():
    for i in range(3):
        audit_record(actor=None, action="model.updated", object_type="inventory.model", object_id=str(i))


LISTS_WITH_ROWS = [
    ("inventory:index", make_models, {"q": "churn"}),
    ("inventory:dataset-list", make_datasets, {"q": "dataset"}),
    ("core:audit", make_events, {"action": "model.updated"}),
    ("compliance:index", make_models, {"q": "churn"}),
]


@pytest.mark.parametrize(("url_name", "make_rows", "filters"), LISTS_WITH_ROWS)
def test_pagination_links_keep_the_filters_and_the_page_size(admin, url_name, make_rows, filters):
    make_rows()
    response = admin.get(reverse(url_name), {**filters, "per_page": 1, "page": 2})
    content = response.content.decode()
    assert response.context["page_obj"].number == 2 and len(response.context["page_obj"].object_list) == 1
    links = {rel: href for href, rel in re.findall(r'<a href="([^"]+)"[^>]* rel="(prev|next)"', content)}
    assert re.search(r"(\?|;)page=1\b", links["prev"]) and re.search(r"(\?|;)page=3\b", links["next"])
    for href in links.values():
        assert all(f"{key}={value}" in href for key, value in filters.items()) and "per_page=1" in href


def test_pagination_inside_an_htmx_list_swaps_only_the_results(admin):
    make_models()
    content = admin.get(reverse("inventory:index"), {"per_page": 1}).content.decode()
    assert 'hx-get="?per_page=1&amp;page=2"' in content and 'id="model-results" hx-target="this"' in content


def test_notifications_page_through_the_shared_pagination(admin):
    for n in range(3):
        notify(recipient=admin.user, subject=f"Notice {n}")
    response = admin.get(reverse("notifications:list"), {"per_page": 2, "page": 2})
    assert len(response.context["notifications"]) == 1 and 'rel="prev"' in response.content.decode()


@pytest.mark.parametrize("page", ["abc", "0", "999"])
def test_a_page_number_that_is_not_one_shows_a_page_that_exists(admin, page):
    make_models()
    response = admin.get(reverse("inventory:index"), {"per_page": 1, "page": page})
    assert response.status_code == 200 and response.context["page_obj"].number in (1, 3)


@pytest.mark.parametrize("per_page", ["0", "-5", "lots", "100000"])
def test_a_page_size_out_of_bounds_is_a_bad_request(admin, per_page):
    response = admin.get(reverse("risk:index"), {"per_page": per_page})
    assert response.status_code == 400


def test_the_filtered_empty_state_ignores_sort_and_page_size(admin):
    content = admin.get(reverse("risk:index"), {"sort": "tier", "per_page": 10}).content.decode()
    assert "No assessed risks yet" in content and "match these filters" not in content
