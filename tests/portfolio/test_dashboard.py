import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.inventory.models import AutomationLevel, Deployment, Exposure, MLModel, Stage
from apps.portfolio import redflags
from tests.factories import UserFactory
from tests.inventory.factories import (
    FINGERPRINT,
    BusinessProcessFactory,
    DataSetFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
    TeamFactory,
)

pytestmark = pytest.mark.django_db

DRIFTED = {"python": "3.11.9", "os": "Linux", "packages": {"scikit-learn": "1.7.0", "numpy": "2.2.0"}}


def production_model(*, runtime=None, environment=Deployment.Environment.PRODUCTION, team=None, process=None,
                     **model_fields):
    model = MLModelFactory(stage=Stage.PRODUCTION, **({"team": team} if team else {}), **model_fields)
    version = ModelVersionFactory(model=model, stage=Stage.PRODUCTION, training_datasets=[DataSetFactory()])
    DeploymentFactory(version=version, environment=environment, business_process=process or BusinessProcessFactory(),
                      runtime_environment=dict(runtime or FINGERPRINT))
    governed(version)
    return model


def governed(version, *, tier="low"):
    """What a version in production normally has: a current risk assessment and an approved review."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.reviews.models import Review
    from apps.risk.models import RiskAssessment, RiskRating

    assessment = RiskAssessment.objects.create(
        model=version.model, status="current", exposure="internal", automation_level="human_decides", tier=tier,
        base_tier=tier, submitted_at=timezone.now(), reassessment_due=timezone.localdate() + timedelta(days=100))
    RiskRating.objects.create(assessment=assessment, risk="degradation", probability=2, impact=3, severity="medium")
    Review.objects.create(version=version, state="approved", decided_at=timezone.now())


def flags_of(kind):
    return [(f.model, f.detail) for f in redflags.collect(redflags.live_models()) if f.kind == kind]


def dashboard(client, **params):
    return client.get(reverse("portfolio:dashboard"), params)


# --- Red flags ------------------------------------------------------------------------------

def test_it_flags_only_active_production_deployments_outside_their_validated_environment():
    drifted = production_model(runtime=DRIFTED, name="Drifted")
    production_model(name="Faithful")
    production_model(runtime=DRIFTED, environment=Deployment.Environment.STAGING, name="Staging only")
    retired = production_model(runtime=DRIFTED, name="Retired deployment")
    Deployment.objects.filter(version__model=retired).update(retired_at="2025-01-01T00:00:00Z")

    found = flags_of(redflags.ENV_MISMATCH)

    assert [model for model, _ in found] == [drifted.name]
    assert "scikit-learn: validated 1.6.1, runs 1.7.0" in found[0][1]
    assert "Python" not in found[0][1]  # a patch release of Python does not matter


def test_it_flags_models_whose_accountable_owner_left_but_not_retired_ones():
    gone = UserFactory(is_active=False, first_name="Ada", last_name="Gone")
    left = production_model(name="Orphan", accountable_owner=gone)
    MLModelFactory(name="Old orphan", accountable_owner=gone, stage=Stage.RETIRED)
    production_model(name="Owned")

    found = flags_of(redflags.OWNER_LEFT)

    assert found == [(left.name, "Ada Gone is no longer active; name a new accountable owner.")]


def test_it_flags_production_models_whose_owner_cannot_be_reached():
    nameless = UserFactory(first_name="", last_name="", email="")
    unreachable = production_model(name="Unreachable", accountable_owner=nameless)
    MLModelFactory(name="Still in development", accountable_owner=UserFactory(email=""))
    production_model(name="Reachable")

    found = flags_of(redflags.OWNER_INCOMPLETE)

    assert [model for model, _ in found] == [unreachable.name]
    assert "no e-mail address and no name" in found[0][1]


def test_it_flags_production_gaps_in_process_training_data_and_fingerprints():
    no_process = MLModelFactory(name="No process", stage=Stage.PRODUCTION)
    ModelVersionFactory(model=no_process, stage=Stage.PRODUCTION, validated_environment={})
    DeploymentFactory(version=no_process.versions.get(), business_process=None)
    production_model(name="Complete")

    assert [m for m, _ in flags_of(redflags.NO_PROCESS)] == ["No process"]
    assert [m for m, _ in flags_of(redflags.NO_TRAINING_DATA)] == ["No process"]
    assert [m for m, _ in flags_of(redflags.NO_FINGERPRINT)] == ["No process"]


def test_other_apps_can_register_their_own_red_flags():
    model = production_model(name="Unexplained")
    MLModelFactory(name="Still in development")

    class Unexplained(redflags.Source):
        kind = "No model card"
        severity = redflags.LOW

        def rows(self, models):
            return models.filter(stage=Stage.PRODUCTION)

        def detail(self, model):
            return "Nobody wrote its model card."

        def url(self, model):
            return "/x/"

    redflags.register(Unexplained)
    redflags.register(Unexplained)
    try:
        found = [f for f in redflags.collect(redflags.live_models()) if f.kind == "No model card"]
        counted = redflags.summary(redflags.live_models()).count("No model card")
    finally:
        redflags.unregister(Unexplained)

    assert found == [redflags.RedFlag(redflags.LOW, model.name, "No model card", "Nobody wrote its model card.", "/x/")]
    assert counted.by_severity == {"high": 0, "medium": 0, "low": 1} and counted.models == 1
    assert Unexplained not in map(type, redflags.sources())


def test_the_dashboard_lists_the_mismatch_and_owner_left_flags_first(client_as):
    gone = UserFactory(is_active=False)
    production_model(runtime=DRIFTED, name="Drifted model")
    production_model(name="Orphan model", accountable_owner=gone)
    production_model(name="Healthy model")

    response = dashboard(client_as("executive"))

    page = response.content.decode()
    flags = page[page.index('id="red-flags-title"'):page.index('class="kpi-grid"')]
    assert "Drifted model" in flags and "Runs outside its validated environment" in flags
    assert "Orphan model" in flags and "Owner has left" in flags
    assert "Healthy model" not in flags
    assert page.index("red-flags-title") < page.index("figure-stage-by-unit")
    kpis = {k["label"]: k["value"] for k in response.context["kpis"]}
    assert kpis["Environment mismatches"] == 1 and kpis["Owners who left"] == 1 and kpis["In production"] == 3


def test_the_dashboard_shows_the_25_most_severe_flags_and_counts_them_all_by_issue(client_as):
    gone = UserFactory(is_active=False)
    for i in range(26):
        production_model(name=f"Orphan {i:02}", accountable_owner=gone)
    MLModelFactory(name="Orphan in development", accountable_owner=gone)

    response = dashboard(client_as("executive"))

    assert [f.model for f in response.context["red_flags"]] == [f"Orphan {i:02}" for i in range(25)]
    assert response.context["red_flag_total"] == 27
    assert response.context["red_flag_counts"] == [
        redflags.KindCount(redflags.OWNER_LEFT, {"high": 26, "medium": 1, "low": 0}, models=27)]
    page = " ".join(response.content.decode().split())
    assert "Showing the 25 most severe of 27 red flags" in page
    assert ('<th scope="row">Owner has left</th> <td class="num">26</td> <td class="num">1</td> '
            '<td class="num">0</td> <td class="num">27</td>') in page


def test_the_dashboard_says_so_when_nothing_is_wrong(client_as):
    production_model(name="Healthy model")

    response = dashboard(client_as("executive"))

    assert response.context["red_flags"] == []
    assert "No red flags" in response.content.decode()


# --- Charts ---------------------------------------------------------------------------------

def test_the_stage_chart_counts_models_per_unit_and_stage_like_the_database(client_as):
    teams = [TeamFactory(), TeamFactory()]
    for i, stage in enumerate([Stage.DEVELOPMENT, Stage.PRODUCTION, Stage.PRODUCTION, Stage.RETIRED, Stage.STAGING]):
        MLModelFactory(team=teams[i % 2], stage=stage)
        MLModelFactory(team=teams[0], stage=stage)

    chart = dashboard(client_as("executive")).context["charts"][0]

    for trace in chart.figure["data"]:
        for unit_name, count, link in zip(trace["x"], trace["y"], trace["customdata"], strict=True):
            expected = MLModel.objects.filter(team__business_unit__name=unit_name, stage=trace["meta"]).count()
            assert count == expected, (unit_name, trace["meta"])
            slug = next(t.business_unit.slug for t in teams if t.business_unit.name == unit_name)
            assert link == f"/inventory/?business_unit={slug}&stage={trace['meta']}"
    assert sum(sum(t["y"]) for t in chart.figure["data"]) == MLModel.objects.count() == 10


def test_the_impact_chart_sums_each_process_once(client_as):
    team = TeamFactory()
    process = BusinessProcessFactory(business_unit=team.business_unit, value_at_stake=2_000_000, decisions_per_day=300)
    production_model(team=team, process=process, business_processes=[process])
    production_model(team=team, process=process)
    dev = MLModelFactory(team=team, stage=Stage.DEVELOPMENT)
    dev.business_processes.add(BusinessProcessFactory(business_unit=team.business_unit, value_at_stake=9))

    chart = dashboard(client_as("executive"), business_unit=team.business_unit.slug).context["charts"][1]

    value, decisions = chart.figure["data"]
    assert value["x"] == [2_000_000] and decisions["x"] == [300]
    assert chart.rows[0][1].text == "1"


def test_the_exposure_chart_counts_live_models(client_as):
    MLModelFactory(exposure=Exposure.PUBLIC, automation_level=AutomationLevel.FULLY_AUTOMATED)
    MLModelFactory(exposure=Exposure.PUBLIC, automation_level=AutomationLevel.FULLY_AUTOMATED)
    MLModelFactory(exposure=Exposure.PUBLIC, automation_level=AutomationLevel.FULLY_AUTOMATED, stage=Stage.RETIRED)

    chart = dashboard(client_as("executive")).context["charts"][2]

    z = chart.figure["data"][0]["z"]
    assert z[AutomationLevel.values.index("fully_automated")][Exposure.values.index("public")] == 2
    assert sum(map(sum, z)) == 2


def test_the_business_unit_filter_narrows_every_figure(client_as):
    team = TeamFactory()
    production_model(team=team, runtime=DRIFTED, name="Mine")
    production_model(runtime=DRIFTED, name="Theirs")

    response = dashboard(client_as("executive"), business_unit=team.business_unit.slug)

    assert [f.model for f in response.context["red_flags"]] == ["Mine"]
    assert [t["x"] for t in response.context["charts"][0].figure["data"]] == [[team.business_unit.name]]


def test_the_governance_panels_count_like_the_database(client_as):
    from apps.monitoring.models import Alert

    drifting = production_model(name="Drifting")
    production_model(name="Fine")
    version = drifting.versions.get()
    Alert.objects.create(model=drifting, version=version, metric="drift.income.psi", value=0.4, threshold="> 0.2",
                         severity="breach", message="PSI of income is 0.4")
    unreviewed = MLModelFactory(name="Fresh")

    response = dashboard(client_as("executive"))

    heatmap, reviews, health = response.context["governance_charts"]
    assert heatmap.figure["data"][0]["z"][1][2] == 2  # probability 2, impact 3: one rating per production model
    assert heatmap.figure["data"][0]["customdata"][1][2] == "/risk/?probability=2&impact=3"
    review_counts = dict(zip(reviews.figure["data"][0]["y"], reviews.figure["data"][0]["x"], strict=True))
    assert review_counts["Has an approved version"] == 2 and review_counts["Never reviewed"] == 1
    assert dict(zip(health.figure["data"][0]["x"], health.figure["data"][0]["y"], strict=True)) == {
        "Healthy": 1, "Warning": 0, "Breach": 1}
    flags = response.content.decode()
    assert "Breached metric" in flags and unreviewed.name not in [f.model for f in response.context["red_flags"]]


def test_every_chart_has_a_data_table_and_no_inline_script(client_as):
    production_model()

    page = dashboard(client_as("executive")).content.decode()

    charts = page.count('class="chart"')
    assert charts == 6 and page.count("<summary>Data table</summary>") == charts
    assert "<script>" not in page and " onclick=" not in page
    assert page.count('type="application/json"') == charts


def test_the_review_status_bars_count_the_models_the_model_list_lists(client_as):
    from apps.inventory.filters import ModelFilter
    from apps.reviews.models import Review

    def reviewed(*states, stage=Stage.PRODUCTION):
        model = MLModelFactory(stage=stage)
        for state in states:
            Review.objects.create(version=ModelVersionFactory(model=model, stage=stage), state=state)
        return model

    production_model()  # approved
    reviewed("approved", "submitted")
    reviewed("in_review", "draft", stage=Stage.VALIDATION)
    reviewed("expired")  # in production without a valid approval
    reviewed("draft")
    reviewed("approved", stage=Stage.RETIRED)
    MLModelFactory(), MLModelFactory(stage=Stage.RETIRED)  # never reviewed

    response = dashboard(client_as("executive"))

    reviews = response.context["governance_charts"][1]
    counts = dict(zip(reviews.figure["data"][0]["y"], reviews.figure["data"][0]["x"], strict=True))
    live = MLModel.objects.exclude(stage=Stage.RETIRED)
    listed = {label: ModelFilter({"review_status": key}, queryset=live).qs.count()
              for key, label in ModelFilter.base_filters["review_status"].extra["choices"]}
    assert counts == listed == {"Has an approved version": 2, "Review open": 2,
                                "In production without valid approval": 3, "Never reviewed": 1}


def test_the_dashboard_costs_the_same_number_of_queries_for_5_or_30_models(client_as, django_assert_max_num_queries):
    client = client_as("executive")
    gone = UserFactory(is_active=False)
    counts = {}
    for n in (5, 30):
        for i in range(n):
            owner = {"accountable_owner": gone} if i % 3 == 0 else {}
            production_model(runtime=DRIFTED if i % 2 else None, **owner)
        with CaptureQueriesContext(connection) as ctx:
            assert dashboard(client).status_code == 200
        counts[n] = len(ctx.captured_queries)

    assert counts[5] == counts[30], counts
    with django_assert_max_num_queries(25):
        dashboard(client)


@pytest.mark.parametrize("unit", [False, True])
def test_every_headline_figure_and_chart_cell_is_the_number_of_models_its_link_lists(client_as, unit):
    gone = UserFactory(is_active=False)
    team = TeamFactory()
    production_model(runtime=DRIFTED, name="Drifted in production", team=team)
    production_model(environment=Deployment.Environment.STAGING, runtime=DRIFTED, name="Drifted in staging", team=team)
    production_model(name="Orphan", accountable_owner=gone, team=team)
    MLModelFactory(name="Retired orphan", accountable_owner=gone, stage=Stage.RETIRED, team=team)
    retired = MLModelFactory(name="Retired but still deployed", stage=Stage.RETIRED, team=team)
    DeploymentFactory(version=ModelVersionFactory(model=retired, stage=Stage.RETIRED), runtime_environment=DRIFTED)
    MLModelFactory(name="Elsewhere", accountable_owner=gone)  # another unit
    client = client_as("executive")

    response = dashboard(client, **({"business_unit": team.business_unit.slug} if unit else {}))

    listed = reverse("inventory:index")
    checked = 0
    for kpi in response.context["kpis"]:
        if not kpi["url"].startswith(listed + "?"):
            continue
        query = kpi["url"].split("?", 1)[1]
        shown = client.get(f"/api/v1/models/?{query}", HTTP_ACCEPT="application/json").json()["count"]
        assert kpi["value"] == shown, (kpi["label"], kpi["value"], shown)
        checked += 1
    assert checked == 4
    kpis = {k["label"]: k["value"] for k in response.context["kpis"]}
    assert kpis["Environment mismatches"] == 2 and kpis["Owners who left"] == 1 + (not unit)

    # The same for every cell of the charts that count models, in their tables.
    charts = {c.id: c for c in [*response.context["charts"], *response.context["governance_charts"]]}
    counted = [(cell.url, cell.text) for chart_id in ("figure-stage-by-unit", "figure-exposure-automation")
               for row in charts[chart_id].rows for cell in row if cell.text.isdigit() and cell.url]
    counted += [(label.url, number.text) for label, number in charts["chart-review-status"].rows]  # label links
    assert len(counted) > 10 and all(url.startswith(listed + "?") for url, _ in counted)
    for url, number in counted:
        shown = client.get(f"/api/v1/models/?{url.split('?', 1)[1]}", HTTP_ACCEPT="application/json").json()["count"]
        assert int(number) == shown, (url, number, shown)
