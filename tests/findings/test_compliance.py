"""Findings and incidents as compliance evidence: the judges (pure), the mapping 2 controls, and the facts
gathered from real records; the portfolio coverage stays the sum of the per-model views."""

from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.compliance import evaluation as ev
from apps.compliance import selectors, services
from apps.compliance.models import Control, FrameworkVersion
from apps.core.errors import DomainError
from apps.core.models import AuditEvent
from apps.findings.models import Finding
from tests.findings.factories import FindingFactory, IncidentFactory
from tests.inventory.factories import ModelVersionFactory


def test_the_findings_judge_follows_open_overdue_and_closed_findings():
    facts = ev.Facts()
    assert ev.JUDGES["findings"](facts).status == ev.SATISFIED
    assert ev.JUDGES["findings"](replace(facts, findings_open=2)).status == ev.PARTIAL
    missing = ev.JUDGES["findings"](replace(facts, findings_open=2, findings_overdue=1))
    assert missing.status == ev.MISSING and "past its due date" in missing.note and missing.fix
    assert "All 3 findings closed" in ev.JUDGES["findings"](replace(facts, findings_closed=3)).note


def test_the_incidents_judge_follows_open_incidents_and_late_reports():
    facts = ev.Facts()
    assert ev.JUDGES["incidents"](replace(facts, incidents_closed=1)).status == ev.SATISFIED
    assert ev.JUDGES["incidents"](replace(facts, incidents_open=1, incidents_report_due=1)).status == ev.PARTIAL
    assert ev.JUDGES["incidents"](replace(facts, incidents_open=1, incidents_report_overdue=1)).status == ev.MISSING


@pytest.mark.django_db
def test_mapping_2_is_in_force_and_the_first_mapping_is_kept_unchanged():
    eu = FrameworkVersion.objects.get(framework__code="eu-ai-act", status="published")
    assert eu.version == "2024/1689, mapping 2"
    assert "incidents" in eu.controls.get(code="EU-73").evidence
    first = FrameworkVersion.objects.get(framework__code="eu-ai-act", version="2024/1689")
    assert first.status == "retired" and "incidents" not in first.controls.get(code="EU-73").evidence
    assert first.controls.count() == eu.controls.count()
    sr = FrameworkVersion.objects.get(framework__code="sr-11-7", status="published")
    assert "findings" in sr.controls.get(code="SR-VAL").evidence


@pytest.mark.django_db
def test_a_models_facts_count_its_real_findings_and_incidents():
    version = ModelVersionFactory()
    model = version.model
    FindingFactory(version=version)
    late = FindingFactory(version=version)
    Finding.objects.filter(pk=late.pk).update(due_date=timezone.localdate() - timedelta(days=1))
    FindingFactory(version=version, status="closed", closed_at=timezone.now())
    aware = timezone.now() - timedelta(days=20)
    IncidentFactory(model=model, serious_kind="general", aware_at=aware, occurred_at=aware)
    IncidentFactory(model=model, status="closed")
    facts = selectors.gather_facts([model])[model.pk]
    assert (facts.findings_open, facts.findings_overdue, facts.findings_closed) == (2, 1, 1)
    assert (facts.incidents_open, facts.incidents_closed, facts.incidents_report_overdue) == (1, 1, 1)
    view = selectors.model_compliance(model)
    judged = {e.kind: e for result in view.results for e in result.evidence}
    assert judged["findings"].status == ev.MISSING
    assert view.links[ev.LINK_FINDINGS] == f"/findings/?model={model.slug}"


@pytest.mark.django_db
def test_the_portfolio_coverage_is_the_sum_of_the_per_model_views_with_findings():
    versions = [ModelVersionFactory() for _ in range(3)]
    FindingFactory(version=versions[0])
    IncidentFactory(model=versions[1].model)
    models = [v.model for v in versions]
    portfolio = selectors.portfolio_compliance(models)
    for status in ev.STATUSES:
        assert getattr(portfolio.total, status) == sum(getattr(view.coverage, status) for view in portfolio.models)


@pytest.mark.django_db
def test_a_reviewer_links_a_finding_to_controls_in_force_audited(make_user):
    reviewer = make_user("reviewer")
    finding = FindingFactory()
    in_force = Control.objects.get(framework_version__status="published", code="SR-VAL")
    retired = Control.objects.get(framework_version__status="retired", code="SR-OUT")
    with pytest.raises(DomainError, match="in force"):
        services.finding_controls_set(actor=reviewer, finding=finding, controls=[retired])
    links = services.finding_controls_set(actor=reviewer, finding=finding, controls=[in_force])
    assert [link.control.code for link in links] == ["SR-VAL"]
    event = AuditEvent.objects.get(action="finding.controls_linked")
    assert event.changes == {"controls": [[], ["SR-VAL"]]}
    assert [link.control for link in selectors.controls_of_finding(finding)] == [in_force]
