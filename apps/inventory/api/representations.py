"""What the model and version endpoints answer, built from ``values()`` rows.

``MLModelSerializer`` and ``ModelVersionSerializer`` define these answers (and the OpenAPI
schema), and still validate input; reading through them cost a list page about 700 model
instances and every DRF field of each, which made the list Python-bound (see the MLflow
comparison in bench/RESULTS.md). Here one query per relation reads only the columns shown
and plain dicts are built from them. tests/inventory/test_api_representations.py checks
that both give the same answer for every shape of model and version.

Order of the lists inside an answer: versions newest first; active deployments most
recently deployed first; technical owners by username, processes by name, tags by name,
training data sets by name and version, stage history oldest first.
"""

from collections import defaultdict
from collections.abc import Iterable

from django.utils import timezone

from apps.inventory.models import Deployment, MLModel, ModelVersion, StageTransition


def _datetime(value, zone=None) -> str:
    """As DRF's ``DateTimeField`` writes it: ISO 8601 in the current time zone, ``Z`` for UTC."""
    text = value.astimezone(zone or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text

# Output key -> column read, in the serializer's field order.
MODEL_COLUMNS = {
    "slug": "slug", "name": "name", "purpose": "purpose", "intended_use": "intended_use",
    "out_of_scope_uses": "out_of_scope_uses", "accountable_owner": "accountable_owner__username",
    "technical_owners": None, "team": "team__slug", "business_unit": "team__business_unit__slug",
    "business_processes": None, "exposure": "exposure", "automation_level": "automation_level",
    "task_type": "task_type", "tags": None, "stage": "stage", "created_by": "created_by__username",
    "versions": None, "active_deployments": None, "created_at": "created_at", "updated_at": "updated_at",
}
VERSION_COLUMNS = {
    "id": "id", "model": "model__slug", "version": "version", "description": "description",
    "training_datasets": None, "algorithm": "algorithm", "framework": "framework",
    "hyperparameters": "hyperparameters", "artifact_uri": "artifact_uri", "artifact_sha256": "artifact_sha256",
    "stage": "stage", "validation_metrics": "validation_metrics", "validated_environment": "validated_environment",
    "created_by": "created_by__username", "transitions": None, "created_at": "created_at",
    "updated_at": "updated_at",
}
_DATETIMES = frozenset({"created_at", "updated_at"})


def _rows(model_class, columns: dict, pks: list[int]) -> list[dict]:
    """The rows of ``pks``, in that order (keys first: the page was chosen without the joins these need)."""
    found = {row["pk"]: row for row in model_class.objects.filter(pk__in=pks).order_by().values(
        "pk", *(column for column in columns.values() if column))}
    return [found[pk] for pk in pks if pk in found]


def _grouped(pairs: Iterable[tuple]) -> defaultdict:
    """``{key: [value, ...]}`` from ``(key, value)`` pairs, keeping their order."""
    grouped = defaultdict(list)
    for key, value in pairs:
        grouped[key].append(value)
    return grouped


def _columns(row: dict, columns: dict, related: dict) -> dict:
    out = {}
    for key, column in columns.items():
        if column is None:
            out[key] = related[key]
        elif key in _DATETIMES:
            out[key] = _datetime(row[column])
        else:
            out[key] = row[column]
    return out


def models(pks: list[int]) -> list[dict]:
    """The answers for the models ``pks``, in that order: six queries, whatever their number."""
    if not pks:
        return []
    rows = _rows(MLModel, MODEL_COLUMNS, pks)
    owners = _grouped(MLModel.technical_owners.through.objects.filter(mlmodel_id__in=pks)
                      .order_by("user__username").values_list("mlmodel_id", "user__username"))
    processes = _grouped(MLModel.business_processes.through.objects.filter(mlmodel_id__in=pks)
                         .order_by("businessprocess__name", "businessprocess_id")
                         .values_list("mlmodel_id", "businessprocess__slug"))
    tags = _grouped(MLModel.tags.through.objects.filter(mlmodel_id__in=pks)
                    .order_by("tag__name").values_list("mlmodel_id", "tag__name"))
    versions = _grouped(
        (model_id, {"id": pk, "version": label, "stage": stage, "framework": framework,
                    "created_at": _datetime(created)})
        for model_id, pk, label, stage, framework, created in ModelVersion.objects.filter(model_id__in=pks)
        .order_by("-created_at", "-pk").values_list("model_id", "pk", "version", "stage", "framework", "created_at")
    )
    deployments = _grouped(
        (model_id, {"id": pk, "version": label, "environment": environment, "target": target,
                    "deployed_at": _datetime(deployed), "environment_mismatch": mismatch})
        for model_id, pk, label, environment, target, deployed, mismatch in Deployment.objects.filter(
            version__model_id__in=pks, retired_at__isnull=True)
        .order_by("-deployed_at", "-version__created_at", "-version_id", "pk")
        .values_list("version__model_id", "pk", "version__version", "environment", "target", "deployed_at",
                     "environment_mismatch")
    )
    return [
        _columns(row, MODEL_COLUMNS, {
            "technical_owners": owners[row["pk"]], "business_processes": processes[row["pk"]],
            "tags": tags[row["pk"]], "versions": versions[row["pk"]], "active_deployments": deployments[row["pk"]],
        })
        for row in rows
    ]


def versions(pks: list[int]) -> list[dict]:
    """The answers for the versions ``pks``, in that order: three queries, whatever their number."""
    if not pks:
        return []
    rows = _rows(ModelVersion, VERSION_COLUMNS, pks)
    datasets = _grouped(ModelVersion.training_datasets.through.objects.filter(modelversion_id__in=pks)
                        .order_by("dataset__name", "dataset__version", "dataset_id")
                        .values_list("modelversion_id", "dataset__slug"))
    history = _grouped(
        (version_id, {"from_stage": from_stage, "to_stage": to_stage, "actor": actor, "reason": reason,
                      "at": _datetime(at)})
        for version_id, from_stage, to_stage, actor, reason, at in StageTransition.objects.filter(
            version_id__in=pks).order_by("at", "pk")
        .values_list("version_id", "from_stage", "to_stage", "actor__username", "reason", "at")
    )
    return [
        _columns(row, VERSION_COLUMNS, {"training_datasets": datasets[row["pk"]], "transitions": history[row["pk"]]})
        for row in rows
    ]


def model(pk: int) -> dict:
    return models([pk])[0]


def version(pk: int) -> dict:
    return versions([pk])[0]
