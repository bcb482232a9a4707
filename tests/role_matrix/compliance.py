"""Who may use the compliance pages and API: everyone reads; a model's team, reviewers and admins classify it."""

from tests.inventory.factories import MLModelFactory
from tests.role_matrix import EVERYONE, REFUSED

CLASSIFIERS = frozenset({"reviewer", "data_scientist", "admin"})


def model_kwargs():
    return {"slug": MLModelFactory().slug}


def classified_kwargs():
    from tests.compliance.factories import ClassificationFactory

    return {"slug": ClassificationFactory().model.slug}


MATRIX = {
    "compliance:index": ("get", EVERYONE, None),
    "compliance:export": ("get", EVERYONE, None),
    "compliance:frameworks": ("get", EVERYONE, None),
    "compliance:model": ("get", EVERYONE, model_kwargs),
    "compliance:classify": ("get", CLASSIFIERS, model_kwargs),
    "api-compliance-frameworks": ("get", EVERYONE, None),
    "api-compliance-coverage": ("get", EVERYONE, None),
    "api-compliance-model": ("get", EVERYONE, model_kwargs),
    "api-compliance-classification": ("get", EVERYONE, classified_kwargs),
}
WRITES = {
    "compliance:classify": {"post": CLASSIFIERS},
    "api-compliance-classification": {"put": CLASSIFIERS},
}
# Reviewers classify any team's model (oversight); a data scientist only their team's.
OWN_TEAM = {"compliance:classify": {"post": REFUSED}, "api-compliance-classification": {"put": REFUSED}}


def version_kwargs():
    from tests.inventory.factories import ModelVersionFactory

    version = ModelVersionFactory()
    return {"slug": version.model.slug, "version": version.version}


def version_id_kwargs():
    from tests.inventory.factories import ModelVersionFactory

    return {"version_id": ModelVersionFactory().pk}


def document_kwargs(fmt: str | None):
    def make():
        from tests.compliance.factories import GeneratedDocumentFactory

        pk = GeneratedDocumentFactory().pk
        return {"pk": pk, "fmt": fmt} if fmt else {"pk": pk}

    return make


MATRIX.update({
    "compliance:documents": ("get", EVERYONE, version_kwargs),
    "compliance:document-download": ("get", EVERYONE, document_kwargs("pdf")),
    "api-compliance-documents": ("get", EVERYONE, version_id_kwargs),
    "api-compliance-document-pdf": ("get", EVERYONE, document_kwargs(None)),
    "api-compliance-document-html": ("get", EVERYONE, document_kwargs(None)),
})
# The model's team, reviewers and admins generate documents and attach them to reviews.
WRITES.update({
    "compliance:documents": {"post": CLASSIFIERS},
    "api-compliance-documents": {"post": CLASSIFIERS},
})
OWN_TEAM.update({"compliance:documents": {"post": REFUSED}, "api-compliance-documents": {"post": REFUSED}})
