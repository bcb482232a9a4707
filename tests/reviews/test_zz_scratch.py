import os
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
import pytest
from django.urls import reverse
from apps.reviews import services
from tests.reviews.helpers import submitted_review, assessed_version
from tests.risk.factories import ratings
from tests.inventory.factories import ModelVersionFactory
from tests.factories import PASSWORD

OUT = "/tmp/helper-reviews-scratch"


@pytest.mark.django_db(transaction=True)
def test_shots(live_server, make_user, settings, tmp_path):
    from playwright.sync_api import sync_playwright
    settings.MEDIA_ROOT = tmp_path
    sam = make_user("data_scientist", username="sam")
    sam.groups.add(*make_user("reviewer", username="x").groups.all())
    revs = [make_user("reviewer", username=f"r{i}") for i in range(2)]
    r = submitted_review(submitter=sam, tier_ratings=ratings(degradation=(4, 4)))
    services.review_assign(actor=sam, review=r, reviewer=revs[0])
    services.review_decide(actor=revs[1], review=r, decision="approve", comment="Looks fine; fairness report convincing.")
    draft = services.review_start(actor=sam, version=assessed_version(name="Churn model"))
    for _ in range(3):
        ModelVersionFactory(created_by=sam)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
        pg = b.new_page(viewport={"width": 1280, "height": 800})
        def login(u):
            pg.goto(live_server.url + "/accounts/logout/") if False else None
            pg.context.clear_cookies()
            pg.goto(live_server.url + reverse("login"))
            pg.fill("input[name=username]", u)
            pg.fill("input[name=password]", PASSWORD)
            pg.click("button[type=submit]")
        login("sam")
        for name, url in [("index_sam", reverse("reviews:index")), ("detail_sam", r.get_absolute_url()),
                          ("draft_sam", draft.get_absolute_url()), ("version_sam", reverse("reviews:version", args=[r.version.pk])),
                          ("report", reverse("reviews:report", args=[r.pk]))]:
            pg.goto(live_server.url + url)
            pg.screenshot(path=f"{OUT}/{name}.png", full_page=True)
        login("r0")
        pg.goto(live_server.url + reverse("reviews:index"))
        pg.screenshot(path=f"{OUT}/index_r0.png", full_page=True)
        pg.goto(live_server.url + r.get_absolute_url())
        pg.screenshot(path=f"{OUT}/detail_r0.png", full_page=True)
        b.close()
