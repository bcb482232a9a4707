import pytest

from apps.compliance import services
from apps.compliance.models import Control, Framework, FrameworkVersion
from apps.compliance.selectors import controls_in_force
from apps.core.errors import ConflictError, DomainError, PermissionDeniedError
from apps.core.models import AuditEvent
from tests.factories import UserFactory
from tests.inventory.factories import MLModelFactory

pytestmark = pytest.mark.django_db

ANSWERS = {"eu_category": "high_risk", "annex_iii_area": "essential_services", "role": "provider"}


def test_the_migration_loads_the_four_frameworks_published_with_their_controls():
    assert list(Framework.objects.values_list("code", flat=True)) == ["eu-ai-act", "nist-ai-rmf", "iso-42001",
                                                                      "sr-11-7"]
    assert FrameworkVersion.objects.filter(status="published").count() == 4
    eu = {c.reference for c in Control.objects.filter(framework_version__framework__code="eu-ai-act")}
    for article in ("Art. 5", "Art. 9", "Art. 10", "Art. 11, Annex IV", "Art. 12", "Art. 13", "Art. 14", "Art. 15",
                    "Art. 17", "Art. 72", "Art. 73"):
        assert article in eu
    nist = set(Control.objects.filter(framework_version__framework__code="nist-ai-rmf").values_list("code", flat=True))
    assert {code.split()[0] for code in nist} == {"GOVERN", "MAP", "MEASURE", "MANAGE"}
    assert all(not spec.problems() for spec in controls_in_force())


def test_classifying_records_the_answers_and_an_audit_event():
    model, reviewer = MLModelFactory(), UserFactory(roles=["reviewer"])
    classification = services.classification_save(actor=reviewer, model=model, rationale="Credit.", **ANSWERS)
    assert (classification.eu_category, classification.classified_by) == ("high_risk", reviewer)
    event = AuditEvent.objects.get(action="model.classified")
    assert event.changes["role"] == [None, "provider"] and event.reason == "Credit."


def test_a_change_is_audited_with_the_old_answer_and_no_change_writes_nothing():
    model, reviewer = MLModelFactory(), UserFactory(roles=["reviewer"])
    services.classification_save(actor=reviewer, model=model, **ANSWERS)
    services.classification_save(actor=reviewer, model=model, **{**ANSWERS, "role": "deployer"})
    services.classification_save(actor=reviewer, model=model, **{**ANSWERS, "role": "deployer"})
    events = list(AuditEvent.objects.filter(action="model.classified").order_by("seq"))
    assert len(events) == 2 and events[1].changes == {"role": ["provider", "deployer"]}


@pytest.mark.parametrize(("answers", "field"), [
    ({**ANSWERS, "annex_iii_area": "none"}, "annex_iii_area"),
    ({**ANSWERS, "eu_category": "risky"}, "eu_category"),
    ({**ANSWERS, "role": "owner"}, "role"),
])
def test_inconsistent_answers_are_refused_with_the_field(answers, field):
    with pytest.raises(DomainError) as refused:
        services.classification_save(actor=UserFactory(roles=["admin"]), model=MLModelFactory(), **answers)
    assert refused.value.field == field
    assert not AuditEvent.objects.filter(action="model.classified").exists()


def test_executives_and_other_teams_data_scientists_cannot_classify():
    model = MLModelFactory()
    for user in (UserFactory(roles=["executive"]), UserFactory(roles=["data_scientist"])):
        with pytest.raises(PermissionDeniedError):
            services.classification_save(actor=user, model=model, **ANSWERS)
    member = UserFactory(roles=["data_scientist"])
    model.team.members.add(member)
    assert services.classification_save(actor=member, model=model, **ANSWERS).pk


def _published(code="eu-ai-act") -> FrameworkVersion:
    return FrameworkVersion.objects.get(framework__code=code, status="published")


def test_a_published_versions_controls_are_frozen():
    admin = UserFactory(roles=["admin"])
    control = _published().controls.first()
    control.title = "Rewritten"
    with pytest.raises(ConflictError, match="Start a new draft version"):
        services.control_save(actor=admin, control=control)
    assert Control.objects.get(pk=control.pk).title != "Rewritten"


def test_a_new_version_is_drafted_edited_and_published_without_touching_the_old_one():
    admin = UserFactory(roles=["admin"])
    old = _published()
    draft = services.framework_version_draft(actor=admin, source=old, version="2026-rev")
    assert draft.controls.count() == old.controls.count()
    control = draft.controls.get(code="EU-9")
    control.title = "Risk management system, revised"
    services.control_save(actor=admin, control=control)
    services.framework_version_publish(actor=admin, version=draft)
    old.refresh_from_db()
    assert old.status == "retired" and old.controls.get(code="EU-9").title == "Risk management system"
    in_force = {(s.framework, s.code): s for s in controls_in_force()}
    assert in_force[("eu-ai-act", "EU-9")].title == "Risk management system, revised"
    assert in_force[("eu-ai-act", "EU-9")].version == "2026-rev"
    assert AuditEvent.objects.filter(action__startswith="framework.").count() == 3


def test_a_control_with_an_unknown_evidence_kind_is_refused():
    admin = UserFactory(roles=["admin"])
    draft = services.framework_version_draft(actor=admin, source=_published(), version="next")
    control = draft.controls.first()
    control.evidence = ["vibes"]
    with pytest.raises(Exception, match="Unknown evidence kind"):
        services.control_save(actor=admin, control=control)


def test_only_admins_edit_frameworks():
    with pytest.raises(PermissionDeniedError):
        services.framework_version_draft(actor=UserFactory(roles=["reviewer"]), source=_published(), version="x")


def test_a_duplicate_version_label_is_a_conflict():
    admin = UserFactory(roles=["admin"])
    with pytest.raises(ConflictError, match="already has a version"):
        services.framework_version_draft(actor=admin, source=_published(), version="2024/1689")
