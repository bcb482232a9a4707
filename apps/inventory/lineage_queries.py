"""Fetch the lineage of one model, one business process, one data set or a whole portfolio.

Each selector costs a fixed number of queries whatever the number of models:
one per kind of row (models, versions, deployments, processes, steps, data sets),
plus one per pipeline layer while walking upstream (or downstream) from the
training data. Walks stop at data sets already seen, so a cyclic pipeline ends,
and at ``MAX_PIPELINE_DEPTH`` layers, which the graph reports as truncated.
"""

from collections import defaultdict

from django.db.models import Q

from apps.inventory import environment, lineage
from apps.inventory.models import (
    BusinessProcess,
    BusinessUnit,
    DataSet,
    Deployment,
    MLModel,
    ModelVersion,
    PipelineStep,
    Stage,
)
from apps.inventory.selectors import stored_governance

MAX_PIPELINE_DEPTH = 25

StepInputs = PipelineStep.inputs.through
TrainingData = ModelVersion.training_datasets.through
ModelProcesses = MLModel.business_processes.through


def lineage_for_model(*, model: MLModel) -> lineage.Graph:
    """Everything upstream and downstream of one model, retired versions included."""
    return _models_graph(MLModel.objects.filter(pk=model.pk), include_retired=True)


def lineage_for_process(*, process: BusinessProcess, stage: str = "") -> lineage.Graph:
    """The live models (at ``stage``, if given) that serve a process, declared or through an active deployment,
    and their lineage."""
    deployed = Deployment.objects.filter(business_process=process, retired_at__isnull=True).values("version__model")
    models = _live(stage).filter(Q(business_processes=process) | Q(pk__in=deployed))
    return _models_graph(models.distinct(), include_retired=False)


def lineage_for_portfolio(*, business_unit: BusinessUnit | None = None, stage: str = "") -> lineage.Graph:
    """Every live model (of one business unit and at one stage, if given) and its lineage."""
    models = _live(stage)
    if business_unit is not None:
        models = models.filter(team__business_unit=business_unit)
    return _models_graph(models, include_retired=False)


def unit_names() -> dict[str, str]:
    """Every business unit's name by slug (the groups of a grouped portfolio graph)."""
    return dict(BusinessUnit.objects.values_list("slug", "name"))


def process_names(*, keys) -> dict[str, tuple[str, str]]:
    """(name, slug) of the processes with these node keys, by key (the groups of a grouped unit graph)."""
    ids = [int(key.split(":", 1)[1]) for key in keys]
    return {lineage.process_key(pk): (name, slug)
            for pk, name, slug in BusinessProcess.objects.filter(pk__in=ids).values_list("pk", "name", "slug")}


def _live(stage: str):
    models = MLModel.objects.exclude(stage=Stage.RETIRED)
    return models.filter(stage=stage) if stage else models


def lineage_for_dataset(*, dataset: DataSet) -> lineage.Graph:
    """Where a data set comes from, what is derived from it, and the live model versions trained on any of that."""
    up_steps, up_ids, up_cut = _walk({dataset.pk}, upstream=True)
    down_steps, down_ids, down_cut = _walk({dataset.pk}, upstream=False)
    versions = list(
        ModelVersion.objects.filter(training_datasets__in=down_ids).exclude(stage=Stage.RETIRED)
        .select_related("model", "governance").distinct()
    )
    training = defaultdict(set)
    for version_id, dataset_id in TrainingData.objects.filter(
        modelversion_id__in=[v.pk for v in versions], dataset_id__in=down_ids
    ).values_list("modelversion_id", "dataset_id"):
        training[version_id].add(dataset_id)
    models = list(MLModel.objects.filter(pk__in={v.model_id for v in versions})
                  .select_related("accountable_owner", "governance", "team__business_unit"))
    graph = _assemble(models, versions, training, {**up_steps, **down_steps}, up_ids | down_ids)
    graph.truncated = up_cut or down_cut
    return graph


def _models_graph(models, *, include_retired: bool) -> lineage.Graph:
    models = list(models.select_related("accountable_owner", "governance", "team__business_unit")
                  .order_by("name", "pk"))
    models_by_id = {m.pk: m for m in models}
    versions = ModelVersion.objects.filter(model__in=list(models_by_id)).select_related("governance")
    if not include_retired:
        versions = versions.exclude(stage=Stage.RETIRED)
    versions = list(versions.order_by("model__name", "-created_at", "pk"))
    for version in versions:
        version.model = models_by_id[version.model_id]  # loaded above: no second copy of each model
    training = defaultdict(set)
    for version_id, dataset_id in TrainingData.objects.filter(
        modelversion_id__in=[v.pk for v in versions]
    ).values_list("modelversion_id", "dataset_id"):
        training[version_id].add(dataset_id)
    trained_on = set().union(*training.values()) if training else set()
    steps, dataset_ids, truncated = _walk(trained_on, upstream=True)
    graph = _assemble(models, versions, training, steps, dataset_ids)
    graph.truncated = truncated
    return graph


def _walk(start: set[int], *, upstream: bool) -> tuple[dict[int, tuple[int, set[int]]], set[int], bool]:
    """Follow pipeline steps from ``start``, one bulk query per layer.

    Returns ``{step id: (output id, input ids)}``, every data set id reached, and
    whether the walk stopped at the depth limit with data sets still unexplored.
    """
    steps: dict[int, tuple[int, set[int]]] = {}
    seen = set(start)
    frontier = set(start)
    for _ in range(MAX_PIPELINE_DEPTH):
        if not frontier:
            return steps, seen, False
        lookup = {"pipelinestep__output_id__in": frontier} if upstream else {"dataset_id__in": frontier}
        rows = StepInputs.objects.filter(**lookup).values_list("pipelinestep_id", "pipelinestep__output_id",
                                                                "dataset_id")
        frontier = set()
        for step_id, output_id, input_id in rows:
            steps.setdefault(step_id, (output_id, set()))[1].add(input_id)
            reached = input_id if upstream else output_id
            if reached not in seen:
                seen.add(reached)
                frontier.add(reached)
    return steps, seen, bool(frontier)


def _assemble(models, versions, training, steps, dataset_ids) -> lineage.Graph:
    """Load the remaining rows (processes, deployments, steps, data sets) and build the graph."""
    model_ids = [m.pk for m in models]
    declared = defaultdict(set)
    for model_id, process_id in ModelProcesses.objects.filter(mlmodel_id__in=model_ids).values_list(
        "mlmodel_id", "businessprocess_id"
    ):
        declared[model_id].add(process_id)
    # Each deployment's version is one of ``versions``, already loaded: reuse it rather than join it again.
    versions_by_id = {v.pk: v for v in versions}
    deployments = list(Deployment.objects.filter(version__in=list(versions_by_id), retired_at__isnull=True)
                       .order_by("pk"))
    for deployment in deployments:
        deployment.version = versions_by_id[deployment.version_id]
    version_urls = {v.pk: v.get_absolute_url() for v in versions}
    process_ids = set().union(*declared.values()) if declared else set()
    process_ids |= {d.business_process_id for d in deployments if d.business_process_id}
    processes = BusinessProcess.objects.filter(pk__in=process_ids).select_related("business_unit")
    step_rows = PipelineStep.objects.filter(pk__in=steps).select_related("output")
    datasets = DataSet.objects.filter(pk__in=dataset_ids)
    return lineage.build_graph(
        datasets=[_dataset_record(d) for d in datasets],
        steps=[_step_record(s, steps[s.pk][1]) for s in step_rows],
        models=[_model_record(m, declared[m.pk]) for m in models],
        versions=[_version_record(v, training[v.pk], version_urls[v.pk]) for v in versions],
        deployments=[_deployment_record(d, version_urls[d.version_id]) for d in deployments],
        processes=[_process_record(p) for p in processes],
    )


def _dataset_record(ds: DataSet) -> lineage.DataSetRecord:
    detail = [f"Version {ds.version}"]
    if ds.source_system:
        detail.append(f"Source: {ds.source_system}")
    if ds.contains_personal_data:
        detail.append(f"Personal data ({ds.get_legal_basis_display()})")
    return lineage.DataSetRecord(ds.pk, ds.name, derived=ds.kind == DataSet.Kind.DERIVED,
                                 url=ds.get_absolute_url(), detail=tuple(detail))


def _step_record(step: PipelineStep, inputs: set[int]) -> lineage.StepRecord:
    # Steps have no page of their own; the data set they produce describes them.
    detail = (f"Code: {step.code_uri}",) if step.code_uri else ()
    return lineage.StepRecord(step.pk, step.name, inputs=tuple(sorted(inputs)), output=step.output_id,
                              url=step.output.get_absolute_url(), detail=detail)


def _model_record(model: MLModel, processes: set[int]) -> lineage.ModelRecord:
    owner = model.accountable_owner
    flag = "" if owner.is_active else f"Accountable owner {owner.get_full_name() or owner.get_username()} has left"
    state = stored_governance(model)
    return lineage.ModelRecord(model.pk, model.name, stage=model.stage, processes=tuple(sorted(processes)),
                               url=model.get_absolute_url(), flag=flag, status=state.status if state else "",
                               health=state.health if state else "", approval=state.approval if state else "",
                               unit=model.team.business_unit.slug)


def _version_record(version: ModelVersion, training: set[int], url: str) -> lineage.VersionRecord:
    detail = [f"Stage: {version.get_stage_display()}"]
    if version.algorithm:
        detail.append(version.algorithm)
    state = stored_governance(version)
    return lineage.VersionRecord(version.pk, version.model_id, f"{version.model.name} {version.version}",
                                 stage=version.stage, training=tuple(sorted(training)),
                                 url=url, detail=tuple(detail), status=state.status if state else "",
                                 health=state.health if state else "", approval=state.approval if state else "")


def _deployment_record(dep: Deployment, version_url: str) -> lineage.DeploymentRecord:
    differences = environment.differences(dep.version.validated_environment, dep.runtime_environment)
    mismatch = "Runs outside its validated environment: " + "; ".join(map(str, differences)) if differences else ""
    return lineage.DeploymentRecord(
        dep.pk, dep.version_id, dep.target, process=dep.business_process_id, mismatch=mismatch,
        url=version_url,
        detail=(f"{dep.get_environment_display()} {dep.get_kind_display().lower()}, since {dep.deployed_at:%Y-%m-%d}",
                f"Version {dep.version.version}"),
    )


def _process_record(process: BusinessProcess) -> lineage.ProcessRecord:
    detail = [f"Decision: {process.decision}", f"Business unit: {process.business_unit.name}"]
    if process.decisions_per_day is not None:
        detail.append(f"{process.decisions_per_day:,} decisions per day")
    if process.value_at_stake is not None:
        detail.append(f"EUR {process.value_at_stake:,.0f} at stake per year")
    return lineage.ProcessRecord(process.pk, process.name, url=process.get_absolute_url(), detail=tuple(detail),
                                 unit=process.business_unit.slug)
