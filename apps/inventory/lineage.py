"""Lineage as a layered graph: data -> pipeline steps -> data -> model versions -> deployments -> processes.

Pure functions, no Django imports: ``apps.inventory.lineage_queries`` turns database
rows into the record types below, ``build_graph`` lays them out, and
``apps.inventory.charts.lineage_figure`` draws the result. Model and version nodes
carry their stored governance state (status and health, as ``apps.inventory.governance``
names them), read from the database, never derived here; the figure colours them by it.

Layout. Columns (x) are layers. Data sets and pipeline steps take their depth in
the pipeline: a data set no step produces sits in column 0, a step one column
right of its deepest input, a data set one column right of its deepest producing
step, so data sets always land on even columns and steps on odd ones. Model
versions, deployments and business processes take the three columns after the
deepest data column. Inside a column nodes are ordered by the mean position of
their upstream neighbours (the barycentre heuristic, which keeps most edges short
and uncrossed), ties broken by label, then spread evenly around y = 0. The result
depends only on the records, never on their order.

Cycles. Pipelines should be acyclic, but nothing in the database forbids
``A -> step -> B -> step -> A``. The depth search ignores an edge that closes a
cycle (a back edge) and reports the data set where it cut, so the page can warn
instead of looping forever.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from apps.inventory.governance import APPROVAL_LABELS, HEALTH_LABELS, STATUS_LABELS

RAW = "raw_data"
STEP = "step"
DERIVED = "derived_data"
MODEL = "model"
VERSION = "version"
DEPLOYMENT = "deployment"
PROCESS = "process"
# Groups stand for many nodes of one business unit or process (``apps.inventory.lineage_shape`` makes them).
DATA_GROUP = "data_group"
MODEL_GROUP = "model_group"
PROCESS_GROUP = "process_group"

KIND_LABELS = {
    RAW: "Source data set",
    STEP: "Pipeline step",
    DERIVED: "Derived data set",
    MODEL: "Model (no version yet)",
    VERSION: "Model version",
    DEPLOYMENT: "Deployment",
    PROCESS: "Business process",
    DATA_GROUP: "Data sets and pipeline steps (group)",
    MODEL_GROUP: "Models (group)",
    PROCESS_GROUP: "Business processes (group)",
}

GOVERNED = frozenset({MODEL, VERSION, MODEL_GROUP})
GROUPS = frozenset({DATA_GROUP, MODEL_GROUP, PROCESS_GROUP})  # a group takes the worst state of its members

FLOW = "flow"
DECLARED = "declared"  # a model names the process but no active deployment serves it


@dataclass(frozen=True)
class DataSetRecord:
    id: int
    label: str
    derived: bool = False
    url: str = ""
    detail: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepRecord:
    id: int
    label: str
    inputs: tuple[int, ...]
    output: int
    url: str = ""
    detail: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelRecord:
    id: int
    label: str
    stage: str = ""
    processes: tuple[int, ...] = ()
    url: str = ""
    flag: str = ""
    status: str = ""  # the stored governance state ("" before its first computation)
    health: str = ""
    approval: str = ""
    unit: str = ""  # the business unit (slug) of the model's team


@dataclass(frozen=True)
class VersionRecord:
    id: int
    model: int
    label: str
    stage: str = ""
    training: tuple[int, ...] = ()
    url: str = ""
    detail: tuple[str, ...] = ()
    status: str = ""  # the version's stored governance state ("" before its first computation)
    health: str = ""
    approval: str = ""


@dataclass(frozen=True)
class DeploymentRecord:
    id: int
    version: int
    label: str
    process: int | None = None
    mismatch: str = ""
    url: str = ""
    detail: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProcessRecord:
    id: int
    label: str
    url: str = ""
    detail: tuple[str, ...] = ()
    unit: str = ""  # the business unit (slug) the process belongs to


@dataclass(frozen=True)
class Node:
    key: str
    kind: str
    label: str
    layer: int
    y: float
    url: str = ""
    detail: tuple[str, ...] = ()
    flag: str = ""
    status: str = ""
    health: str = ""
    approval: str = ""
    unit: str = ""  # business unit slug of a model, version or process ("" for the others)
    model: int | None = None  # the model a model or version node stands for

    @property
    def governed(self) -> bool:
        """Models and versions carry a governance state; data, deployments and processes do not."""
        return self.kind in GOVERNED

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def is_group(self) -> bool:
        return self.kind in GROUPS

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, "Not computed yet") if self.governed else ""

    @property
    def health_label(self) -> str:
        return HEALTH_LABELS.get(self.health, "") if self.governed else ""

    @property
    def approval_label(self) -> str:
        return APPROVAL_LABELS.get(self.approval, "") if self.governed else ""


@dataclass(frozen=True, order=True)
class Edge:
    source: str
    target: str
    kind: str = FLOW


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    columns: dict[int, str] = field(default_factory=dict)
    cycles: list[str] = field(default_factory=list)  # labels of data sets where a cycle was cut
    truncated: bool = False  # the selector stopped walking upstream at its depth limit

    def __post_init__(self):
        self._by_key = {node.key: node for node in self.nodes}

    def node(self, key: str) -> Node:
        return self._by_key[key]

    def __contains__(self, key: str) -> bool:
        return key in self._by_key

    @property
    def is_empty(self) -> bool:
        return not self.nodes

    def layers(self) -> list[tuple[str, list[Node]]]:
        """(column title, nodes top to bottom) for each non-empty column, left to right."""
        grouped = defaultdict(list)
        for node in self.nodes:
            grouped[node.layer].append(node)
        return [(self.columns.get(layer, ""), sorted(grouped[layer], key=lambda n: -n.y)) for layer in sorted(grouped)]


def dataset_key(pk) -> str:
    return f"dataset:{pk}"


def step_key(pk) -> str:
    return f"step:{pk}"


def model_key(pk) -> str:
    return f"model:{pk}"


def version_key(pk) -> str:
    return f"version:{pk}"


def deployment_key(pk) -> str:
    return f"deployment:{pk}"


def process_key(pk) -> str:
    return f"process:{pk}"


@dataclass
class _Draft:
    kind: str
    label: str
    url: str
    detail: tuple[str, ...]
    flag: str = ""
    status: str = ""
    health: str = ""
    layer: int = 0
    approval: str = ""
    unit: str = ""
    model: int | None = None


def build_graph(*, datasets=(), steps=(), models=(), versions=(), deployments=(), processes=()) -> Graph:
    """Lay the records out as a layered graph. Edges naming a record not given are dropped."""
    drafts: dict[str, _Draft] = {}
    edges: set[Edge] = set()
    for ds in datasets:
        drafts[dataset_key(ds.id)] = _Draft(DERIVED if ds.derived else RAW, ds.label, ds.url, ds.detail)
    for step in steps:
        drafts[step_key(step.id)] = _Draft(STEP, step.label, step.url, step.detail)
        edges.update(Edge(dataset_key(i), step_key(step.id)) for i in step.inputs)
        edges.add(Edge(step_key(step.id), dataset_key(step.output)))

    models_by_id = {m.id: m for m in models}
    versions_of = defaultdict(list)
    for version in versions:
        versions_of[version.model].append(version)
        owner_flag = models_by_id[version.model].flag if version.model in models_by_id else ""
        unit = models_by_id[version.model].unit if version.model in models_by_id else ""
        drafts[version_key(version.id)] = _Draft(VERSION, version.label, version.url, version.detail, owner_flag,
                                                 version.status, version.health, approval=version.approval,
                                                 unit=unit, model=version.model)
        edges.update(Edge(dataset_key(d), version_key(version.id)) for d in version.training)
    for model in models:
        if not versions_of[model.id]:
            drafts[model_key(model.id)] = _Draft(MODEL, model.label, model.url, ("No version registered yet.",),
                                                 model.flag, model.status, model.health, approval=model.approval,
                                                 unit=model.unit, model=model.id)

    served = set()  # (model id, process id) pairs an active deployment already draws
    model_of_version = {v.id: v.model for v in versions}
    for dep in deployments:
        drafts[deployment_key(dep.id)] = _Draft(DEPLOYMENT, dep.label, dep.url, dep.detail, dep.mismatch)
        edges.add(Edge(version_key(dep.version), deployment_key(dep.id)))
        if dep.process is not None:
            edges.add(Edge(deployment_key(dep.id), process_key(dep.process)))
            served.add((model_of_version.get(dep.version), dep.process))
    for process in processes:
        drafts[process_key(process.id)] = _Draft(PROCESS, process.label, process.url, process.detail,
                                                 unit=process.unit)
    for model in models:
        source = _representative(model, versions_of[model.id])
        edges.update(Edge(source, process_key(p), DECLARED) for p in model.processes if (model.id, p) not in served)

    edges = {e for e in edges if e.source in drafts and e.target in drafts}
    cycles, data_depth = _assign_layers(drafts, edges)
    return Graph(
        nodes=_place(drafts, edges),
        edges=sorted(edges),
        columns=_column_titles(data_depth),
        cycles=cycles,
    )


def _representative(model: ModelRecord, versions: list[VersionRecord]) -> str:
    """The node a model's declared processes hang from: the version at the model's stage, else the first."""
    if not versions:
        return model_key(model.id)
    at_stage = [v for v in versions if v.stage == model.stage] or versions
    return version_key(min(at_stage, key=lambda v: (v.label, v.id)).id)


def _assign_layers(drafts: dict[str, _Draft], edges: set[Edge]) -> tuple[list[str], int]:
    """Set each draft's layer; return the data sets where a cycle was cut and the deepest data column."""
    data_kinds = {RAW, STEP, DERIVED}
    preds = defaultdict(list)
    for edge in edges:
        if drafts[edge.source].kind in data_kinds and drafts[edge.target].kind in data_kinds:
            preds[edge.target].append(edge.source)
    data_keys = sorted(k for k, d in drafts.items() if d.kind in data_kinds)
    depth, cut = _depths(data_keys, preds, steps={k for k in data_keys if drafts[k].kind == STEP})
    for key in data_keys:
        drafts[key].layer = depth[key]
    deepest = max(depth.values(), default=-1)
    offsets = {MODEL: 1, VERSION: 1, DEPLOYMENT: 2, PROCESS: 3}
    for draft in drafts.values():
        if draft.kind in offsets:
            draft.layer = deepest + offsets[draft.kind]
    return sorted({drafts[k].label for k in cut}), deepest


def _depths(keys: list[str], preds: dict[str, list[str]], *, steps: set[str]) -> tuple[dict[str, int], set[str]]:
    """Longest-path depth of every key, by an iterative depth-first search that skips back edges.

    A step sits at least in column 1 and a data set with no producing step in
    column 0, so data sets stay on even columns and steps on odd ones.
    """
    depth: dict[str, int] = {}
    cut: set[str] = set()
    for root in keys:
        if root in depth:
            continue
        on_path = {root}
        stack = [(root, iter(sorted(preds.get(root, ()))))]
        while stack:
            node, pending = stack[-1]
            for pred in pending:
                if pred in on_path:
                    cut.add(pred if pred not in steps else node)
                elif pred not in depth:
                    on_path.add(pred)
                    stack.append((pred, iter(sorted(preds.get(pred, ())))))
                    break
            else:
                stack.pop()
                on_path.discard(node)
                known = [depth[p] for p in preds.get(node, ()) if p in depth]
                floor = 1 if node in steps else 0
                depth[node] = max(floor, 1 + max(known, default=-1))
    return depth, cut


def _place(drafts: dict[str, _Draft], edges: set[Edge]) -> list[Node]:
    """Order each column by the mean y of its upstream neighbours in earlier columns, then spread it on y."""
    preds = defaultdict(list)
    for edge in edges:
        preds[edge.target].append(edge.source)
    columns = defaultdict(list)
    for key, draft in drafts.items():
        columns[draft.layer].append(key)
    position: dict[str, float] = {}
    nodes = []
    for layer in sorted(columns):
        def order(key, layer=layer):
            # Columns differ in height, so compare upstream neighbours by their y, top (highest) first.
            placed = [position[p] for p in preds[key] if p in position and drafts[p].layer < layer]
            rank = -sum(placed) / len(placed) if placed else float("inf")
            return (rank, drafts[key].label.casefold(), key)

        ordered = sorted(columns[layer], key=order)
        for index, key in enumerate(ordered):
            draft = drafts[key]
            y = (len(ordered) - 1) / 2 - index
            position[key] = y
            nodes.append(Node(key, draft.kind, draft.label, layer, y, draft.url, draft.detail, draft.flag,
                              draft.status, draft.health, draft.approval, draft.unit, draft.model))
    return nodes


def rebuild(nodes, edges, columns: dict[int, str]) -> Graph:
    """A graph of ``nodes`` (their layers as given) and the ``edges`` between them, laid out afresh.

    Empty columns are closed up, so a neighbourhood or a grouped graph is as narrow as its content.
    """
    layers = sorted({node.layer for node in nodes})
    compact = {layer: index for index, layer in enumerate(layers)}
    drafts = {node.key: _Draft(node.kind, node.label, node.url, node.detail, node.flag, node.status, node.health,
                               compact[node.layer], node.approval, node.unit, node.model) for node in nodes}
    kept = {e for e in edges if e.source in drafts and e.target in drafts and e.source != e.target}
    return Graph(nodes=_place(drafts, kept), edges=sorted(kept),
                 columns={compact[layer]: columns.get(layer, "") for layer in layers})


def _column_titles(deepest_data: int) -> dict[int, str]:
    titles = {}
    for layer in range(deepest_data + 1):
        titles[layer] = "Source data" if layer == 0 else ("Pipeline steps" if layer % 2 else "Derived data")
    titles[deepest_data + 1] = "Model versions"
    titles[deepest_data + 2] = "Deployments"
    titles[deepest_data + 3] = "Business processes"
    return titles
