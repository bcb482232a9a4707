"""The red-flag API the dashboard reads: counts per kind and severity, and the most severe flags, both from SQL."""

from collections import Counter
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.inventory import services
from apps.inventory.models import Deployment, GateOverride, Stage
from apps.portfolio import redflags, redflags_governance
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


def as_rows(flags):
    return [(f.severity, f.model, f.kind, f.detail, str(f.url)) for f in flags]


def test_every_flag_comes_most_severe_first_then_by_model_name_and_kind():
    mixed_portfolio()

    flags = redflags.collect(redflags.live_models())

    keys = [(f.severity_rank, f.model.lower(), f.kind) for f in flags]
    assert keys == sorted(keys)
    assert {f.severity for f in flags} == {redflags.HIGH, redflags.MEDIUM, redflags.LOW}
    gamma = [f.detail for f in flags if f.model == "Gamma" and f.kind == redflags.ENV_MISMATCH]
    assert len(gamma) == 2 and " at https://a-first.internal: " in gamma[0]  # same version: by target
    overrides = [(f.severity, f.model, f.detail) for f in flags if f.kind == redflags_governance.OVERRIDDEN]
    label = Deployment.objects.filter(version__model__name="Gamma").first().version.version
    assert overrides == [(redflags.MEDIUM, "Gamma", f"Version {label}: an admin let it into production without what "
                                                    "the gate demanded.")]  # one flag, however many overrides


@pytest.mark.parametrize("with_counts", [False, True])
def test_the_first_flags_read_from_sql_are_the_first_of_all_flags(with_counts):
    mixed_portfolio()
    models = redflags.live_models()
    every = as_rows(redflags.collect(models))
    counts = redflags.summary(models) if with_counts else None

    for limit in (1, 2, 3, 5, 8, 13, len(every), len(every) + 5):
        assert as_rows(redflags.top(models, limit, counts=counts)) == every[:limit], limit


def test_the_summary_counts_every_flag_per_kind_and_severity_and_the_models_flagged():
    mixed_portfolio()
    every = redflags.collect(redflags.live_models())

    summary = redflags.summary(redflags.live_models())

    expected = Counter((f.kind, f.severity) for f in every)
    assert {(k.kind, s): n for k in summary.kinds for s, n in k.by_severity.items() if n} == expected
    assert summary.total == len(every)
    for count in summary.kinds:
        assert count.models == len({f.model for f in every if f.kind == count.kind})
    assert summary.count(redflags.ENV_MISMATCH).total == 4 and summary.count(redflags.ENV_MISMATCH).models == 3
    assert summary.count("No such kind").total == 0


def test_counts_and_flags_narrow_to_the_models_given():
    team = mixed_portfolio()
    mine = redflags.live_models().filter(team=team)

    flags = redflags.collect(mine)

    assert {f.model for f in flags} == {"beta", "a lpha", "Epsilon"}
    assert redflags.summary(mine).total == len(flags)
    assert as_rows(redflags.top(mine, 3, counts=redflags.summary(mine))) == as_rows(flags[:3])


def test_flags_come_from_the_models_given_even_with_the_counts_of_other_models():
    team = mixed_portfolio()
    everything, mine = redflags.live_models(), redflags.live_models().filter(team=team)

    flags = redflags.top(mine, None, counts=redflags.summary(everything))

    assert as_rows(flags) == as_rows(redflags.collect(mine))
    assert {f.model for f in flags} == {"beta", "a lpha", "Epsilon"}


def counting(calls: Counter, name: str, method):
    def counted(self, row):
        calls[name] += 1
        return method(self, row)

    return counted


def test_details_and_links_are_built_only_for_the_flags_shown(monkeypatch):
    gone = UserFactory(is_active=False)
    for i in range(12):
        production_model(name=f"Model {i:02}", runtime=DRIFTED, accountable_owner=gone)
    worded = Counter()
    for source in redflags.sources():
        for name in ("detail", "url"):
            monkeypatch.setattr(type(source), name, counting(worded, name, getattr(type(source), name)))

    shown = redflags.top(redflags.live_models(), 5, counts=redflags.summary(redflags.live_models()))

    assert len(shown) == 5 and worded == {"detail": 5, "url": 5}


def test_editing_the_validated_environment_raises_and_clears_the_mismatch_flag(make_user):
    scientist = make_user("data_scientist")
    model = production_model(name="Revalidated", team=TeamFactory(members=[scientist]))
    version = model.versions.get()
    assert redflags.summary(redflags.live_models()).count(redflags.ENV_MISMATCH).total == 0

    services.version_update(actor=scientist, version=version,
                            validated_environment={**FINGERPRINT, "packages": {"scikit-learn": "1.7.2"}})

    flags = [f for f in redflags.top(redflags.live_models()) if f.kind == redflags.ENV_MISMATCH]
    assert [f.model for f in flags] == ["Revalidated"]
    assert "numpy: validated" not in flags[0].detail and "scikit-learn: validated 1.7.2, runs 1.6.1" in flags[0].detail
    services.version_update(actor=scientist, version=version, validated_environment=dict(FINGERPRINT))
    assert redflags.summary(redflags.live_models()).count(redflags.ENV_MISMATCH).total == 0


def test_a_mismatch_stored_without_fingerprints_that_differ_still_says_what_differs():
    model = production_model(name="Recorded")
    Deployment.objects.filter(version__model=model).update(
        environment_mismatch=True, mismatch_details=[{"component": "OS", "validated": "Linux", "runtime": "Windows"}])

    [flag] = [f for f in redflags.top(redflags.live_models()) if f.kind == redflags.ENV_MISMATCH]

    assert flag.detail.endswith(": OS: validated Linux, runs Windows")


def test_two_unapproved_production_versions_are_one_flag_naming_both():
    model = MLModelFactory(name="Twice", stage=Stage.PRODUCTION)
    for label in ("9.0.0", "10.0.0"):
        ModelVersionFactory(model=model, stage=Stage.PRODUCTION, version=label)

    counted = redflags.summary(redflags.live_models()).count(redflags_governance.UNAPPROVED)
    [flag] = [f for f in redflags.collect(redflags.live_models()) if f.kind == counted.kind]

    assert counted.by_severity[redflags.HIGH] == 1 and counted.models == 1
    assert flag.detail.startswith("Version 9.0.0: it needs a valid responsible-AI approval")
    assert "Version 10.0.0: it needs a valid" in flag.detail
    assert flag.url == reverse("reviews:version", kwargs={"version_id": model.versions.get(version="9.0.0").pk})


def test_a_re_assessment_overdue_is_high_in_production_and_medium_before():
    production_model(name="Live")
    candidate = MLModelFactory(name="Candidate", stage=Stage.STAGING)
    ModelVersionFactory(model=candidate, stage=Stage.STAGING)
    assessed(candidate, due_in_days=-3)
    RiskAssessment.objects.filter(model__name="Live").update(reassessment_due=timezone.localdate() - timedelta(days=3))
    refresh(*redflags.live_models())

    found = [(f.severity, f.model) for f in redflags.collect(redflags.live_models())
             if f.kind == redflags_governance.ASSESSMENT_OVERDUE]

    assert found == [(redflags.HIGH, "Live"), (redflags.MEDIUM, "Candidate")]


def test_a_source_with_nothing_the_first_flags_could_show_runs_no_query(django_assert_num_queries):
    production_model(name="Alpha", runtime=DRIFTED)  # one high flag: the mismatch
    models = redflags.live_models()
    counts = redflags.summary(models)
    needed = [s for s in redflags.sources() if any(counts.per_source[s][:1])]
    assert [s.kind for s in needed] == [redflags.ENV_MISMATCH]

    # limit 1: only high flags can be shown, and only the mismatch source has one.
    with django_assert_num_queries(1):
        first = redflags.top(models, 1, counts=counts)
    assert [f.kind for f in first] == [redflags.ENV_MISMATCH]
    # Without the summary every source is asked.
    with django_assert_num_queries(len(redflags.sources())):
        assert as_rows(redflags.top(models, 1)) == as_rows(first)
