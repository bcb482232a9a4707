"""The portfolio's figures stored with each state: red flags and tallies that always add up to the stored states."""

import pytest
from django.core.management import CommandError, call_command

from apps.governance import figures
from apps.governance.services import governance_refresh_due, governance_verify
from apps.inventory.models import ModelGovernance, PortfolioTally
from tests.factories import UserFactory
from tests.portfolio.helpers import DRIFTED, production_model

pytestmark = pytest.mark.django_db


def portfolio():
    gone = UserFactory(is_active=False)
    production_model(name="Drifted", runtime=DRIFTED, tier="high")
    production_model(name="Orphan", accountable_owner=gone)
    production_model(name="Never evaluated", evaluated=False, deployed_days_ago=60)
    production_model(name="Sound")


def test_every_tally_is_the_sum_of_the_stored_states():
    portfolio()

    counts = figures.tallies()

    rows = ModelGovernance.objects.all()
    assert counts["live"] == rows.count() == 4
    assert counts["status:compliant"] == rows.filter(status="compliant").count()
    assert counts["reason:owner_inactive"] == rows.filter(reason_codes__contains=",owner_inactive,").count() == 1
    assert counts["flagged"] == rows.filter(flag_rank__isnull=False).count() == 3
    assert counts["heat:2,3"] == 4  # production_model rates every model's risks at probability 2, impact 3
    assert figures.verify_tallies() == []


def test_verify_governance_finds_a_tally_that_drifted_and_fix_recounts_it():
    portfolio()
    drifted = ModelGovernance.objects.get(model__name="Drifted")
    PortfolioTally.objects.filter(key="live", business_unit_id=drifted.business_unit_id).update(n=99)

    with pytest.raises(CommandError, match="differ"):
        call_command("verify_governance")
    assert [(d.field, d.stored, d.fresh) for d in governance_verify()] == [("live", 99, 1)]

    governance_verify(fix=True)

    assert figures.tallies()["live"] == 4 and governance_verify() == []


def test_states_stored_before_the_figures_get_them_from_the_command_and_the_beat_task():
    portfolio()
    ModelGovernance.objects.update(tally=None, flags=[], flag_rank=None, business_unit_id=None)
    PortfolioTally.objects.all().delete()
    assert figures.tallies() == {}

    call_command("store_portfolio_figures", verbosity=0)

    assert figures.tallies()["live"] == 4 and figures.verify_tallies() == []
    sound = ModelGovernance.objects.get(model__name="Sound")
    ModelGovernance.objects.filter(pk=sound.pk).update(tally=None)
    PortfolioTally.objects.filter(business_unit_id=sound.business_unit_id).delete()  # as if never counted

    governance_refresh_due()

    assert ModelGovernance.objects.get(model__name="Sound").tally is not None
    assert figures.tallies()["live"] == 4 and figures.verify_tallies() == []


def test_storing_twice_moves_nothing():
    portfolio()
    before = figures.tallies()

    changed = figures.store(ModelGovernance.objects.values_list("model_id", flat=True))

    assert changed == 0 and figures.tallies() == before
