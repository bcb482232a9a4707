"""Who may use the review pages and API.

Action URLs are probed with an empty POST: a role that may act gets past the access check and is
told what the form lacks (400); a role that may not is refused (403) before any service runs.
"""

from tests.role_matrix import EVERYONE, REFUSED, WRITERS

REVIEWERS = frozenset({"reviewer", "admin"})
ASSIGNERS = frozenset({"data_scientist", "reviewer", "admin"})


def _draft():
    from apps.reviews.services import review_start
    from tests.factories import UserFactory
    from tests.inventory.factories import ModelVersionFactory

    opener = UserFactory(roles=["data_scientist"])
    return review_start(actor=opener, version=ModelVersionFactory(model__team__members=[opener]))


def review_kwargs():
    return {"pk": _draft().pk}


def version_kwargs():
    from tests.inventory.factories import ModelVersionFactory

    return {"version_id": ModelVersionFactory().pk}


def evidence_kwargs():
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.reviews.services import review_answer

    review = _draft()
    answer = review.answers.first()
    review_answer(actor=review.created_by, review=review, item_id=answer.item_id, answer="yes",
                  evidence_file=SimpleUploadedFile("evidence.txt", b"fairness report"))
    return {"pk": review.pk, "answer_id": answer.pk}


MATRIX = {
    "reviews:index": ("get", EVERYONE, None),
    "reviews:detail": ("get", EVERYONE, review_kwargs),
    "reviews:report": ("get", EVERYONE, review_kwargs),
    "reviews:evidence": ("get", EVERYONE, evidence_kwargs),
    "reviews:version": ("get", EVERYONE, version_kwargs),
    "reviews:start": ("post", WRITERS, version_kwargs),
    "reviews:answers": ("post", WRITERS, review_kwargs),
    "reviews:decide": ("post", REVIEWERS, review_kwargs),
    "reviews:assign": ("post", ASSIGNERS, review_kwargs),
    # Every role reaches it; the service then admits only the model's accountable owner.
    "reviews:acknowledge": ("post", EVERYONE, review_kwargs),
    "reviews:withdraw": ("post", WRITERS, review_kwargs),
    "review-list": ("get", EVERYONE, None),
    "review-detail": ("get", EVERYONE, review_kwargs),
    "review-answers": ("post", WRITERS, review_kwargs),
    "review-submit": ("post", WRITERS, review_kwargs),
    "review-decide": ("post", REVIEWERS, review_kwargs),
    "review-assign": ("post", ASSIGNERS, review_kwargs),
    "review-acknowledge": ("post", EVERYONE, review_kwargs),
    "review-withdraw": ("post", WRITERS, review_kwargs),
}

# The reviews API opens a round with a POST to its list.
WRITES = {"review-list": {"post": WRITERS}}

# Only the model's team (and its owners, and admins) opens a review of one of its versions.
# Answering and submitting a round writes the evidence its model is governed by: the model's team does that.
OWN_TEAM = {"reviews:start": {"post": REFUSED}, "review-list": {"post": REFUSED},
            "reviews:answers": {"post": REFUSED}, "review-answers": {"post": REFUSED},
            "review-submit": {"post": REFUSED},
            # Reviewers and admins arrange reviews of every team's model; a data scientist of their team's.
            "reviews:assign": {"post": REFUSED}, "review-assign": {"post": REFUSED}}
_ON_THE_REVIEW = "a rule on the review itself: only the round's opener or submitter (or an admin) withdraws it"
ANY_TEAM = {
    "reviews:withdraw": _ON_THE_REVIEW, "review-withdraw": _ON_THE_REVIEW,
    "reviews:acknowledge": "only the model's accountable owner acknowledges (a rule on the review)",
    "review-acknowledge": "only the model's accountable owner acknowledges (a rule on the review)",
}
