import pytest

from apps.inventory import forms
from apps.inventory.models import Stage
from tests.inventory.factories import BusinessUnitFactory, TeamFactory


def json_field(kind=dict):
    return forms.JSONTextField(kind=kind, label="Validated environment")


def test_it_parses_a_json_object():
    assert json_field().clean('{"python": "3.11.7"}') == {"python": "3.11.7"}


def test_empty_json_input_is_an_empty_document():
    assert json_field().clean("  ") == {} and json_field(list).clean("") == []


def test_invalid_json_names_the_field_and_the_position():
    with pytest.raises(forms.forms.ValidationError) as excinfo:
        json_field().clean('{"python": 3.11.7}')
    assert excinfo.value.messages[0].startswith("Validated environment is not valid JSON:")
    assert "line 1, column" in excinfo.value.messages[0]


def test_json_of_the_wrong_shape_is_refused():
    with pytest.raises(forms.forms.ValidationError, match=r"Validated environment must be an object"):
        json_field().clean("[1, 2]")


def test_a_stored_document_is_shown_as_indented_json():
    assert json_field().prepare_value({"b": 1, "a": 2}) == '{\n  "a": 2,\n  "b": 1\n}'


def version_form(**data):
    base = {"version": "1.0", "hyperparameters": "", "validation_metrics": "", "validated_environment": ""}
    return forms.VersionForm(data={**base, **data})


@pytest.mark.django_db
def test_metrics_must_be_numbers():
    form = version_form(validation_metrics='{"roc_auc": "high"}')
    assert form.errors["validation_metrics"] == ["Validation metrics: \"roc_auc\" must be a number, not 'high'."]


@pytest.mark.django_db
def test_an_environment_needs_package_versions_as_strings():
    form = version_form(validated_environment='{"python": "3.11", "packages": {"numpy": 2}}')
    assert "packages" in form.errors["validated_environment"][0]


@pytest.mark.django_db
def test_an_environment_with_unknown_keys_is_refused():
    form = version_form(validated_environment='{"pyton": "3.11"}')
    assert "unknown keys pyton" in form.errors["validated_environment"][0]


@pytest.mark.django_db
@pytest.mark.parametrize("label", ["new", "1/2"])
def test_a_version_label_that_breaks_urls_is_refused(label):
    assert "cannot be a version label" in version_form(version=label).errors["version"][0]


@pytest.mark.django_db
def test_a_valid_version_form_yields_service_arguments():
    form = version_form(validation_metrics='{"roc_auc": 0.9}', hyperparameters='{"depth": 3}')
    assert form.is_valid(), form.errors
    arguments = form.service_arguments()
    assert arguments["validation_metrics"] == {"roc_auc": 0.9} and arguments["hyperparameters"] == {"depth": 3}
    assert arguments["validated_environment"] == {} and list(arguments["training_datasets"]) == []


@pytest.mark.django_db
def test_the_unbound_version_form_starts_from_this_servers_environment():
    initial = forms.VersionForm().initial["validated_environment"]
    assert set(initial) == {"python", "os", "packages"}


@pytest.mark.django_db
def test_tags_are_split_on_commas(make_user):
    owner, team = make_user("data_scientist"), TeamFactory()
    form = forms.MLModelForm(data={
        "name": "Churn", "purpose": "p", "accountable_owner": owner.pk, "team": team.pk, "exposure": "internal",
        "automation_level": "human_decides", "task_type": "binary", "tags": " credit, ,EU ",
    })
    assert form.is_valid(), form.errors
    assert form.service_arguments()["tags"] == ["credit", "EU"]


@pytest.mark.django_db
def test_schema_columns_need_a_name():
    form = forms.DataSetForm(data={"name": "d", "version": "1", "kind": "raw", "legal_basis": "not_applicable",
                                   "schema": '[{"name": "age"}, {"type": "int"}]'})
    assert form.errors["schema"] == ['Schema: column 2 must be an object with a "name".']


@pytest.mark.django_db
def test_a_process_form_accepts_an_empty_value_at_stake():
    form = forms.ProcessForm(data={"name": "Loans", "business_unit": BusinessUnitFactory().pk,
                                   "decision": "approve"})
    assert form.is_valid(), form.errors
    assert form.service_arguments()["value_at_stake"] is None


def test_the_stage_form_does_not_offer_the_current_stage():
    form = forms.StageTransitionForm(current=Stage.STAGING)
    assert Stage.STAGING not in [value for value, _ in form.fields["stage"].choices]
    assert not forms.StageTransitionForm(data={"stage": "staging"}, current=Stage.STAGING).is_valid()


def test_the_stage_form_proposes_the_next_stage():
    assert forms.StageTransitionForm(current=Stage.VALIDATION).fields["stage"].initial == Stage.STAGING
