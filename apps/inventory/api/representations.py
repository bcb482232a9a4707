"""What the model and version endpoints answer, built from ``values()`` rows.

``MLModelSerializer`` and ``ModelVersionSerializer`` define these answers (and the OpenAPI
schema), and still validate input; reading through them cost a list page about 700 model
instances and every DRF field of each, which made the list Python-bound (see the MLflow
comparison in bench/RESULTS.md). Here one query per relation reads only the columns shown
and plain dicts are built from them. tests/inventory/test_api_representations.py checks
that both give the same answer for every shape of model and version.

Order of the lists inside an answer: versions newest first; active deployments most
recently deployed first; technical owners by username, processes by name, tags by name,
training data sets by name and version (names compared code point by code point on every
database), stage history oldest first.
"""

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import QuerySet
from django.utils import timezone

from apps.core.db import CodePointOrder
from apps.inventory.models import (
    Deployment,
    MLModel,
    ModelGovernance,
    ModelVersion,
    StageTransition,
    VersionGovernance,
)
from apps.inventory.services import REGISTERED


def _datetime(value, zone) -> str:
    """As DRF's ``DateTimeField`` writes it: ISO 8601 in the current time zone (``zone``), ``Z`` for UTC."""
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# Output key -> column read, in the serializer's field order.
MODEL_COLUMNS = {
    "slug": "slug", "name": "name", "purpose": "purpose", "intended_use": "intended_use",
    "out_of_scope_uses": "out_of_scope_uses", "accountable_owner": "accountable_owner__username",
    "technical_owners": None, "team": "team__slug", "business_unit": "team__business_unit__slug",
    "business_processes": None, "exposure": "exposure", "automation_level": "automation_level",
    "task_type": "task_type", "tags": None, "stage": "stage", "created_by": "created_by__username",
    "versions": None, "active_deployments": None, "governance": None, "created_at": "created_at",
    "updated_at": "updated_at",
}
VERSION_COLUMNS = {
    "id": "id", "model": "model__slug", "version": "version", "description": "description",
    "training_datasets": None, "algorithm": "algorithm", "framework": "framework",
    "hyperparameters": "hyperparameters", "artifact_uri": "artifact_uri", "artifact_sha256": "artifact_sha256",
    "stage": "stage", "validation_metrics": "validation_metrics", "validated_environment": "validated_environment",
    "created_by": "created_by__username", "transitions": None, "governance": None, "created_at": "created_at",
    "updated_at": "updated_at",
}
_DATETIMES = frozenset({"created_at", "updated_at"})


GOVERNANCE_COLUMNS = ("status", "health", "approval", "tier", "reasons", "computed_at", "recheck_at")


FLAG_FIELDS = ("kind", "label", "severity", "detail", "url")


def _governance(row_class, key: str, pks: list[int], zone, *extra: str) -> dict[int, dict]:
    """The stored governance states of ``pks`` (one query); a pk not computed yet is missing (null)."""
    states = {}
    for row in row_class.objects.filter(**{f"{key}__in": pks}).values(key, *GOVERNANCE_COLUMNS, *extra):
        pk = row.pop(key)
        if "flags" in row:  # what the serializer documents; the rest is what the dashboard's wording counts
            row["flags"] = [{name: flag[name] for name in FLAG_FIELDS} for flag in row["flags"]]
        row["computed_at"] = _datetime(row["computed_at"], zone)
        row["recheck_at"] = _datetime(row["recheck_at"], zone) if row["recheck_at"] else None
        states[pk] = row
    return states


def _values(queryset: QuerySet, columns: dict) -> QuerySet:
    return queryset.order_by().values("pk", *(column for column in columns.values() if column))


def _rows(model_class, columns: dict, pks: list[int]) -> list[dict]:
    """The rows of ``pks``, in that order (keys first: the page was chosen without the joins these need)."""
    found = {row["pk"]: row for row in _values(model_class.objects.filter(pk__in=pks), columns)}
    return [found[pk] for pk in pks if pk in found]


def _grouped(pairs: Iterable[tuple]) -> defaultdict:
    """``{key: [value, ...]}`` from ``(key, value)`` pairs, keeping their order."""
    grouped = defaultdict(list)
    for key, value in pairs:
        grouped[key].append(value)
    return grouped


def _columns(row: dict, columns: dict, related: dict, zone) -> dict:
    out = {}
    for key, column in columns.items():
        if column is None:
            out[key] = related[key]
        elif key in _DATETIMES:
            out[key] = _datetime(row[column], zone)
        else:
            out[key] = row[column]
    return out


def models(pks: list[int]) -> list[dict]:
    """The answers for the models ``pks``, in that order: seven queries, whatever their number."""
    return _models(_rows(MLModel, MODEL_COLUMNS, pks)) if pks else []


def _named_relations(pks: list[int]) -> dict[str, defaultdict]:
    """The technical owners, business processes and tags of the models ``pks``: three plain queries
    (one ``UNION ALL`` of them took longer to compile than the three take to run)."""
    def names(through, key: str, *order: str) -> defaultdict:
        return _grouped(through.objects.filter(mlmodel_id__in=pks).order_by(*order).values_list("mlmodel_id", key))

    # Code point order on every database, as ``registered_model`` sorts in Python.
    return {
        "technical_owners": names(MLModel.technical_owners.through, "user__username",
                                  CodePointOrder("user__username")),
        "business_processes": names(MLModel.business_processes.through, "businessprocess__slug",
                                    CodePointOrder("businessprocess__name"), "businessprocess_id"),
        "tags": names(MLModel.tags.through, "tag__name", CodePointOrder("tag__name")),
    }


def _models(rows: list[dict]) -> list[dict]:
    pks = [row["pk"] for row in rows]
    if not pks:
        return []
    zone = timezone.get_current_timezone()
    named = _named_relations(pks)
    versions = _grouped(
        (model_id, {"id": pk, "version": label, "stage": stage, "framework": framework,
                    "created_at": _datetime(created, zone)})
        for model_id, pk, label, stage, framework, created in ModelVersion.objects.filter(model_id__in=pks)
        .order_by("-created_at", "-pk").values_list("model_id", "pk", "version", "stage", "framework", "created_at")
    )
    deployments = _grouped(
        (model_id, {"id": pk, "version": label, "environment": environment, "target": target,
                    "deployed_at": _datetime(deployed, zone), "environment_mismatch": mismatch})
        for model_id, pk, label, environment, target, deployed, mismatch in Deployment.objects.filter(
            version__model_id__in=pks, retired_at__isnull=True)
        .order_by("-deployed_at", "-version__created_at", "-version_id", "pk")
        .values_list("version__model_id", "pk", "version__version", "environment", "target", "deployed_at",
                     "environment_mismatch")
    )
    states = _governance(ModelGovernance, "model_id", pks, zone, "flags", "expected_exposure")
    return [
        _columns(row, MODEL_COLUMNS, {
            **{relation: by_model[row["pk"]] for relation, by_model in named.items()},
            "versions": versions[row["pk"]], "active_deployments": deployments[row["pk"]],
            "governance": states.get(row["pk"]),
        }, zone)
        for row in rows
    ]


def versions(pks: list[int]) -> list[dict]:
    """The answers for the versions ``pks``, in that order: four queries, whatever their number."""
    return _versions(_rows(ModelVersion, VERSION_COLUMNS, pks)) if pks else []


def _versions(rows: list[dict]) -> list[dict]:
    pks = [row["pk"] for row in rows]
    if not pks:
        return []
    zone = timezone.get_current_timezone()
    datasets = _grouped(ModelVersion.training_datasets.through.objects.filter(modelversion_id__in=pks)
                        .order_by(CodePointOrder("dataset__name"), CodePointOrder("dataset__version"), "dataset_id")
                        .values_list("modelversion_id", "dataset__slug"))
    history = _grouped(
        (version_id, {"from_stage": from_stage, "to_stage": to_stage, "actor": actor, "reason": reason,
                      "at": _datetime(at, zone)})
        for version_id, from_stage, to_stage, actor, reason, at in StageTransition.objects.filter(
            version_id__in=pks).order_by("at", "pk")
        .values_list("version_id", "from_stage", "to_stage", "actor__username", "reason", "at")
    )
    states = _governance(VersionGovernance, "version_id", pks, zone, "gate_open")
    return [
        _columns(row, VERSION_COLUMNS, {"training_datasets": datasets[row["pk"]], "transitions": history[row["pk"]],
                                        "governance": states.get(row["pk"])}, zone)
        for row in rows
    ]


def registered_model(model: MLModel, *, technical_owners=(), business_processes=(), tags=()) -> dict:
    """The answer for a model just registered, from what was registered (no read back).

    A new model has no versions or deployments; ``tags`` are names as stored (``services.tag_names``)
    and ``model.team`` has its business unit loaded. The test suite checks it equals a GET.
    """
    zone = timezone.get_current_timezone()
    row = {
        "pk": model.pk, **{column: getattr(model, column) for column in MODEL_COLUMNS.values()
                           if column and "__" not in column},
        "accountable_owner__username": model.accountable_owner.get_username(), "team__slug": model.team.slug,
        "team__business_unit__slug": model.team.business_unit.slug,
        "created_by__username": model.created_by.get_username() if model.created_by else None,
    }
    return _columns(row, MODEL_COLUMNS, {
        "technical_owners": sorted({user.get_username() for user in technical_owners}),
        "business_processes": [process.slug for process in sorted(set(business_processes),
                                                                  key=lambda p: (p.name, p.pk))],
        "tags": sorted(tags), "versions": [], "active_deployments": [],
        "governance": _governance(ModelGovernance, "model_id", [model.pk], zone, "flags",
                                  "expected_exposure").get(model.pk),
    }, zone)


def registered_version(version: ModelVersion, *, training_datasets=()) -> dict:
    """The answer for a version just registered, from what was registered (no read back).

    Its history is the one transition ``services.version_create`` records, at its creation time.
    The test suite checks it equals a GET.
    """
    zone = timezone.get_current_timezone()
    author = version.created_by.get_username() if version.created_by else None
    row = {
        "pk": version.pk, "model__slug": version.model.slug, "created_by__username": author,
        **{column: getattr(version, column) for column in VERSION_COLUMNS.values()
           if column and "__" not in column},
    }
    return _columns(row, VERSION_COLUMNS, {
        "training_datasets": [dataset.slug for dataset in sorted(set(training_datasets),
                                                                 key=lambda d: (d.name, d.version, d.pk))],
        "transitions": [{"from_stage": "", "to_stage": version.stage, "actor": author, "reason": REGISTERED,
                         "at": _datetime(version.created_at, zone)}],
        "governance": _governance(VersionGovernance, "version_id", [version.pk], zone, "gate_open").get(version.pk),
    }, zone)


def model_matching(queryset: QuerySet) -> dict | None:
    """The answer for the one model of ``queryset`` (e.g. filtered by slug), or None."""
    found = _models(list(_values(queryset, MODEL_COLUMNS)[:1]))
    return found[0] if found else None


def version_matching(queryset: QuerySet) -> dict | None:
    found = _versions(list(_values(queryset, VERSION_COLUMNS)[:1]))
    return found[0] if found else None
