"""An open incident on the executive dashboard: a stored red flag, counted in the tallies, at a fixed query cost."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from apps.findings import services
from apps.portfolio import redflags
from tests.portfolio.helpers import production_model


def _incident(reviewer, model, title):
    now = timezone.now()
    return services.incident_open(actor=reviewer, model=model, title=title, description="Scores were zero.",
                                  impact="312 applicants refused.", occurred_at=now - timedelta(hours=3),
                                  aware_at=now - timedelta(hours=2))


def test_an_open_incident_is_a_red_flag_on_the_dashboard_and_counted(client_as, make_user,
                                                                    django_assert_max_num_queries):
    reviewer = make_user("reviewer")
    model = production_model(name="Card limits")
    production_model(name="Quiet model")
    incident = _incident(reviewer, model, "Limits cut to zero")
    client = client_as("executive")
    client.get(reverse("portfolio:dashboard"))
    with django_assert_max_num_queries(20):
        response = client.get(reverse("portfolio:dashboard"))
    page = response.content.decode()
    start = page.index('id="red-flags-title"')
    flags = page[start:page.index("</section>", start)]
    assert "Card limits" in flags and "Open incident" in flags and incident.get_absolute_url() in flags
    assert "Quiet model" not in flags
    assert redflags.counts().count("incident_open").by_severity["high"] == 1
    services.incident_update(actor=reviewer, incident=incident, root_cause="Timeout read as zero income.",
                             corrective_actions="Fail the pipeline step on timeout.")
    services.incident_transition(actor=make_user("admin"), incident=incident, status="closed",
                                 note="Pipeline fixed and tested in production.")
    assert redflags.counts().count("incident_open").by_severity.get("high", 0) == 0
