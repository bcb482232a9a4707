"""Who may use the monitoring pages and API.

Every role reads. Data scientists and admins upload, compare and promote; data scientists, reviewers
and admins acknowledge and resolve alerts. Action URLs are probed with an empty POST: a role that may act
gets past the access check (an alert is acknowledged; a form without its fields answers 400), a role that
may not is refused (403) before any service runs.
"""

from tests.role_matrix import EVERYONE, REFUSED, WRITERS

ALERT_HANDLERS = frozenset({"data_scientist", "reviewer", "admin"})


def _version():
    from tests.inventory.factories import ModelVersionFactory

    return ModelVersionFactory()


def _evaluation():
    from apps.monitoring.models import Evaluation

    return Evaluation.objects.create(
        version=_version(), filename="eval.csv", file_format="csv", sha256="0" * 64, size_bytes=10, raw_path="x",
        parquet_path="x", row_count=10, status=Evaluation.Status.DONE,
        metrics={"overall": {"accuracy": 0.9}, "groups": {}, "fairness": {}, "drift": {}})


def _alert():
    from apps.monitoring.models import Alert

    version = _version()
    return Alert.objects.create(model=version.model, version=version, metric="overall.accuracy", value=0.7,
                                threshold="< 0.8", severity="breach", message="accuracy is 0.7000.")


def _window():
    from datetime import UTC, datetime, timedelta

    from apps.monitoring.models import MetricWindow

    start = datetime(2026, 1, 1, tzinfo=UTC)
    return MetricWindow.objects.create(version=_version(), cadence="daily", window_start=start,
                                       window_end=start + timedelta(days=1), row_count=10,
                                       metrics={"overall": {"accuracy": 0.9}})


def upload_kwargs():
    """An upload of the newest user: the matrix's client logs in before the URL is built, and only the person
    who started an upload reaches it (anyone else gets 404, tests/monitoring/test_uploads.py)."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from apps.monitoring.models import UploadSession
    from tests.factories import UserFactory

    owner = get_user_model().objects.order_by("-pk").first() or UserFactory()
    session = UploadSession.objects.create(version=_version(), filename="big.csv", size_bytes=10, sha256="0" * 64,
                                           part_size=1024, options={"kind": "validation"}, created_by=owner,
                                           expires_at=timezone.now() + timedelta(hours=1))
    return {"pk": session.pk}


def upload_part_kwargs():
    return {**upload_kwargs(), "number": 1}


def evaluation_kwargs():
    return {"pk": _evaluation().pk}


def alert_kwargs():
    return {"pk": _alert().pk}


def window_kwargs():
    return {"pk": _window().pk}


def version_kwargs():
    return {"pk": _version().pk}


def model_kwargs():
    return {"slug": _version().model.slug}


MATRIX = {
    "monitoring:index": ("get", EVERYONE, None),
    "monitoring:upload": ("get", WRITERS, None),
    "monitoring:upload-preview": ("post", WRITERS, None),
    "monitoring:reference-upload": ("get", WRITERS, None),
    "monitoring:evaluation-detail": ("get", EVERYONE, evaluation_kwargs),
    "monitoring:evaluation-status": ("get", EVERYONE, evaluation_kwargs),
    "monitoring:evaluation-explanation": ("get", EVERYONE, evaluation_kwargs),
    # Asking again for a failed explanation is a write to the model, like an upload (its team's and admins').
    "monitoring:evaluation-explanation-retry": ("post", WRITERS, evaluation_kwargs),
    "monitoring:evaluation-labels": ("post", WRITERS, evaluation_kwargs),
    "monitoring:model": ("get", EVERYONE, model_kwargs),
    # Everyone sees the comparison page; only writers POST a file to it (tests/monitoring/test_views.py).
    "monitoring:compare": ("get", EVERYONE, model_kwargs),
    "monitoring:promote": ("post", WRITERS, model_kwargs),
    "monitoring:alert-detail": ("get", EVERYONE, alert_kwargs),
    "monitoring:alert-acknowledge": ("post", ALERT_HANDLERS, alert_kwargs),
    "monitoring:alert-resolve": ("post", ALERT_HANDLERS, alert_kwargs),
    # The API.
    "evaluation-list": ("get", EVERYONE, None),
    "evaluation-detail": ("get", EVERYONE, evaluation_kwargs),
    "evaluation-by-reference": ("post", WRITERS, None),
    "evaluation-labels": ("post", WRITERS, evaluation_kwargs),
    "evaluation-explain": ("post", WRITERS, evaluation_kwargs),
    "alert-list": ("get", EVERYONE, None),
    "alert-detail": ("get", EVERYONE, alert_kwargs),
    "alert-acknowledge": ("post", ALERT_HANDLERS, alert_kwargs),
    "alert-resolve": ("post", ALERT_HANDLERS, alert_kwargs),
    "metric-window-list": ("get", EVERYONE, None),
    "metric-window-detail": ("get", EVERYONE, window_kwargs),
    "model-version-reference": ("post", WRITERS, version_kwargs),
    # Uploads in parts: only data scientists and admins start them, and each sees only their own.
    "upload-list": ("post", WRITERS, None),
    "upload-detail": ("get", WRITERS, upload_kwargs),
    "upload-part": ("put", WRITERS, upload_part_kwargs),
    "upload-complete": ("post", WRITERS, upload_kwargs),
}

# The upload, reference and comparison pages post their forms; the evaluations API accepts uploads.
WRITES = {name: {"post": WRITERS} for name in (
    "monitoring:upload", "monitoring:reference-upload", "monitoring:compare", "evaluation-list",
    "evaluation-by-reference")}
WRITES["upload-detail"] = {"delete": WRITERS}

# Evaluations, their late labels and reference data raise a model's alerts and are evidence in its reviews:
# its team's writes.
OWN_TEAM = {name: {"post": REFUSED} for name in (
    "monitoring:upload", "monitoring:reference-upload", "monitoring:promote", "evaluation-list",
    "model-version-reference", "evaluation-by-reference", "monitoring:evaluation-labels", "evaluation-labels",
    "upload-list", "monitoring:evaluation-explanation-retry", "evaluation-explain")}
OWNER_ONLY = "an upload's parts, completion and abort are its starter's alone: anyone else gets 404"
ANY_TEAM = {
    "upload-part": OWNER_ONLY,
    "upload-complete": OWNER_ONLY,
    "upload-detail": OWNER_ONLY,
    "monitoring:upload-preview": "reads the file and stores nothing",
    "monitoring:compare": "computed within the request; nothing is stored",
    "monitoring:alert-acknowledge": "alert triage is open to every data scientist, reviewer and admin on call",
    "monitoring:alert-resolve": "alert triage is open to every data scientist, reviewer and admin on call",
    "alert-acknowledge": "alert triage is open to every data scientist, reviewer and admin on call",
    "alert-resolve": "alert triage is open to every data scientist, reviewer and admin on call",
}
