"""Every ``aria-describedby``/``aria-labelledby``/``aria-controls`` points at an id on the page, and no id repeats.

A screen reader reads nothing for a reference to a missing id, and axe only asks for a manual review of it, so
this checks the server's HTML for every page of the role matrix, read (GET) and, for a form page, posted empty
(the state in which Django's widgets point at their ``<id>_error`` element).
"""

import re
from collections import Counter

import pytest
from django.urls import reverse

from apps.inventory.models import Team
from tests.pages import is_page, page_cases, url_for
from tests.reviews.helpers import submitted_review
from tests.role_matrix import collect_writes

ID = re.compile(r"\sid=\"([^\"]+)\"")
REFERENCE = re.compile(r"\saria-(?:describedby|labelledby|controls)=\"([^\"]*)\"")
WRITES = collect_writes()
CASES = [(name, roles[0] if roles else None, method)
         for name, roles in page_cases()
         for method in ("get", *(["post"] if roles and roles[0] in WRITES.get(name, {}).get("post", ()) else []))]


def reference_problems(html: str) -> list[str]:
    ids = Counter(ID.findall(html))
    dangling = [f"points at missing id {ref!r}" for refs in REFERENCE.findall(html) for ref in refs.split()
                if ref not in ids]
    return dangling + [f"id {name!r} appears {count} times" for name, count in ids.items() if count > 1]


@pytest.mark.django_db
@pytest.mark.parametrize(("url_name", "role", "method"), CASES, ids=[f"{n}-{m}" for n, _, m in CASES])
def test_aria_references_resolve(url_name, role, method, client_as):
    client = client_as(role)
    url = url_for(url_name)
    if role:
        client.user.teams.add(*Team.objects.all())
    response = getattr(client, method)(url)
    body = "" if response.streaming else response.content.decode(errors="replace")
    if not is_page(response.get("Content-Type", ""), body):
        pytest.skip(f"{url_name} answers {response.get('Content-Type')}, not a page")

    assert reference_problems(body) == []


@pytest.mark.django_db
def test_aria_references_resolve_on_a_review_awaiting_its_decision(client_as, make_user):
    review = submitted_review(submitter=make_user("data_scientist"))
    client = client_as("reviewer")

    page = client.get(review.get_absolute_url()).content.decode()
    refused = client.post(reverse("reviews:decide", kwargs={"pk": review.pk}), {}, follow=True).content.decode()

    assert 'name="decision"' in page
    assert reference_problems(page) == [] and reference_problems(refused) == []
