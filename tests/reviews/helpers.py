"""Build a version ready for review: assessed risk, a review with every item answered."""

from apps.reviews import services
from apps.risk import services as risk_services
from tests.inventory.factories import MLModelFactory, ModelVersionFactory
from tests.risk.factories import ratings


def assessed_version(*, tier_ratings=None, **model_fields):
    model = MLModelFactory(**model_fields)
    draft = risk_services.assessment_save_draft(actor=None, model=model, ratings=tier_ratings or ratings(),
                                                exposure=model.exposure)
    risk_services.assessment_submit(actor=None, assessment=draft, based_on_id=None)
    return ModelVersionFactory(model=model, artifact_sha256="a" * 64)


def submitted_review(*, submitter, version=None, **kwargs):
    """A submitted review; a version built here belongs to the submitter's team (only its team opens reviews)."""
    if version is None:
        version = assessed_version(**kwargs)
        version.model.team.members.add(submitter)
    review = services.review_start(actor=submitter, version=version)
    for answer in review.answers.all():
        services.review_answer(actor=submitter, review=review, item_id=answer.item_id, answer="yes",
                               evidence=f"evidence for {answer.item.key}")
    return services.review_submit(actor=submitter, review=review)
