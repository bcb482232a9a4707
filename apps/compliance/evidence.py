"""What compliance offers a review round: the generated documents attached to it, each with its hash and the
link that opens it, and where the version's documents are generated.

Registered with ``apps.reviews.evidence_sources`` in ``ComplianceConfig.ready``; one query, whatever the data.
"""

from django.urls import reverse

from apps.compliance import selectors
from apps.reviews.evidence_sources import Evidence, Link, Section


def review_evidence(review, *, obligations) -> Evidence:
    version = review.version
    attached = selectors.documents_attached_to(review)
    page = reverse("compliance:documents", kwargs={"slug": version.model.slug, "version": version.version})
    evidence = Evidence(sections=[Section("documents", "Generated documents attached to this round",
                                          "compliance/evidence/documents.html",
                                          {"documents": attached, "documents_url": page})])
    for document in attached:
        evidence.add("uses_documented", Link(
            f"{document.get_kind_display()} No. {document.number}",
            reverse("compliance:document-download", kwargs={"pk": document.pk, "fmt": "pdf"}),
            f"PDF SHA-256 {document.pdf_sha256[:12]}…"))
    return evidence
