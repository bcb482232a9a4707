"""Generated documents: their content equals the records, the same records give the same bytes, a changed
record changes them, the PDF opens, and generation numbers, stores, hashes and audits each document."""

import hashlib
from datetime import timedelta

import pytest
import weasyprint
from django.core.files.storage import default_storage

from apps.compliance import documents, services
from apps.compliance.models import DocumentKind, GeneratedDocument
from apps.core.errors import ConflictError, DomainError, PermissionDeniedError
from apps.core.models import AuditEvent
from apps.findings.models import IncidentEntry
from apps.reviews import services as review_services
from tests.compliance.documents_helpers import AT, complete_version, pdf_objects, pdf_text
from tests.findings.factories import FindingFactory, IncidentFactory
from tests.reviews.helpers import submitted_review

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    return make_user("data_scientist", username="sam"), make_user("reviewer", username="rita")


@pytest.fixture
def approved(people):
    return complete_version(submitter=people[0], reviewer=people[1])


def html_of(version, kind=DocumentKind.ANNEX_IV, at=AT) -> str:
    records = documents.document_records(version, kind=kind, number=1, generated_at=at)
    return documents.render_html(records).decode()


def test_the_fairness_section_shows_the_stored_per_group_rates_intervals_and_four_fifths(approved):
    version, _ = approved
    html = html_of(version)
    assert "0.3100" in html and "0.5200" in html  # stored selection rates, as the evaluation page formats them
    assert "0.250 – 0.370" in html and "0.460 – 0.580" in html  # their Wilson intervals
    assert "0.5960" in html  # demographic parity ratio
    fairness_row = html.split("Below four-fifths")[1]
    assert "female" in fairness_row.split("</tr>")[1]  # the group below four-fifths, named


def test_approvals_appear_with_their_content_hashes_and_verdicts(approved):
    version, review = approved
    decision = review.decisions.get()
    html = html_of(version)
    assert review.content_hash and review.content_hash in html
    assert decision.content_hash in html
    verdict = decision.verdicts.get()
    assert verdict.item.text in html and "Confirmed" in html


def test_lineage_provenance_and_classification_are_from_the_records(approved):
    version, _ = approved
    html = html_of(version)
    assert "applicant-features @ v1" in html and "core-banking" in html
    assert "pipeline step build-features" in html and "bureau-raw@v1" in html
    assert "Consumer credit decisions" in html
    assert version.model.classification.rationale in html
    assert version.model.purpose in html


def test_compliance_controls_are_the_model_compliance_view(approved):
    from apps.compliance import selectors

    version, _ = approved
    view = selectors.model_compliance(selectors.models_for_compliance().get(pk=version.model.pk))
    html = html_of(version)
    coverage = view.coverage
    assert (f"{coverage.applicable} applicable controls: {coverage.satisfied} satisfied, {coverage.partial} partial, "
            f"{coverage.missing} missing.") in html
    assert all(r.control.code in html for r in view.results)


def test_findings_and_incidents_say_so_when_none_is_recorded(approved):
    html = html_of(approved[0])
    assert "No validation finding is recorded for this version." in html
    assert "No incident is recorded for this model." in html


def test_findings_and_incidents_are_the_recorded_ones_with_their_closure_deadline_and_timeline(approved, people):
    version = approved[0]
    closed = FindingFactory(version=version, title="Calibration drifts for older applicants", severity="high",
                            status="closed", remediation="Recalibrated on 2026 data.", closed_by=people[1],
                            closed_at=AT - timedelta(days=2), closing_note="Checked on the holdout of May.")
    FindingFactory(version=FindingFactory().version, title="Another version's finding")
    incident = IncidentFactory(model=version.model, title="Scores returned as zero", serious_kind="general",
                               occurred_at=AT - timedelta(days=5), aware_at=AT - timedelta(days=4),
                               root_cause="A null feature after a schema change.")
    IncidentEntry.objects.create(incident=incident, at=AT - timedelta(days=3), text="Rolled back to 1.9.0.")

    html = html_of(version)

    assert f"F-{closed.pk} Calibration drifts for older applicants" in html and "Another version" not in html
    assert "Recalibrated on 2026 data." in html and "Checked on the holdout of May." in html
    assert f"I-{incident.pk} Scores returned as zero" in html and "A null feature after a schema change." in html
    assert f"report due {incident.report_deadline:%Y-%m-%d}, not reported" in html
    assert "Rolled back to 1.9.0." in html
    assert "No validation finding is recorded" not in html and "No incident is recorded" not in html


def test_the_change_history_lists_the_models_audit_events(approved):
    version, review = approved
    html = html_of(version)
    decided = AuditEvent.objects.filter(object_type="reviews.review", object_id=str(review.pk)).latest("seq")
    assert f"<td>{decided.seq}</td>" in html and decided.action in html


def test_the_two_kinds_have_their_own_titles_and_order(approved):
    version, _ = approved
    annex, sr = html_of(version), html_of(version, DocumentKind.SR_11_7)
    assert "Annex IV" in annex.split("</h1>")[0] and "SR 11-7" in sr.split("</h1>")[0]
    assert "Effective challenge" in sr and "Effective challenge" not in annex
    assert sr.index("Validation findings") < sr.index("Ongoing monitoring")


def test_the_same_records_give_the_same_bytes(approved):
    version, _ = approved
    first = documents.render(documents.document_records(version, kind="annex_iv", number=1, generated_at=AT))
    second = documents.render(documents.document_records(version, kind="annex_iv", number=1, generated_at=AT))
    assert first.html == second.html
    assert first.pdf == second.pdf


def test_the_stated_timestamp_is_in_the_pdf_metadata_not_the_clock(approved):
    version, _ = approved
    pdf = documents.render(documents.document_records(version, kind="annex_iv", number=1, generated_at=AT)).pdf
    later = documents.render(documents.document_records(version, kind="annex_iv", number=1,
                                                        generated_at=AT + timedelta(days=1))).pdf
    assert b"D:20261201093000Z" in pdf_objects(pdf) and b"D:20261202093000Z" in pdf_objects(later)
    assert pdf != later


def test_a_changed_record_changes_the_hash(approved):
    version, _ = approved
    before = documents.render(documents.document_records(version, kind="annex_iv", number=1, generated_at=AT))
    version.model.intended_use = "Pre-screening of consumer credit applications only."
    version.model.save(update_fields=["intended_use"])
    after = documents.render(documents.document_records(version, kind="annex_iv", number=1, generated_at=AT))
    assert documents.sha256(before.pdf) != documents.sha256(after.pdf)
    assert b"Pre-screening of consumer credit applications only." in after.html


def test_the_pdf_opens_with_pages_and_the_records_text(approved):
    version, review = approved
    rendered = documents.render(documents.document_records(version, kind="annex_iv", number=1, generated_at=AT))
    assert rendered.pdf.startswith(b"%PDF-")
    laid_out = weasyprint.HTML(string=rendered.html.decode()).render()
    assert len(laid_out.pages) == rendered.pages >= 3
    text = pdf_text(laid_out)
    assert version.model.name in text and review.content_hash in text.replace(" ", "")


def test_generating_numbers_stores_hashes_and_audits(approved, people):
    version, _ = approved
    reviewer = people[1]
    first = services.document_generate(actor=reviewer, version=version, kind="annex_iv", at=AT)
    second = services.document_generate(actor=reviewer, version=version, kind="annex_iv", at=AT)
    report = services.document_generate(actor=reviewer, version=version, kind="sr11_7", at=AT)
    assert (first.number, second.number, report.number) == (1, 2, 1)
    with default_storage.open(first.pdf.name, "rb") as stored:
        data = stored.read()
    assert data.startswith(b"%PDF-") and hashlib.sha256(data).hexdigest() == first.pdf_sha256
    with default_storage.open(first.html.name, "rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == first.html_sha256
    # Same records, same stated time: only the number (printed on every page) differs between the two.
    assert first.pdf_sha256 != second.pdf_sha256
    event = AuditEvent.objects.filter(action="document.generated", object_id=str(first.pk)).get()
    assert event.actor == reviewer and event.changes["pdf_sha256"] == [None, first.pdf_sha256]


def test_an_executive_cannot_generate(approved, make_user):
    with pytest.raises(PermissionDeniedError):
        services.document_generate(actor=make_user("executive"), version=approved[0], kind="annex_iv")
    assert not GeneratedDocument.objects.exists()


def test_an_unknown_kind_is_refused_with_the_choices(approved, people):
    with pytest.raises(DomainError, match="annex_iv, sr11_7"):
        services.document_generate(actor=people[1], version=approved[0], kind="factsheet")


def test_attaching_needs_an_open_round_of_the_same_version(approved, people):
    version, decided = approved
    scientist, reviewer = people
    document = services.document_generate(actor=reviewer, version=version, kind="annex_iv", at=AT)
    with pytest.raises(ConflictError, match="frozen"):
        services.document_attach(actor=reviewer, document=document, review=decided)
    other = submitted_review(submitter=scientist)
    with pytest.raises(DomainError, match="attach it to a review of that version"):
        services.document_attach(actor=reviewer, document=document, review=other)
    fresh = review_services.review_start(actor=scientist, version=version)
    services.document_attach(actor=reviewer, document=document, review=fresh)
    assert list(fresh.generated_documents.all()) == [document]
    assert AuditEvent.objects.filter(action="document.attached", object_id=str(document.pk)).count() == 1


def test_a_number_taken_while_rendering_is_rendered_again_with_the_next(approved, people, monkeypatch):
    """Rendering runs outside the write transaction; another generation that commits meanwhile takes number 1."""
    version, _ = approved
    reviewer = people[1]
    real_render = documents.render
    calls = []

    def render_while_another_generates(records):
        calls.append(records.number)
        if len(calls) == 1:
            services._document_store(actor=reviewer, version=version, records=records, rendered=real_render(records))
        return real_render(records)

    monkeypatch.setattr(documents, "render", render_while_another_generates)
    document = services.document_generate(actor=reviewer, version=version, kind="annex_iv", at=AT)
    assert calls == [1, 2] and document.number == 2
    assert sorted(GeneratedDocument.objects.values_list("number", flat=True)) == [1, 2]
