"""The four-fifths rule's reference group: the highest selection rate by default, configurable per model."""

import io
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from django.urls import reverse

from apps.core.errors import DomainError
from apps.inventory import forms
from apps.inventory import services as inventory_services
from apps.monitoring import services
from apps.monitoring.models import Evaluation
from tests.inventory.factories import ModelVersionFactory, TeamFactory

# a: 100 rows, 40 selected (0.40); b: 50 rows, 35 selected (0.70); c: 40 rows, 24 selected (0.60).
# The largest group (a) is not the one selected most often (b): a / b = 0.571, below four-fifths.
GROUPS = {"a": (100, 40), "b": (50, 35), "c": (40, 24)}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def scientist(make_user):
    return make_user("data_scientist")


def band_csv(*, start: datetime | None = None) -> bytes:
    rows = []
    for band, (count, selected) in GROUPS.items():
        rows += [{"y_true": i % 2, "y_pred": int(i < selected), "band": band} for i in range(count)]
    frame = pd.DataFrame(rows)
    if start is not None:
        frame["timestamp"] = [(start + timedelta(minutes=i)).isoformat() for i in range(len(frame))]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def computed(scientist, *, reference_groups=None, kind="validation", start=None) -> Evaluation:
    version = ModelVersionFactory(model__team__members=[scientist],
                                  model__fairness_reference_groups=reference_groups or {})
    evaluation, _ = services.evaluation_upload(actor=scientist, version=version, data=band_csv(start=start),
                                               filename="eval.csv", sensitive_features=["band"], kind=kind)
    services.evaluation_compute(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    return evaluation


# --- Computation ---------------------------------------------------------------------------------------------

def test_an_evaluation_compares_with_the_highest_rate_group_and_lists_the_057_ratio(scientist):
    evaluation = computed(scientist)

    fairness = evaluation.metrics["fairness"]["band"]
    assert evaluation.status == "done"
    assert (fairness["reference_group"], fairness["reference_rule"]) == ("b", "highest_selection_rate")
    assert round(evaluation.metrics["groups"]["band"]["a"]["selection_rate_ratio"], 2) == 0.57
    assert fairness["four_fifths_violations"] == ["a"]


def test_an_evaluation_uses_the_models_configured_reference_group(scientist):
    evaluation = computed(scientist, reference_groups={"band": "c"})

    fairness = evaluation.metrics["fairness"]["band"]
    assert (fairness["reference_group"], fairness["reference_rule"]) == ("c", "configured")
    assert evaluation.metrics["groups"]["band"]["a"]["selection_rate_ratio"] == pytest.approx(0.4 / 0.6)
    assert fairness["four_fifths_violations"] == ["a"]


def test_a_configured_group_missing_from_the_upload_falls_back_with_a_note(scientist):
    evaluation = computed(scientist, reference_groups={"band": "z", "sex": "female"})

    fairness = evaluation.metrics["fairness"]["band"]
    assert evaluation.status == "done" and evaluation.error == ""
    assert (fairness["reference_group"], fairness["reference_rule"]) == ("b", "highest_selection_rate")
    assert "configured reference group 'z' is not in the data" in fairness["reference_note"]


def test_a_production_window_uses_the_configured_reference_group(scientist):
    start = datetime(2026, 10, 1, tzinfo=UTC)
    evaluation = computed(scientist, reference_groups={"band": "a"}, kind="production", start=start)

    window = services.window_compute(version=evaluation.version, cadence="daily", start=start,
                                     end=start + timedelta(days=1))
    fairness = window.metrics["fairness"]["band"]
    assert (fairness["reference_group"], fairness["reference_rule"]) == ("a", "configured")
    assert fairness["four_fifths_violations"] == []


# --- Evaluation page -----------------------------------------------------------------------------------------

def test_the_page_names_the_highest_rate_reference_and_the_group_below_four_fifths(scientist, client_as):
    evaluation = computed(scientist)

    page = client_as("executive").get(evaluation.get_absolute_url()).content.decode()
    assert "Selection-rate ratio against the reference: group &#x27;b&#x27;, the highest selection rate." in page
    assert "b (the highest selection rate)" in page
    assert "<td class=\"num\">a</td>" in page  # the fairness table's "Below four-fifths" column
    assert "The reference is the group with the highest selection rate unless the model configures one" in page


def test_the_page_says_when_the_reference_group_is_configured(scientist, client_as):
    evaluation = computed(scientist, reference_groups={"band": "c"})

    page = client_as("executive").get(evaluation.get_absolute_url()).content.decode()
    assert "reference: group &#x27;c&#x27;, configured for this model." in page
    assert "c (configured for this model)" in page


def test_the_page_shows_the_fallback_note(scientist, client_as):
    evaluation = computed(scientist, reference_groups={"band": "z"})

    page = client_as("executive").get(evaluation.get_absolute_url()).content.decode()
    assert "The configured reference group &#x27;z&#x27; is not in the data" in page
    assert "b (the highest selection rate)" in page


def test_a_result_stored_before_the_rule_says_it_compared_with_the_largest_group(scientist, client_as):
    evaluation = computed(scientist)
    del evaluation.metrics["fairness"]["band"]["reference_rule"]
    evaluation.metrics["fairness"]["band"]["reference_group"] = "a"
    evaluation.save(update_fields=["metrics"])

    page = client_as("executive").get(evaluation.get_absolute_url()).content.decode()
    assert "a (the largest group, computed before the highest-selection-rate rule)" in page


# --- The model form ------------------------------------------------------------------------------------------

def model_form(make_user, reference_groups: str) -> forms.MLModelForm:
    owner = make_user("data_scientist")
    team = TeamFactory()
    return forms.MLModelForm(data={
        "name": "Credit scoring", "purpose": "Score applicants.", "accountable_owner": owner.pk, "team": team.pk,
        "exposure": "internal", "automation_level": "human_decides", "task_type": "binary",
        "fairness_reference_groups": reference_groups,
    })


@pytest.mark.django_db
def test_the_model_form_accepts_a_reference_group_per_attribute(make_user):
    form = model_form(make_user, '{"sex": "male", "age_band": "35-44"}')

    assert form.is_valid(), form.errors
    assert form.service_arguments()["fairness_reference_groups"] == {"sex": "male", "age_band": "35-44"}


@pytest.mark.django_db
@pytest.mark.parametrize(("typed", "message"), [
    ('{"sex": 1}', 'The reference group of "sex" must be a string, e.g. "1" rather than 1.'),
    ('{"sex": "ma\\nle"}', 'The reference group of "sex": Enter a single line'),
    ('{"": "male"}', "The attribute must not be empty."),
    ('{"sex": "' + "m" * 201 + '"}', 'The reference group of "sex" has 201 characters; at most 200 are allowed.'),
    ("{" + ", ".join(f'"f{i}": "x"' for i in range(21)) + "}", "Configure at most 20 reference groups, not 21."),
    ('["sex", "male"]', "Fairness reference groups must be an object"),
])
def test_the_model_form_refuses_unusable_reference_groups(make_user, typed, message):
    form = model_form(make_user, typed)

    assert not form.is_valid()
    assert form.errors["fairness_reference_groups"][0].startswith(message)


@pytest.mark.django_db
def test_the_service_refuses_unusable_reference_groups_from_any_caller(make_user):
    version = ModelVersionFactory()

    with pytest.raises(DomainError, match="fairness_reference_groups: The attribute must not be empty"):
        inventory_services.model_update(actor=None, model=version.model, fairness_reference_groups={" ": "x"})


def test_editing_the_model_stores_the_reference_groups_and_audits_them(client_as):
    from apps.core.models import AuditEvent

    client = client_as("data_scientist")
    version = ModelVersionFactory(model__team__members=[client.user], model__accountable_owner=client.user)
    model = version.model
    page = client.get(reverse("inventory:model-edit", kwargs={"slug": model.slug})).content.decode()
    assert "Fairness reference groups" in page and "highest selection rate" in page

    response = client.post(reverse("inventory:model-edit", kwargs={"slug": model.slug}), {
        "name": model.name, "purpose": model.purpose, "accountable_owner": client.user.pk, "team": model.team.pk,
        "exposure": model.exposure, "automation_level": model.automation_level, "task_type": model.task_type,
        "fairness_reference_groups": '{"band": "c"}',
    })
    assert response.status_code == 302
    model.refresh_from_db()
    assert model.fairness_reference_groups == {"band": "c"}
    event = AuditEvent.objects.filter(action="model.updated").latest("pk")
    assert event.changes["fairness_reference_groups"] == [{}, {"band": "c"}]
