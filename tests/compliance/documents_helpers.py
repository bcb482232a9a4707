"""A version with a complete file: classification, lineage, an evaluation with per-group fairness, and an approved
review with checklist verdicts. Shared by the document tests."""

import re
import zlib
from datetime import UTC, datetime

from apps.monitoring.models import Evaluation
from apps.reviews import services as review_services
from tests.compliance.factories import ClassificationFactory
from tests.inventory.factories import BusinessProcessFactory, DataSetFactory, PipelineStepFactory
from tests.reviews.helpers import assessed_version, submitted_review

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def pdf_text(pdf_document) -> str:
    """The text WeasyPrint laid out, page by page (its render tree: no PDF parser is installed)."""
    parts = []
    for page in pdf_document.pages:
        for box in page._page_box.descendants():
            text = getattr(box, "text", None)
            if text:
                parts.append(text)
    return " ".join(parts)


def pdf_objects(pdf: bytes) -> bytes:
    """The PDF's objects with its compressed streams (object streams hold the metadata) inflated."""
    parts = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(parts)


def evaluate(version) -> Evaluation:
    groups = {"sex": {"female": {"selection_rate": 0.31, "selection_rate_ci": [0.25, 0.37]},
                      "male": {"selection_rate": 0.52, "selection_rate_ci": [0.46, 0.58]}}}
    fairness = {"sex": {"demographic_parity_ratio": 0.596, "reference_group": "male",
                        "reference_rule": "highest_selection_rate", "four_fifths_violations": ["female"]}}
    metrics = {"overall": {"accuracy": 0.913}, "groups": groups, "fairness": fairness,
               "drift": {"income": {"kind": "numeric", "psi": 0.27, "statistic": 0.2, "p_value": 0.001}}}
    return Evaluation.objects.create(
        version=version, filename="eval.csv", file_format="csv", sha256="e" * 64, size_bytes=10, raw_path="x",
        parquet_path="x", row_count=300, status=Evaluation.Status.DONE, metrics=metrics, finished_at=AT,
        columns={"target": "y_true", "prediction": "y_pred", "sensitive_features": ["sex"]})


def complete_version(*, submitter, reviewer):
    """An approved version of a classified high-risk model with lineage and a fairness evaluation."""
    version = assessed_version()
    version.model.team.members.add(submitter)
    ClassificationFactory(model=version.model)
    raw = DataSetFactory(name="bureau-raw", source_system="credit-bureau")
    features = DataSetFactory(name="applicant-features", source_system="core-banking", contains_personal_data=True,
                              legal_basis="contract")
    PipelineStepFactory(name="build-features", output=features, inputs=[raw])
    version.training_datasets.add(features)
    version.model.business_processes.add(BusinessProcessFactory(name="Consumer credit decisions"))
    evaluate(version)
    review = submitted_review(submitter=submitter, version=version)
    item = review.answers.first().item
    review_services.review_decide(actor=reviewer, review=review, decision="approve", comment="sound",
                                  seen_hash=review.content_hash, verdicts={item.pk: ("confirm", "")})
    review.refresh_from_db()
    return version, review
