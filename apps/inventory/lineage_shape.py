"""Reshape a lineage graph so a portfolio of hundreds of models stays readable: group, focus, find.

Pure functions over ``apps.inventory.lineage.Graph``, no Django imports; the lineage page
builds the full graph of its selection (a fixed number of queries), then ships one of these
smaller graphs instead of every node.

Grouping. Every node is given one or more groups (a business unit, or a business process),
and all nodes of one group and one band collapse into one node: the data band (source data,
pipeline steps, derived data), the model band (models, versions, deployments) and the
process band. Models and versions belong to their unit (by unit), or to the processes they
serve, declared or through a deployment (by process); a deployment to its version's groups
(or, by process, to the process it serves); a process to its unit, or to itself. Data takes
the groups of everything downstream of it, so a data set shared by two units is counted in
both. An edge joins the groups its ends share; ends with no group in common (a model of one
unit serving another unit's process) join every pair, which shows the dependency across
units. A group's model node takes the worst stored governance state of its members, and
says how many are in each state.

Focus. The neighbourhood of one node: everything up to ``hops`` edges upstream and up to
``hops`` edges downstream of it, following edge direction (siblings that merely share a data
set are not in it).
"""

from collections import defaultdict, deque
from dataclasses import dataclass
from itertools import product

from apps.inventory import governance, lineage
from apps.inventory.lineage import Edge, Graph, Node

BY_UNIT, BY_PROCESS = "unit", "process"
NONE = ""  # the group of a model that serves no process (by process) or has no unit

DATA_BAND = frozenset({lineage.RAW, lineage.STEP, lineage.DERIVED})
MODEL_BAND = frozenset({lineage.MODEL, lineage.VERSION, lineage.DEPLOYMENT})
BAND_OF = {**dict.fromkeys(DATA_BAND, "data"), **dict.fromkeys(MODEL_BAND, "models"), lineage.PROCESS: "processes"}
BAND_KIND = {"data": lineage.DATA_GROUP, "models": lineage.MODEL_GROUP, "processes": lineage.PROCESS_GROUP}
BAND_LAYER = {"data": 0, "models": 1, "processes": 2}
GROUP_COLUMNS = {0: "Data and pipelines", 1: "Models", 2: "Business processes"}
# Severity of a stored state, "not computed yet" below every computed one.
SEVERITY = {"": -1, **{status: rank for rank, status in enumerate(governance.STATUSES)}}


@dataclass(frozen=True)
class GroupName:
    label: str
    url: str = ""  # where the group opens in full (the page narrowed to it)


def group(graph: Graph, *, by: str, names: dict[str, GroupName]) -> Graph:
    """One node per (group, band); ``names`` labels each group id (unit slug, or process node key)."""
    membership = _membership(graph, by=by)
    members: dict[tuple[str, str], list[Node]] = defaultdict(list)
    for node in graph.nodes:
        for group_id in membership[node.key]:
            members[(BAND_OF[node.kind], group_id)].append(node)

    def collapsed_key(node: Node, group_id: str) -> str:
        band = BAND_OF[node.kind]
        if band == "processes" and len(members[(band, group_id)]) == 1:
            return node.key  # a group of one process is that process
        return f"group:{band}:{group_id}"

    nodes = {}
    for (band, group_id), nodes_in in members.items():
        if band == "processes" and len(nodes_in) == 1:
            nodes[nodes_in[0].key] = _at_layer(nodes_in[0], BAND_LAYER[band])
        else:
            name = names.get(group_id, GroupName(group_id or "No business process"))
            nodes[f"group:{band}:{group_id}"] = _group_node(band, group_id, name, nodes_in)
    edges = {}
    for edge in graph.edges:
        source, target = graph.node(edge.source), graph.node(edge.target)
        ours, theirs = membership[edge.source], membership[edge.target]
        pairs = [(g, g) for g in ours & theirs] or list(product(ours, theirs))
        for source_group, target_group in pairs:
            key = (collapsed_key(source, source_group), collapsed_key(target, target_group))
            if key[0] != key[1] and edges.get(key) != lineage.FLOW:
                edges[key] = edge.kind  # a flow wins over a declared use between the same two groups
    return lineage.rebuild(nodes.values(), [Edge(s, t, kind) for (s, t), kind in edges.items()], GROUP_COLUMNS)


def neighbourhood(graph: Graph, key: str, *, hops: int) -> Graph:
    """``key`` and what lies up to ``hops`` edges upstream or downstream of it."""
    upstream, downstream = defaultdict(list), defaultdict(list)
    for edge in graph.edges:
        upstream[edge.target].append(edge.source)
        downstream[edge.source].append(edge.target)
    kept = _reach(key, upstream, hops) | _reach(key, downstream, hops)
    return lineage.rebuild([n for n in graph.nodes if n.key in kept], graph.edges, graph.columns)


def find(graph: Graph, query: str) -> list[Node]:
    """Nodes whose name contains ``query`` (any case), left to right, then by name."""
    needle = query.casefold().strip()
    if not needle:
        return []
    return sorted((n for n in graph.nodes if needle in n.label.casefold()),
                  key=lambda n: (n.layer, n.label.casefold(), n.key))


def model_count(graph: Graph) -> int:
    """How many distinct models the graph draws (a model's versions count once)."""
    return len({n.model for n in graph.nodes if n.model is not None})


def _reach(start: str, neighbours: dict[str, list[str]], hops: int) -> set[str]:
    seen = {start}
    frontier = deque([(start, 0)])
    while frontier:
        key, distance = frontier.popleft()
        if distance == hops:
            continue
        for other in neighbours[key]:
            if other not in seen:
                seen.add(other)
                frontier.append((other, distance + 1))
    return seen


def _membership(graph: Graph, *, by: str) -> dict[str, frozenset[str]]:
    upstream, downstream = defaultdict(list), defaultdict(list)
    for edge in graph.edges:
        upstream[edge.target].append(graph.node(edge.source))
        downstream[edge.source].append(graph.node(edge.target))
    groups: dict[str, frozenset[str]] = {}
    for node in graph.nodes:
        if node.kind == lineage.PROCESS:
            groups[node.key] = frozenset({node.unit if by == BY_UNIT else node.key})
        elif node.kind in (lineage.MODEL, lineage.VERSION):
            groups[node.key] = frozenset({node.unit}) if by == BY_UNIT else _served(node, downstream)
    for node in graph.nodes:
        if node.kind == lineage.DEPLOYMENT:
            served = {n.key for n in downstream[node.key] if n.kind == lineage.PROCESS}
            inherited = set().union(*(groups[n.key] for n in upstream[node.key] if n.key in groups))
            groups[node.key] = frozenset(served if by == BY_PROCESS and served else inherited or {NONE})
    # Data takes the groups of what it feeds; walking columns right to left settles each node once
    # (an edge that closes a pipeline cycle points leftwards and adds nothing).
    for node in sorted((n for n in graph.nodes if n.kind in DATA_BAND), key=lambda n: -n.layer):
        fed = [groups[n.key] for n in downstream[node.key] if n.key in groups]
        groups[node.key] = frozenset().union(*fed) or frozenset({NONE})
    return groups


def _served(node: Node, downstream: dict[str, list[Node]]) -> frozenset[str]:
    processes = set()
    for target in downstream[node.key]:
        if target.kind == lineage.PROCESS:
            processes.add(target.key)
        elif target.kind == lineage.DEPLOYMENT:
            processes.update(n.key for n in downstream[target.key] if n.kind == lineage.PROCESS)
    return frozenset(processes or {NONE})


def _at_layer(node: Node, layer: int) -> Node:
    return Node(node.key, node.kind, node.label, layer, 0.0, node.url, node.detail, node.flag, node.status,
                node.health, node.approval, node.unit, node.model)


def _group_node(band: str, group_id: str, name: GroupName, nodes: list[Node]) -> Node:
    key, layer, kind = f"group:{band}:{group_id}", BAND_LAYER[band], BAND_KIND[band]
    count = defaultdict(int)
    for node in nodes:
        count[node.kind] += 1
    if band == "data":
        datasets = count[lineage.RAW] + count[lineage.DERIVED]
        detail = (f"{count[lineage.RAW]} source and {count[lineage.DERIVED]} derived data sets",
                  f"{count[lineage.STEP]} pipeline steps")
        return Node(key, kind, f"{name.label}: {_plural(datasets, 'data set')}", layer, 0.0, name.url, detail)
    if band == "processes":
        names = sorted(n.label for n in nodes)
        detail = (", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else ""),)
        return Node(key, kind, f"{name.label}: {_plural(len(nodes), 'process', 'processes')}", layer, 0.0,
                    name.url, detail)
    governed = [n for n in nodes if n.governed]
    states = defaultdict(int)
    for node in governed:
        states[node.status] += 1
    worst_first = sorted(states, key=SEVERITY.get, reverse=True)
    tally = ", ".join(f"{states[s]} {governance.STATUS_LABELS.get(s, 'not computed yet').lower()}" for s in worst_first)
    models = len({n.model for n in governed})
    versions = count[lineage.VERSION]
    flagged = sum(1 for n in nodes if n.flag)
    detail = [f"{_plural(versions, 'version')}, {_plural(count[lineage.DEPLOYMENT], 'active deployment')}",
              f"Governance state of the versions: {tally}" if tally else "No governance state yet"]
    flag = f"{flagged} with a warning (an owner who left, or an environment mismatch)" if flagged else ""
    return Node(key, kind, f"{name.label}: {_plural(models, 'model')}", layer, 0.0, name.url, tuple(detail),
                flag, worst_first[0] if worst_first else "")


def _plural(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"
