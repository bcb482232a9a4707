"""Writes to a model belong to its team: members of ``model.team``, the model's owners and admins (issue 13, 11).

Reads stay portfolio-wide. tests/security/test_object_matrix.py sends every such write as another team's data
scientist; these tests pin the attacks of the issue and the rules around membership.
"""

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.urls import reverse
from rest_framework.test import APIClient

from apps.core.errors import DomainError, PermissionDeniedError
from apps.core.models import AuditEvent
from apps.core.roles import can_write_model
from apps.inventory import importer, services
from apps.inventory.models import MLModel, Stage, Team
from tests.compliance.factories import UseCaseFactory
from tests.inventory.factories import DataSetFactory, MLModelFactory, ModelVersionFactory, TeamFactory


@pytest.fixture
def api():
    def client_for(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return client_for


@pytest.fixture
def production(make_user):
    owner = make_user("data_scientist", username="olga", first_name="Olga", last_name="Owner")
    model = MLModelFactory(name="Credit scoring", accountable_owner=owner, team__name="Credit Risk",
                           stage=Stage.PRODUCTION)
    return ModelVersionFactory(model=model, stage=Stage.PRODUCTION)


def test_it_refuses_another_teams_scientist_making_themselves_accountable_owner(api, make_user, production):
    intruder = make_user("data_scientist", username="ivan")
    events = AuditEvent.objects.count()

    response = api(intruder).patch(f"/api/v1/models/{production.model.slug}/", {"accountable_owner": "ivan"},
                                   format="json")

    assert response.status_code == 403
    detail = response.json()["detail"]
    assert "Credit scoring belongs to the team Credit Risk" in detail and "Olga Owner (olga)" in detail
    assert MLModel.objects.get(pk=production.model.pk).accountable_owner.username == "olga"
    assert AuditEvent.objects.count() == events


def test_it_refuses_another_teams_scientist_retiring_a_production_version(api, make_user, production):
    response = api(make_user("data_scientist")).post(f"/api/v1/model-versions/{production.pk}/transition/",
                                                     {"stage": "retired", "reason": "mine now"}, format="json")
    assert response.status_code == 403 and "Credit Risk" in response.json()["detail"]
    production.refresh_from_db()
    assert production.stage == Stage.PRODUCTION and not production.transitions.exists()


def test_a_member_of_the_team_changes_the_accountable_owner(api, make_user, production):
    member, successor = make_user("data_scientist"), make_user("executive", username="sue")
    production.model.team.members.add(member)
    response = api(member).patch(f"/api/v1/models/{production.model.slug}/", {"accountable_owner": "sue"},
                                 format="json")
    assert response.status_code == 200 and response.json()["accountable_owner"] == "sue"
    assert successor.accountable_models.get() == production.model


def test_the_models_owners_write_without_being_members(make_user):
    accountable, technical = make_user("data_scientist"), make_user("data_scientist")
    model = MLModelFactory(accountable_owner=accountable)
    model.technical_owners.add(technical)
    assert can_write_model(accountable, model) and can_write_model(technical, model)
    assert not can_write_model(make_user("data_scientist"), model)


@pytest.mark.parametrize("role", ["executive", "reviewer"])
def test_membership_gives_no_write_to_roles_that_only_read(make_user, role):
    reader = make_user(role)
    model = MLModelFactory(team__members=[reader], accountable_owner=reader)
    assert not can_write_model(reader, model)
    with pytest.raises(PermissionDeniedError, match="Your role can read"):
        services.model_update(actor=reader, model=model, purpose="changed")


def test_an_admin_writes_to_every_teams_models(make_user):
    version = services.version_transition(actor=make_user("admin"), version=ModelVersionFactory(),
                                          to_stage=Stage.VALIDATION)
    assert version.stage == Stage.VALIDATION


def test_a_model_is_registered_only_into_a_team_of_the_registrant(api, make_user):
    scientist = make_user("data_scientist", username="sam")
    mine, theirs = TeamFactory(members=[scientist]), TeamFactory(name="Fraud")
    body = {"name": "Churn", "purpose": "p", "accountable_owner": "sam", "use_case": UseCaseFactory().pk}

    refused = api(scientist).post("/api/v1/models/", {**body, "team": theirs.slug}, format="json")
    accepted = api(scientist).post("/api/v1/models/", {**body, "team": mine.slug}, format="json")

    assert refused.status_code == 403 and "not a member of the team Fraud" in refused.json()["detail"]
    assert refused.json()["field"] == "team"
    assert accepted.status_code == 201 and MLModel.objects.get().team == mine


def test_a_model_cannot_be_moved_into_a_team_one_does_not_belong_to(make_user):
    scientist = make_user("data_scientist")
    model = MLModelFactory(team__members=[scientist])
    with pytest.raises(PermissionDeniedError, match="not a member of the team"):
        services.model_update(actor=scientist, model=model, team=TeamFactory())
    services.model_update(actor=scientist, model=model, team=TeamFactory(members=[scientist]))


def test_the_model_form_offers_only_the_users_own_teams(client_as):
    client = client_as("data_scientist")
    mine = TeamFactory(members=[client.user])
    TeamFactory()
    form = client.get(reverse("inventory:model-create")).context["form"]
    assert list(form.fields["team"].queryset) == [mine]


def test_the_model_form_says_when_the_user_has_no_team(client_as):
    content = client_as("data_scientist").get(reverse("inventory:model-create")).content.decode()
    assert "You are not a member of any team yet" in content


def test_another_teams_model_page_shows_no_edit_buttons_and_says_whom_to_ask(client_as, production):
    content = client_as("data_scientist").get(production.model.get_absolute_url()).content.decode()
    assert reverse("inventory:model-edit", args=[production.model.slug]) not in content
    assert reverse("inventory:version-create", args=[production.model.slug]) not in content
    assert "belongs to the team Credit Risk" in content


def test_another_teams_version_page_offers_no_stage_form_and_no_deployment(client_as, production):
    content = client_as("data_scientist").get(production.get_absolute_url()).content.decode()
    assert "Move stage" not in content and "Record a deployment" not in content
    assert "belongs to the team Credit Risk" in content


def test_another_teams_edit_form_answers_403_naming_team_and_owner(client_as, production):
    response = client_as("data_scientist").get(reverse("inventory:model-edit", args=[production.model.slug]))
    assert response.status_code == 403
    assert "belongs to the team Credit Risk" in response.content.decode() and "olga" in response.content.decode()


def test_an_owned_data_set_is_changed_only_by_its_owner(make_user):
    owner = make_user("data_scientist", username="dora")
    dataset = DataSetFactory(owner=owner)
    with pytest.raises(PermissionDeniedError, match=r"belongs to .*\(dora\)"):
        services.dataset_update(actor=make_user("data_scientist"), dataset=dataset, content_sha256="f" * 64)
    assert services.dataset_update(actor=owner, dataset=dataset, content_sha256="f" * 64).content_sha256 == "f" * 64


def test_data_without_owner_that_trained_another_teams_model_is_theirs(make_user, production):
    dataset = DataSetFactory()
    production.training_datasets.add(dataset)
    with pytest.raises(PermissionDeniedError, match="belongs to the team Credit Risk"):
        services.dataset_update(actor=make_user("data_scientist"), dataset=dataset, content_sha256="f" * 64)
    member = make_user("data_scientist")
    production.model.team.members.add(member)
    services.dataset_update(actor=member, dataset=dataset, description="re-exported")


def test_whoever_creates_a_team_is_its_first_member(make_user):
    scientist = make_user("data_scientist", username="sam")
    team = services.team_create(actor=scientist, name="Fraud", business_unit=TeamFactory().business_unit)
    assert list(team.members.all()) == [scientist]
    assert AuditEvent.objects.get(action="team.created").changes["members"] == [None, ["sam"]]


def test_only_admins_change_who_belongs_to_a_team_and_it_is_audited(make_user):
    team, newcomer = TeamFactory(), make_user("data_scientist", username="nina")
    with pytest.raises(PermissionDeniedError, match="Only admins"):
        services.team_set_members(actor=make_user("data_scientist"), team=team, members=[newcomer])
    services.team_set_members(actor=make_user("admin"), team=team, members=[newcomer], reason="joined")
    event = AuditEvent.objects.get(action="team.members_changed")
    assert event.changes == {"members": [[], ["nina"]]} and event.reason == "joined"


def test_admins_set_members_in_the_django_admin_through_the_audited_service(client_as, make_user):
    team, newcomer = TeamFactory(), make_user("data_scientist")
    client = client_as("admin")
    url = reverse("admin:inventory_team_change", args=[team.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"members": [newcomer.pk]})
    assert response.status_code == 302, response.content[:2000]
    assert list(team.members.all()) == [newcomer]
    assert AuditEvent.objects.filter(action="team.members_changed", actor=client.user).exists()


def test_the_migration_makes_registrants_members_of_their_models_teams_and_owners_keep_their_models(make_user):
    accountable, technical, registrant = make_user(), make_user(), make_user()
    model = MLModelFactory(accountable_owner=accountable, created_by=registrant)
    model.technical_owners.add(technical)
    other = TeamFactory()
    migration = importlib.import_module("apps.inventory.migrations.0004_team_members")

    migration.members_from_model_owners(apps, None)

    assert set(model.team.members.all()) == {registrant}
    assert not Team.objects.get(pk=other.pk).members.exists()
    for owner in (accountable, technical):
        owner.groups.add(Group.objects.get(name="data_scientist"))
        owner = type(owner).objects.get(pk=owner.pk)
        assert can_write_model(owner, model)
        assert not can_write_model(owner, MLModelFactory(team=model.team))


def test_a_versions_review_page_offers_the_start_only_to_its_team(client_as, production):
    url = reverse("reviews:version", args=[production.pk])
    scientist = client_as("data_scientist")
    assert b"Start a review" not in scientist.get(url).content
    production.model.team.members.add(scientist.user)
    assert b"Start a review" in scientist.get(url).content


def test_an_import_into_another_teams_existing_team_imports_nothing(make_user):
    theirs = TeamFactory(name="Fraud")
    owner = make_user("executive", username="olivia")
    content = (f"name,purpose,business_unit,team,accountable_owner\n"
               f"Churn,Predict churn,{theirs.business_unit.name},Fraud,olivia\n").encode()
    with pytest.raises(DomainError, match="Row 2: You are not a member of the team Fraud"):
        importer.commit(content, actor=make_user("data_scientist"))
    assert not MLModel.objects.exists() and owner.accountable_models.count() == 0
