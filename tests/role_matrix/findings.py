"""Who may use the findings and incidents pages and API: everyone reads; reviewers and admins raise and close
findings, their owner and the model's team remediate them; whoever runs or oversees a model records incidents."""

from tests.role_matrix import EVERYONE, REFUSED

REVIEWERS = frozenset({"reviewer", "admin"})
RECORDERS = frozenset({"reviewer", "data_scientist", "admin"})


def version_kwargs():
    from tests.inventory.factories import ModelVersionFactory

    return {"version_id": ModelVersionFactory().pk}


def finding_kwargs():
    from tests.findings.factories import FindingFactory

    return {"pk": FindingFactory().pk}


def incident_kwargs():
    from tests.findings.factories import IncidentFactory

    return {"pk": IncidentFactory().pk}


def model_kwargs():
    from tests.inventory.factories import MLModelFactory

    return {"slug": MLModelFactory().slug}


MATRIX = {
    "findings:index": ("get", EVERYONE, None),
    "findings:raise": ("get", REVIEWERS, version_kwargs),
    "findings:finding": ("get", EVERYONE, finding_kwargs),
    "findings:finding-edit": ("get", RECORDERS, finding_kwargs),
    "findings:finding-status": ("get", RECORDERS, finding_kwargs),
    "findings:incidents": ("get", EVERYONE, None),
    "findings:incident-open": ("get", RECORDERS, model_kwargs),
    "findings:incident": ("get", EVERYONE, incident_kwargs),
    "findings:incident-edit": ("get", RECORDERS, incident_kwargs),
    "findings:incident-entry": ("get", RECORDERS, incident_kwargs),
    "findings:incident-status": ("get", RECORDERS, incident_kwargs),
    "compliance:finding-controls": ("get", EVERYONE, finding_kwargs),
    "finding-list": ("get", EVERYONE, None),
    "finding-detail": ("get", EVERYONE, finding_kwargs),
    "finding-transition": ("post", RECORDERS, finding_kwargs),
    "incident-list": ("get", EVERYONE, None),
    "incident-detail": ("get", EVERYONE, incident_kwargs),
    "incident-entries": ("post", RECORDERS, incident_kwargs),
    "incident-transition": ("post", RECORDERS, incident_kwargs),
    "api-compliance-finding-controls": ("get", EVERYONE, finding_kwargs),
}
WRITES = {
    "findings:raise": {"post": REVIEWERS},
    "findings:finding-edit": {"post": RECORDERS},
    "findings:finding-status": {"post": RECORDERS},
    "findings:incident-open": {"post": RECORDERS},
    "findings:incident-edit": {"post": RECORDERS},
    "findings:incident-entry": {"post": RECORDERS},
    "findings:incident-status": {"post": RECORDERS},
    "compliance:finding-controls": {"post": REVIEWERS},
    "finding-list": {"post": REVIEWERS},
    "finding-detail": {"patch": RECORDERS},
    "incident-list": {"post": RECORDERS},
    "incident-detail": {"patch": RECORDERS},
    "api-compliance-finding-controls": {"put": REVIEWERS},
}
# A finding's remediation and an incident's record belong to the model's team (and the finding's owner);
# reviewers and admins oversee every team's.
OWN_TEAM = {name: {"post": REFUSED} for name in (
    "findings:finding-edit", "findings:finding-status", "findings:incident-open", "findings:incident-edit",
    "findings:incident-entry", "findings:incident-status", "finding-transition", "incident-list",
    "incident-entries", "incident-transition")}
OWN_TEAM.update({"finding-detail": {"patch": REFUSED}, "incident-detail": {"patch": REFUSED}})
