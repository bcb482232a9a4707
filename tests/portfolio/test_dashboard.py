import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.governance import figures
from apps.inventory.models import AutomationLevel, Deployment, Exposure, MLModel, Stage
from apps.portfolio import redflags
from tests.factories import UserFactory
from tests.inventory.factories import (
    BusinessProcessFactory,
    DeploymentFactory,
    MLModelFactory,
    ModelVersionFactory,
    TeamFactory,
)
from tests.portfolio.helpers import DRIFTED, breach, production_model, refresh

pytestmark = pytest.mark.django_db

def flags_of(code):
    """(model, detail) of every stored flag of kind ``code``, in dashboard order."""
    return [(row.model, flag.detail) for row in redflags.collect() for flag in row.flags if flag.code == code]


def dashboard(client, **params):
    return client.get(reverse("portfolio:dashboard"), params)


# --- Red flags ------------------------------------------------------------------------------

def test_it_flags_only_active_production_deployments_outside_their_validated_environment():
    drifted = production_model(runtime=DRIFTED, name="Drifted")
    production_model(name="Faithful")
    production_model(runtime=DRIFTED, environment=Deployment.Environment.STAGING, name="Staging only")
    retired = production_model(runtime=DRIFTED, name="Retired deployment")
    Deployment.objects.filter(version__model=retired).update(retired_at="2025-01-01T00:00:00Z")
    refresh(retired)  # written behind the services' back: store its state again, as they would

    found = flags_of("env_mismatch")

    assert [model for model, _ in found] == [drifted.name]
    assert "scikit-learn: validated 1.6.1, runs 1.7.0" in found[0][1]
    assert "Python" not in found[0][1]  # a patch release of Python does not matter


def test_it_flags_models_whose_accountable_owner_left_but_not_retired_ones():
    gone = UserFactory(is_active=False, first_name="Ada", last_name="Gone")
    left = production_model(name="Orphan", accountable_owner=gone)
    MLModelFactory(name="Old orphan", accountable_owner=gone, stage=Stage.RETIRED)
    production_model(name="Owned")

    found = flags_of("owner_left")

    assert found == [(left.name, "Ada Gone, the accountable owner, no longer has an active account; name a new "
                                 "owner.")]


def test_it_flags_production_models_whose_owner_cannot_be_reached():
    nameless = UserFactory(first_name="", last_name="", email="")
    unreachable = production_model(name="Unreachable", accountable_owner=nameless)
    MLModelFactory(name="Still in development", accountable_owner=UserFactory(email=""))
    production_model(name="Reachable")

    found = flags_of("owner_unreachable")

    assert [model for model, _ in found] == [unreachable.name]
    assert "no e-mail address and no name" in found[0][1]


def test_it_flags_production_gaps_in_process_training_data_and_fingerprints():
    no_process = MLModelFactory(name="No process", stage=Stage.PRODUCTION)
    ModelVersionFactory(model=no_process, stage=Stage.PRODUCTION, validated_environment={})
    DeploymentFactory(version=no_process.versions.get(), business_process=None)
    production_model(name="Complete")

    assert [m for m, _ in flags_of("no_process")] == ["No process"]
    assert [m for m, _ in flags_of("no_training_data")] == ["No process"]
    assert [m for m, _ in flags_of("no_fingerprint")] == ["No process"]


def test_a_fact_no_state_depends_on_still_moves_the_flags_and_their_counts():
    owner = UserFactory(first_name="Ada", last_name="Lovelace", email="ada@example.org")
    model = production_model(name="Reachable", accountable_owner=owner)
    assert flags_of("owner_unreachable") == []

    owner.email = ""
    owner.save()

    assert flags_of("owner_unreachable") == [(model.name, f"Accountable owner {owner.username} has no e-mail "
                                                          "address on record.")]
    assert redflags.counts().count("owner_unreachable").by_severity == {"high": 0, "medium": 1, "low": 0}
    assert figures.verify_tallies() == []


def test_a_team_moved_to_another_unit_takes_its_models_counts_with_it():
    team = TeamFactory()
    model = production_model(name="Mover", team=team)
    before, after = team.business_unit, TeamFactory().business_unit

    team.business_unit = after
    team.save()

    assert figures.tallies(before.pk).get("live", 0) == 0
    assert figures.tallies(after.pk)["live"] == 1
    assert model.governance.__class__.objects.get(pk=model.pk).business_unit_id == after.pk
    assert figures.verify_tallies() == []


def test_deleting_a_model_takes_back_its_counts():
    model = production_model(name="Short-lived")
    ModelVersionFactory  # noqa: B018 - factories keep their versions; the model goes with its state
    assert figures.tallies()["live"] == 1

    Deployment.objects.filter(version__model=model).delete()
    model.versions.all().delete()
    model.delete()

    assert figures.tallies().get("live", 0) == 0
    assert figures.verify_tallies() == []


def test_the_dashboard_lists_the_mismatch_and_owner_left_flags_first(client_as):
    gone = UserFactory(is_active=False)
    production_model(runtime=DRIFTED, name="Drifted model")
    production_model(name="Orphan model", accountable_owner=gone)
    production_model(name="Healthy model")

    response = dashboard(client_as("executive"))

    page = response.content.decode()
    flags = page[page.index('id="red-flags-title"'):page.index('id="red-flag-counts-title"')]
    assert "Drifted model" in flags and "Runs outside its validated environment" in flags
    assert "Orphan model" in flags and "Owner has left" in flags
    # Each row reads as one business sentence; the engineers' detail waits in a disclosure.
    assert "the person accountable for it has left" in flags.lower()
    assert "it runs on software other than the one it was validated on" in flags.lower()
    assert flags.count('<details class="flag-detail">') == 2
    assert "Healthy model" not in flags
    # The headline numbers come first, then the red flags, then the charts.
    assert page.index('class="kpi-grid"') < page.index("red-flags-title") < page.index("figure-stage-by-unit")
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
        redflags.KindCount("Owner has left", "owner_left", {"high": 26, "medium": 1, "low": 0})]
    page = " ".join(response.content.decode().split())
    assert "Showing the 25 most severe of 27 models with red flags" in page
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

    counts = chart.figure["data"][0]["text"]  # the colour (z) is the use's severity; the label counts
    assert counts[AutomationLevel.values.index("fully_automated")][Exposure.values.index("public")] == 2
    assert sum(map(sum, counts)) == 2


def test_the_business_unit_filter_narrows_every_figure(client_as):
    team = TeamFactory()
    production_model(team=team, runtime=DRIFTED, name="Mine")
    production_model(runtime=DRIFTED, name="Theirs")

    response = dashboard(client_as("executive"), business_unit=team.business_unit.slug)

    assert [f.model for f in response.context["red_flags"]] == ["Mine"]
    assert [t["x"] for t in response.context["charts"][0].figure["data"]] == [[team.business_unit.name]]


def bars(chart) -> dict[str, int]:
    trace = chart.figure["data"][0]
    return dict(zip(trace["y"], trace["x"], strict=True))


def governance_chart(response, chart_id):
    return next(c for c in response.context["governance_charts"] if c.id == chart_id)


def test_the_governance_panels_count_the_stored_state(client_as):
    drifting = production_model(name="Drifting")
    production_model(name="Fine")
    breach(drifting.versions.get())
    MLModelFactory(name="Fresh")

    response = dashboard(client_as("executive"))

    heatmap = governance_chart(response, "chart-risk-heatmap")
    assert heatmap.figure["data"][0]["text"][1][2] == 2  # probability 2, impact 3: one rating per production model
    assert heatmap.figure["data"][0]["customdata"][1][2] == "/risk/?probability=2&impact=3"
    assert "Live models by tier: 2 low, 1 not assessed." in heatmap.summary
    assert bars(governance_chart(response, "chart-governance-state")) == {
        "Compliant": 1, "Needs attention": 1, "Non-compliant": 1, "Suspended": 0}
    assert bars(governance_chart(response, "chart-health")) == {
        "Healthy": 1, "Warning": 0, "Breach": 1, "No evidence": 0}
    assert bars(governance_chart(response, "chart-approval")) == {
        "Approved": 2, "Suspended": 0, "Void (content changed)": 0, "Short of what the tier needs": 0,
        "Not approved": 1}
    flags = [(f.model, f.kind) for f in response.context["red_flags"]]
    assert flags == [("Drifting", "Metric in breach")]


def test_a_never_evaluated_production_model_has_no_evidence_and_is_not_healthy(client_as):
    production_model(name="Never evaluated", evaluated=False, deployed_days_ago=60)
    production_model(name="Evaluated")

    response = dashboard(client_as("executive"))

    assert bars(governance_chart(response, "chart-health")) == {
        "Healthy": 1, "Warning": 0, "Breach": 0, "No evidence": 1}
    kpis = {k["label"]: k for k in response.context["kpis"]}
    assert kpis["No monitoring evidence"]["value"] == 1
    assert "1 never evaluated, 0 overdue" in kpis["No monitoring evidence"]["note"]
    [flag] = response.context["red_flags"]
    assert (flag.severity, flag.model, flag.kind) == (redflags.HIGH, "Never evaluated",
                                                      "Never evaluated in production")
    assert "has never been evaluated on production data" in flag.detail
    assert flag.url == reverse("monitoring:model", kwargs={"slug": MLModel.objects.get(name="Never evaluated").slug})


def test_lapsed_monitoring_is_a_red_flag(client_as):
    from tests.portfolio.helpers import evaluate, refresh

    model = production_model(name="Lapsed", evaluated=False, deployed_days_ago=90)
    evaluate(model.versions.get(), days_ago=60)
    refresh(model)

    [flag] = dashboard(client_as("executive")).context["red_flags"]

    assert (flag.severity, flag.kind) == (redflags.HIGH, "Monitoring overdue")
    assert flag.detail.startswith("Version ") and "its tier asks for monthly monitoring" in flag.detail


def test_a_suspended_model_is_a_red_flag_with_the_reasons_sentence_and_link(client_as):
    from apps.inventory.models import ModelGovernance

    model = production_model(name="Suspended", tier="critical")
    version = model.versions.get()
    breach(version)
    state = ModelGovernance.objects.get(model=model)
    assert state.status == "suspended"
    reason = next(r for r in state.reasons if r["code"] == "approval_suspended")

    response = dashboard(client_as("executive"))

    [row] = [f for f in response.context["red_flags"] if f.has("approval_suspended")]
    flag = next(f for f in row.flags if f.code == "approval_suspended")
    assert (row.severity, row.model, flag.detail, flag.url) == (redflags.HIGH, "Suspended", reason["message"],
                                                                reason["url"])
    assert row.url == flag.url == reverse("governance:accept", kwargs={"version_id": version.pk})
    page = response.content.decode()
    assert f'<a href="{flag.url}">Approval suspended</a>' in page and "suspends the approval until a reviewer" in page
    assert bars(governance_chart(response, "chart-governance-state"))["Suspended"] == 1


def test_every_non_compliant_or_suspended_model_carries_a_high_flag_of_its_state(client_as):
    gone = UserFactory(is_active=False)
    production_model(name="Unapproved", approved=False)
    production_model(name="Orphan", accountable_owner=gone)
    production_model(name="Never evaluated", evaluated=False, deployed_days_ago=60)
    breach(production_model(name="Breached").versions.get())
    production_model(name="Sound")

    response = dashboard(client_as("executive"))

    failing = {k["label"]: k["value"] for k in response.context["kpis"]}["Non-compliant or suspended"]
    high = {f.model for f in response.context["red_flags"] if f.severity == redflags.HIGH}
    assert failing == len(high) == 4 and "Sound" not in high


def test_a_model_whose_state_is_not_computed_yet_is_in_no_governance_figure_and_the_page_says_so(client_as):
    production_model(name="Computed")
    MLModelFactory(name="Just registered", governance=False)

    response = dashboard(client_as("executive"))

    assert response.context["uncomputed"] == 1
    assert sum(bars(governance_chart(response, "chart-governance-state")).values()) == 1
    assert "1 live model has no governance state computed yet" in response.content.decode()


def test_every_chart_has_a_data_table_and_no_inline_script(client_as):
    production_model()

    page = dashboard(client_as("executive")).content.decode()

    charts = page.count('class="chart"')
    assert charts == 7 and page.count("<summary>Data table</summary>") == charts
    assert "<script>" not in page and " onclick=" not in page
    assert page.count('type="application/json"') == charts


def varied_portfolio(n: int, *, team=None) -> None:
    """``n`` production models in every governance state the dashboard counts."""
    gone = UserFactory(is_active=False)
    for i in range(n):
        production_model(team=team, runtime=DRIFTED if i % 2 else None,
                         **({"accountable_owner": gone} if i % 3 == 0 else {}),
                         approved=i % 5 != 1, evaluated=i % 7 != 2, deployed_days_ago=60 if i % 7 == 2 else 0)
        if i % 4 == 3:
            breach(MLModel.objects.latest("pk").versions.get())


def test_the_dashboard_costs_the_same_number_of_queries_for_10_or_60_models(client_as, django_assert_max_num_queries):
    client = client_as("executive")
    counts = {}
    for n in (10, 50):  # 10, then 60
        varied_portfolio(n)
        with CaptureQueriesContext(connection) as ctx:
            assert dashboard(client).status_code == 200
        counts[MLModel.objects.count()] = len(ctx.captured_queries)

    assert counts[10] == counts[60], counts
    with django_assert_max_num_queries(20):
        dashboard(client)


@pytest.mark.parametrize("unit", [False, True])
def test_every_headline_figure_and_chart_cell_is_the_number_of_models_its_link_lists(client_as, unit):
    gone = UserFactory(is_active=False)
    team = TeamFactory()
    production_model(runtime=DRIFTED, name="Drifted in production", team=team)
    production_model(environment=Deployment.Environment.STAGING, runtime=DRIFTED, name="Drifted in staging", team=team)
    production_model(name="Orphan", accountable_owner=gone, team=team)
    production_model(name="Unapproved", approved=False, team=team)
    production_model(name="Never evaluated", evaluated=False, deployed_days_ago=60, team=team)
    breach(production_model(name="Breached", team=team).versions.get())
    breach(production_model(name="Suspended", tier="critical", team=team).versions.get())
    MLModelFactory(name="In development", team=team)
    MLModelFactory(name="Retired orphan", accountable_owner=gone, stage=Stage.RETIRED, team=team)
    retired = MLModelFactory(name="Retired but still deployed", stage=Stage.RETIRED, team=team)
    DeploymentFactory(version=ModelVersionFactory(model=retired, stage=Stage.RETIRED), runtime_environment=DRIFTED)
    MLModelFactory(name="Elsewhere", accountable_owner=gone)  # another unit
    production_model(name="Elsewhere unapproved", approved=False)
    client = client_as("executive")

    response = dashboard(client, **({"business_unit": team.business_unit.slug} if unit else {}))

    listed = reverse("inventory:index")

    def shown(url):
        return client.get(f"/api/v1/models/?{url.split('?', 1)[1]}", HTTP_ACCEPT="application/json").json()["count"]

    checked = 0
    for kpi in response.context["kpis"]:
        if kpi["url"].startswith(listed + "?"):
            assert kpi["value"] == shown(kpi["url"]), (kpi["label"], kpi["value"], shown(kpi["url"]))
            checked += 1
    assert checked == 6
    kpis = {k["label"]: k["value"] for k in response.context["kpis"]}
    assert kpis["Environment mismatches"] == 2 and kpis["Owners who left"] == 1 + (not unit)
    assert kpis["Non-compliant or suspended"] == 5 + (not unit) and kpis["No monitoring evidence"] == 1

    # The same for every cell of the charts that count models, in their tables.
    charts = {c.id: c for c in [*response.context["charts"], *response.context["governance_charts"]]}
    counted = [(cell.url, cell.text) for chart_id in ("figure-stage-by-unit", "figure-exposure-automation")
               for row in charts[chart_id].rows for cell in row if cell.text.isdigit() and cell.url]
    for chart_id in ("chart-governance-state", "chart-health", "chart-approval"):
        assert charts[chart_id].rows
        for label, number in charts[chart_id].rows:
            assert label.url == number.url
            counted.append((number.url, number.text))
    assert len(counted) > 20 and all(url.startswith(listed + "?") for url, _ in counted)
    assert any(int(number) > 0 for url, number in counted if "governance=suspended" in url)
    for url, number in counted:
        assert int(number) == shown(url), (url, number, shown(url))
