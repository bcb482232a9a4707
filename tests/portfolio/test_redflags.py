"""The red flags the dashboard reads: stored per model with its governance state, counted by the tallies."""

from collections import Counter
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.governance import figures
from apps.inventory import services
from apps.inventory.models import Deployment, GateOverride, Stage
from apps.portfolio import redflags
from apps.risk.models import RiskAssessment
from tests.factories import UserFactory
from tests.inventory.factories import (
    FINGERPRINT,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
    TeamFactory,
)
from tests.portfolio.helpers import DRIFTED, assessed, breach, production_model, refresh

pytestmark = pytest.mark.django_db


def mixed_portfolio():
    """Flags of every severity and of most kinds, on models whose names differ in case and spacing."""
    gone = UserFactory(is_active=False, first_name="Ada", last_name="Gone")
    team = TeamFactory()
    production_model(name="beta", runtime=DRIFTED, accountable_owner=gone, team=team)
    production_model(name="Alpha", runtime=DRIFTED)
    production_model(name="a lpha", accountable_owner=UserFactory(first_name="", last_name="", email=""), team=team)
    twice = production_model(name="Gamma", runtime=DRIFTED)
    DeploymentFactory(version=twice.versions.get(), target="https://a-first.internal", runtime_environment=DRIFTED)
    MLModelFactory(name="delta", accountable_owner=gone)  # in development: a medium flag
    bare = MLModelFactory(name="Epsilon", stage=Stage.PRODUCTION, team=team)
    DeploymentFactory(version=ModelVersionFactory(model=bare, stage=Stage.PRODUCTION, validated_environment={}),
                      business_process=None)
    overdue = RiskAssessment.objects.get(model__name="Alpha")
    overdue.reassessment_due = timezone.localdate() - timedelta(days=3)
    overdue.save(update_fields=["reassessment_due"])
    version = twice.versions.get()
    GateOverride.objects.create(version=version, actor=UserFactory(username="admin-a"), reason="Urgent fix")
    GateOverride.objects.create(version=version, actor=UserFactory(username="admin-b"), reason="Later one")
    breach(version)  # computes Gamma's state again, with its overrides
    refresh(overdue.model, bare)
    return team


def as_rows(rows):
    return [(r.severity, r.model, r.kind, r.detail, str(r.url)) for r in rows]


def flag(rows, model: str, code: str):
    return next(f for r in rows if r.model == model for f in r.flags if f.code == code)


def test_flagged_models_come_most_severe_first_then_by_name_each_with_its_flags_most_severe_first():
    mixed_portfolio()

    rows = redflags.collect()

    keys = [(r.severity_rank, r.model.lower()) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)  # one row per model
    assert {r.severity for r in rows} >= {redflags.HIGH, redflags.MEDIUM}
    for row in rows:
        ranks = [redflags.SEVERITY_RANK[f.severity] for f in row.flags]
        assert ranks == sorted(ranks) and row.severity_rank == ranks[0]
    gamma = flag(rows, "Gamma", "env_mismatch").detail
    assert gamma.index(" at https://a-first.internal: ") < gamma.index(" at https://") + 1  # same version: by target
    label = Deployment.objects.filter(version__model__name="Gamma").first().version.version
    override = flag(rows, "Gamma", "gate_overridden")
    assert (override.severity, override.detail) == (redflags.MEDIUM, f"Version {label}: an admin let it into "
                                                     "production without what the gate demanded.")  # one, however many
    assert flag(rows, "Epsilon", "no_fingerprint").severity == redflags.LOW


def test_the_first_rows_are_the_first_of_all_and_cost_one_query(django_assert_num_queries):
    mixed_portfolio()
    every = as_rows(redflags.collect())

    for limit in (1, 2, 3, 5, len(every), len(every) + 5):
        with django_assert_num_queries(1):
            assert as_rows(redflags.top(limit=limit)) == every[:limit], limit


def test_the_summary_counts_the_models_of_every_kind_and_severity_in_one_query(django_assert_num_queries):
    mixed_portfolio()
    rows = redflags.collect()

    with django_assert_num_queries(1):
        summary = redflags.counts()

    expected = Counter((f.code, f.severity) for r in rows for f in r.flags)
    assert {(k.code, s): n for k in summary.kinds for s, n in k.by_severity.items() if n} == expected
    assert summary.total == len(rows)
    assert summary.count("env_mismatch").total == 3  # Gamma's two deployments are one flag
    assert summary.count("no_process").total == 1
    assert figures.verify_tallies() == []


def test_counts_and_rows_narrow_to_a_business_unit():
    team = mixed_portfolio()

    rows = redflags.collect(team.business_unit)

    assert {r.model for r in rows} == {"beta", "a lpha", "Epsilon"}
    assert redflags.counts(team.business_unit).total == len(rows)
    assert as_rows(redflags.top(team.business_unit, 2)) == as_rows(rows[:2])


def test_a_retired_model_carries_no_flag():
    gone = UserFactory(is_active=False)
    model = production_model(name="Old", accountable_owner=gone, runtime=DRIFTED)
    assert [r.model for r in redflags.collect()] == ["Old"]

    model.versions.update(stage=Stage.RETIRED)
    type(model).objects.filter(pk=model.pk).update(stage=Stage.RETIRED)
    refresh(model)

    assert redflags.collect() == [] and redflags.counts().total == 0
    assert figures.verify_tallies() == []


def test_editing_the_validated_environment_raises_and_clears_the_mismatch_flag(make_user):
    scientist = make_user("data_scientist")
    model = production_model(name="Revalidated", team=TeamFactory(members=[scientist]))
    version = model.versions.get()
    assert redflags.counts().count("env_mismatch").total == 0

    services.version_update(actor=scientist, version=version,
                            validated_environment={**FINGERPRINT, "packages": {"scikit-learn": "1.7.2"}})

    detail = flag(redflags.top(), "Revalidated", "env_mismatch").detail
    assert "numpy: validated" not in detail and "scikit-learn: validated 1.7.2, runs 1.6.1" in detail
    services.version_update(actor=scientist, version=version, validated_environment=dict(FINGERPRINT))
    assert redflags.counts().count("env_mismatch").total == 0


def test_a_mismatch_stored_without_fingerprints_that_differ_still_says_what_differs():
    model = production_model(name="Recorded")
    Deployment.objects.filter(version__model=model).update(
        environment_mismatch=True, mismatch_details=[{"component": "OS", "validated": "Linux", "runtime": "Windows"}])
    refresh(model)

    assert flag(redflags.top(), "Recorded", "env_mismatch").detail.endswith(": OS: validated Linux, runs Windows.")


def test_two_unapproved_production_versions_are_one_flag_naming_both():
    model = MLModelFactory(name="Twice", stage=Stage.PRODUCTION)
    for label in ("9.0.0", "10.0.0"):
        ModelVersionFactory(model=model, stage=Stage.PRODUCTION, version=label)

    counted = redflags.counts().count("unapproved")
    found = flag(redflags.collect(), "Twice", "unapproved")

    assert counted.by_severity[redflags.HIGH] == 1 and counted.models == 1
    assert found.detail.startswith("Version 9.0.0: it needs a valid responsible-AI approval")
    assert "Version 10.0.0: it needs a valid" in found.detail
    assert found.url == reverse("reviews:version", kwargs={"version_id": model.versions.get(version="9.0.0").pk})


def test_a_re_assessment_overdue_is_high_in_production_and_medium_before():
    live = production_model(name="Live")
    candidate = MLModelFactory(name="Candidate", stage=Stage.STAGING)
    ModelVersionFactory(model=candidate, stage=Stage.STAGING)
    assessed(candidate, due_in_days=-3)
    RiskAssessment.objects.filter(model__name="Live").update(reassessment_due=timezone.localdate() - timedelta(days=3))
    refresh(live, candidate)

    rows = redflags.collect()
    found = [(flag(rows, name, "assessment_overdue").severity, name) for name in ("Live", "Candidate")]

    assert found == [(redflags.HIGH, "Live"), (redflags.MEDIUM, "Candidate")]
