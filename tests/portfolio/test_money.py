"""Money at risk: stored with each model's figures, summed per unit and process, ranked on the dashboard."""

from django.urls import reverse

from apps.governance import figures
from apps.inventory.models import ModelGovernance, Stage
from tests.factories import UserFactory
from tests.inventory.factories import BusinessProcessFactory, MLModelFactory, TeamFactory
from tests.portfolio.helpers import production_model


def _portfolio():
    """Two units; the cheap process's model is in worse shape than the valuable one's."""
    big, small = TeamFactory(), TeamFactory()
    payments = BusinessProcessFactory(name="Payments", business_unit=big.business_unit, value_at_stake=10_000_000)
    leads = BusinessProcessFactory(name="Lead scoring", business_unit=small.business_unit, value_at_stake=200_000)
    # critical (1) x compliant (0.1) x 10,000,000 = 1,000,000
    rich = production_model(name="Payments fraud", tier="critical", team=big, process=payments)
    # its owner left: low (0.05) x non-compliant or attention, on 200,000: a little money, a severe flag
    poor = production_model(name="Lead scorer", tier="low", team=small, process=leads,
                            accountable_owner=UserFactory(is_active=False))
    # approved=False: high (0.5) x non-compliant (0.6) x 10,000,000 = 3,000,000
    bad = production_model(name="Payments limits", tier="high", team=big, process=payments, approved=False)
    dev = MLModelFactory(name="Payments next", stage=Stage.DEVELOPMENT, team=big)
    dev.business_processes.add(payments)
    return rich, poor, bad, payments, leads


def test_each_model_stores_its_expected_exposure_and_the_tallies_add_up(db):
    rich, poor, bad, payments, leads = _portfolio()

    stored = dict(ModelGovernance.objects.values_list("model__name", "expected_exposure"))

    assert stored["Payments fraud"] == 1_000_000
    assert stored["Payments limits"] == 3_000_000
    assert stored["Payments next"] == 0  # in development: decides nothing yet
    assert stored["Lead scorer"] > 0
    tallies = figures.tallies()
    assert tallies["money"] == sum(stored.values())
    assert tallies[f"money:{payments.pk}"] == 4_000_000 and tallies[f"money:{leads.pk}"] == stored["Lead scorer"]
    assert figures.tallies(rich.team.business_unit_id)["money"] == 4_000_000
    assert figures.verify_tallies() == []


def test_a_new_value_at_stake_moves_the_money_and_the_tallies_follow(db):
    rich, poor, bad, payments, leads = _portfolio()
    before = figures.tallies()["money"]

    payments.value_at_stake = 20_000_000
    payments.save()  # from any screen: the figures of the models serving it are stored again

    assert ModelGovernance.objects.get(model=rich).expected_exposure == 2_000_000
    assert figures.tallies()["money"] == before + 4_000_000
    assert figures.verify_tallies() == []


def test_the_dashboard_ranks_red_flags_units_and_processes_by_money(client_as):
    rich, poor, bad, payments, leads = _portfolio()
    client = client_as("executive")

    by_severity = client.get(reverse("portfolio:dashboard")).context
    by_money = client.get(reverse("portfolio:dashboard"), {"rank": "money"}).context

    assert [f.model for f in by_money["red_flags"]][0] == "Payments limits"
    assert [f.exposure for f in by_money["red_flags"]] == sorted((f.exposure for f in by_money["red_flags"]),
                                                                 reverse=True)
    assert {f.model for f in by_money["red_flags"]} == {f.model for f in by_severity["red_flags"]}
    assert [name for _, name, _ in by_money["money_units"]] == [rich.team.business_unit.name,
                                                                poor.team.business_unit.name]
    assert [(p.name, n) for p, n in by_money["money_processes"]][0] == ("Payments", 4_000_000)
    kpi = by_money["kpis"][0]
    assert kpi["label"] == "Money at risk" and kpi["value"] == f"EUR {by_money['money_total']:,}"
    page = client.get(reverse("portfolio:dashboard"), {"rank": "money"}).content.decode()
    assert "EUR 3,000,000" in page and "EUR 4,000,000" in page


def test_the_currency_comes_from_the_setting(client_as, settings):
    settings.PORTAL_CURRENCY = "CHF"
    _portfolio()

    page = client_as("executive").get(reverse("portfolio:dashboard")).content.decode()

    assert "CHF 4,000,000" in page and "EUR 4,000,000" not in page


def test_an_unknown_ranking_is_refused_with_a_message(client_as):
    response = client_as("executive").get(reverse("portfolio:dashboard"), {"rank": "loudest"})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_the_api_carries_the_expected_exposure(client_as):
    rich, *_ = _portfolio()

    answer = client_as("executive").get(f"/api/v1/models/{rich.slug}/").json()

    assert answer["governance"]["expected_exposure"] == 1_000_000


def test_the_process_page_shows_its_money_at_risk_and_each_model_s_tier_and_approval(client_as):
    rich, poor, bad, payments, leads = _portfolio()

    response = client_as("executive").get(payments.get_absolute_url())

    assert response.context["money_at_risk"] == 4_000_000
    page = " ".join(response.content.decode().split())
    assert "EUR 4,000,000 a year" in page and "EUR 10,000,000 a year" in page
    assert '<th scope="col">Risk tier</th>' in page and '<th scope="col">Approval</th>' in page
    assert "<td>Critical</td>" in page and "<td>Not approved</td>" in page
