"""Audit events told as sentences: "Dana approved the review of AML transaction monitoring 2.0.0 (round 1)".

Activity feeds (the home page, an object's history) speak to people, not in the trail's dotted codes
(``evaluation.computed``). ``SENTENCES`` maps every action the portal records to a sentence template with
``{actor}`` (the person, or "The portal" for its own work) and ``{object}`` (what it acted on, as recorded).
An action missing here, such as the Django admin's ``<model>.changed``, falls back to a sentence built from its
code, so no feed ever shows a bare code. The audit trail page keeps the codes: auditors filter on them.
"""

from dataclasses import dataclass

SENTENCES = {
    "document.attached": "{actor} attached {object} to a review as evidence",
    "document.generated": "{actor} generated {object}",
    "finding.closed": "{actor} checked the fix and closed the finding {object}",
    "finding.controls_linked": "{actor} linked the finding {object} to the controls it concerns",
    "finding.opened": "{actor} raised the validation finding {object}",
    "finding.updated": "{actor} updated the finding {object}",
    "incident.closed": "{actor} closed the incident {object}",
    "incident.entry_added": "{actor} added to the timeline of the incident {object}",
    "incident.opened": "{actor} recorded the incident {object}",
    "incident.updated": "{actor} updated the incident {object}",
    "mlflow.conflict": "MLflow and the portal disagree on {object}; the portal's value was kept",
    "mlflow.model_linked": "{actor} linked {object} to its MLflow registered model",
    "mlflow.sync_requested": "{actor} asked for a sync with {object}",
    "mlflow.synced": "{actor} synced {object}",
    "mlflow_server.connected": "{actor} connected the MLflow server {object}",
    "mlflow_server.disconnected": "{actor} disconnected the MLflow server {object}",
    "secrets.resealed": "{actor} sealed every stored secret again under the current key",
    "registry_link.changed": "MLflow's aliases or stage changed for {object}",
    "use_case.approved": "{actor} approved the use case {object}",
    "use_case.declined": "{actor} declined the use case {object}",
    "use_case.proposed": "{actor} proposed the use case {object}",
    "use_case.registered": "{actor} registered the model of the use case {object}",
    "use_case.submitted": "{actor} submitted the use case {object} for a decision",
    "use_case.updated": "{actor} updated the use case {object}",
    "use_case.withdrawn": "{actor} withdrew the use case {object}",
    "user.roles_synced": "Single sign-on updated the roles of {object}",
    "alert.raised_breach": "Monitoring raised a breach: {object}",
    "alert.raised_warning": "Monitoring raised a warning: {object}",
    "alert.escalated": "A warning became a breach: {object}",
    "alert.acknowledged": "{actor} acknowledged the alert {object}",
    "alert.resolved": "{actor} resolved the alert {object}",
    "api_token.created": "{actor} created {object}",
    "api_token.revoked": "{actor} revoked {object}",
    "audit.checkpointed": "The portal signed a checkpoint of the audit trail",
    "audit.verified": "The portal verified the audit trail",
    "business_process.created": "{actor} added the business process {object}",
    "business_process.updated": "{actor} updated the business process {object}",
    "business_unit.created": "{actor} added the business unit {object}",
    "checklist_item.created": "{actor} added the checklist item {object}",
    "checklist_item.retired": "{actor} retired the checklist item {object}",
    "checklist_item.revised": "{actor} revised the checklist item {object}",
    "dataset.created": "{actor} registered the data set {object}",
    "dataset.updated": "{actor} updated the data set {object}",
    "deployment.created": "{actor} deployed {object}",
    "deployment.retired": "{actor} retired the deployment {object}",
    "deployment.runtime_changed": "The software {object} runs on changed",
    "evaluation.labels_added": "{actor} added the outcomes of earlier predictions to the {object}",
    "evaluation.computed": "The portal finished computing the {object}",
    "evaluation.explanation_failed": "The portal could not explain the outputs of the {object}",
    "evaluation.explanation_given_up": "The portal gave up explaining the outputs of the {object}",
    "evaluation.explanation_requested": "{actor} asked again for the explanation of the outputs of the {object}",
    "evaluation.failed": "The {object} could not be computed",
    "evaluation.registered": "{actor} registered a data set kept in place as results: {object}",
    "evaluation.uploaded": "{actor} uploaded results: {object}",
    "framework.control_saved": "{actor} saved the control {object}",
    "framework.version_drafted": "{actor} drafted {object}",
    "framework.version_published": "{actor} published {object}",
    "governance.changed": "The governance state of {object} changed",
    "governance_policy.published": "{actor} published the {object}",
    "inventory.imported": "{actor} imported models into the inventory",
    "mitigation.status_changed": "{actor} updated the mitigation \"{object}\"",
    "model.classified": "{actor} classified {object} against the regulations",
    "model.registered": "{actor} registered the model {object}",
    "model.updated": "{actor} updated the model {object}",
    "pipeline_step.created": "{actor} added the pipeline step {object}",
    "production_gate.overridden": "{actor} let {object} into production past the gate",
    "production_gate.refused": "The production gate refused {object}",
    "reference_data.uploaded": "{actor} uploaded {object}",
    "upload.aborted": "{actor} aborted the {object}",
    "upload.completed": "The portal assembled and accepted the {object}",
    "upload.rejected": "The portal refused the {object}; nothing was stored",
    "upload.started": "{actor} started the {object}",
    "upload.submitted": "{actor} completed the {object} and handed it to the portal to check",
    "review.answered": "{actor} answered the checklist of the {object}",
    "review.approve": "{actor} approved the {object}",
    "review.assigned": "{actor} assigned a reviewer to the {object}",
    "review.owner_acknowledged": "{actor} acknowledged, as owner, the {object}",
    "review.reject": "{actor} rejected the {object}",
    "review.reopened": "{actor} reopened the {object}",
    "review.request_changes": "{actor} asked for changes in the {object}",
    "review.started": "{actor} opened the {object}",
    "review.submitted": "{actor} submitted the {object} for decision",
    "review.voided": "The {object} became void: what it approved has changed",
    "review.withdrawn": "{actor} withdrew the {object}",
    "risk.accepted": "{actor} accepted a risk: {object}",
    "risk_assessment.draft_updated": "{actor} updated the draft {object}",
    "risk_assessment.drafted": "{actor} started the {object}",
    "risk_assessment.overdue": "The {object} fell due for re-assessment",
    "risk_assessment.submitted": "{actor} submitted the {object}",
    "risk_matrix.published": "{actor} published the {object}",
    "risk_reassessment.requested": "{actor} asked for a new risk assessment of {object}",
    "team.created": "{actor} created the team {object}",
    "team.members_changed": "{actor} changed the members of the team {object}",
    "user.created": "{actor} created the account {object}",
    "user.deactivated": "{actor} deactivated the account {object}",
    "user.password_changed": "{actor} changed the password of {object}",
    "version.created": "{actor} registered version {object}",
    "version.stage_changed": "{actor} moved {object} to another stage",
    "version.updated": "{actor} updated version {object}",
    "webhook.created": "{actor} added the webhook {object}",
    "webhook.deleted": "{actor} deleted the webhook {object}",
    "webhook.pinged": "{actor} sent a test call to the webhook {object}",
}

# The Django admin records "<model name>.<verb>" for whatever it changes.
ADMIN_VERBS = {"added": "added", "changed": "changed", "deleted": "deleted", "admin_action": "ran an admin action on"}

# Object descriptions that begin with a common noun read in the middle of a sentence with a small letter.
_NOUNS = ("Review of", "Risk assessment", "Risk matrix", "Risk accepted", "Classification of", "Reference data of",
          "Override for", "API token", "Warning:", "Breach:", "Validation (", "Production (", "Challenger comparison")


@dataclass(frozen=True)
class Activity:
    """One line of a feed."""

    sentence: str
    action: str  # the code, for the trail's filter


def _object(text: str) -> str:
    if text.startswith(_NOUNS) and not text.startswith("API"):
        return text[0].lower() + text[1:]
    return text


def _fallback(action: str) -> str:
    noun, _, verb = action.partition(".")
    if verb in ADMIN_VERBS:
        return "{actor} " + ADMIN_VERBS[verb] + " the " + noun.replace("_", " ") + " {object}"
    return "{actor}: " + (noun + " " + verb).replace("_", " ") + " {object}"


def sentence(*, action: str, actor: str, object_repr: str) -> str:
    """The event as a sentence; ``actor`` is the person's name ("" for the portal's own work)."""
    template = SENTENCES.get(action) or _fallback(action)
    text = template.format(actor=actor or "The portal", object=_object(object_repr)).strip()
    text = " ".join(text.split())
    return (text[0].upper() + text[1:]).rstrip(".:") + "."


def actor_name(event) -> str:
    """The actor's full name when the account has one, else the recorded username."""
    user = event.actor if event.actor_id else None
    full = user.get_full_name() if user is not None else ""
    return full or event.actor_username


def describe(event) -> Activity:
    return Activity(sentence(action=event.action, actor=actor_name(event), object_repr=event.object_repr),
                    event.action)
