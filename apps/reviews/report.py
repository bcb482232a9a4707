"""The sign-off report of one review round, for auditors: what was reviewed, who decided what on which
content, who took responsibility, which gate overrides happened, and the audit trail behind it.

``build`` collects it once as plain data; the HTML template and ``to_markdown`` only lay it out.
"""

import json
import os
import re

from django.db.models import Q
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.reviews import services
from apps.reviews.models import Review
from apps.risk.selectors import current_assessment, obligations_for

AUDIT_LIMIT = 500


def _user(user) -> str:
    if user is None:
        return "—"
    name = user.get_full_name()
    return f"{name} ({user.get_username()})" if name else user.get_username()


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z") if value else "—"


def build(review: Review) -> dict:
    """Everything the report shows. ``review`` comes from ``selectors.review_detail`` (answers, decisions loaded)."""
    version, model = review.version, review.version.model
    obligations = obligations_for(model)
    approval = services.approval_status(review, obligations=obligations)
    assessment = current_assessment(model)
    live_hash = services.current_hash(review) if review.content_hash else ""
    answers = [{
        "checklist": a.item.get_checklist_display(), "key": a.item.key, "item_version": a.item.version,
        "text": a.item.text, "answer": a.get_answer_display() if a.answer else "unanswered",
        "evidence": a.evidence, "link": a.evidence_link,
        "file": os.path.basename(a.evidence_file.name) if a.evidence_file else "",
        "file_sha256": a.evidence_sha256, "answer_id": a.pk, "comment": a.reviewer_comment,
    } for a in review.answers.all()]
    decisions = [{"reviewer": _user(d.reviewer), "decision": d.get_decision_display(), "when": _when(d.created_at),
                  "comment": d.comment, "hash": d.content_hash,
                  "hash_matches": d.content_hash == review.content_hash, "verdicts": _verdicts(d)}
                 for d in review.decisions.all()]
    overrides = [{"actor": _user(o.actor), "when": _when(o.created_at), "reason": o.reason, "problems": o.problems}
                 for o in version.gate_overrides.select_related("actor").order_by("created_at")]
    events = AuditEvent.objects.filter(
        Q(object_type="reviews.review", object_id=str(review.pk))
        | Q(object_type="inventory.modelversion", object_id=str(version.pk))
    ).order_by("seq")[:AUDIT_LIMIT]
    audit = [{"seq": e.seq, "when": _when(e.created_at), "actor": e.actor_username or "system", "action": e.action,
              "object": f"{e.object_type}:{e.object_id}", "changes": _changes(e.changes), "reason": e.reason,
              "hash": e.hash} for e in events]
    return {
        "review": review, "version": version, "model": model,
        "title": f"Responsible-AI sign-off: {model.name} {version.version}, round {review.round}",
        "filename": re.sub(r"[^A-Za-z0-9._-]+", "-", f"review-{model.slug}-{version.version}-round-{review.round}"),
        "generated_at": _when(timezone.now()),
        "state": review.get_state_display(),
        "accountable_owner": _user(model.accountable_owner),
        "technical_owners": [_user(u) for u in model.technical_owners.all()],
        "team": f"{model.team.name} ({model.team.business_unit.name})",
        "tier": obligations.tier or "not assessed",
        "assessment_id": assessment.pk if assessment else None,
        "policy_now": str(obligations.policy) if obligations.policy else "none",
        "policy_at_start": review.policy_label or "none recorded",
        "checklists": review.checklists, "required_approvals": approval.required,
        "required_approvals_at_start": review.required_approvals, "approvals": approval.approvals,
        "approval_problems": approval.problems(),
        "submitted_by": _user(review.submitted_by), "submitted_at": _when(review.submitted_at),
        "decided_at": _when(review.decided_at),
        "content_hash": review.content_hash or "not submitted yet",
        "hash_still_matches": bool(review.content_hash) and live_hash == review.content_hash,
        "version_facts": [("Artifact URI", version.artifact_uri or "—"),
                          ("Artifact SHA-256", version.artifact_sha256 or "—"),
                          ("Algorithm", version.algorithm or "—"),
                          ("Framework", version.framework or "—"),
                          ("Hyperparameters", _json(version.hyperparameters)),
                          ("Validation metrics", _json(version.validation_metrics)),
                          ("Validated environment", _json(version.validated_environment)),
                          ("Training data", ", ".join(str(d) for d in version.training_datasets.all()) or "—"),
                          ("Stage", version.get_stage_display())],
        "answers": answers, "decisions": decisions,
        "acknowledged_by": _user(review.owner_acknowledged_by) if review.owner_acknowledged_at else "",
        "acknowledged_at": _when(review.owner_acknowledged_at),
        "overrides": overrides, "audit": audit, "audit_truncated": len(audit) == AUDIT_LIMIT,
    }


def _verdicts(decision) -> str:
    """What the reviewer confirmed and disputed of the items' evidence, in one line."""
    verdicts = list(decision.verdicts.all())
    disputed = [f"{v.item.key} ({v.reason})" for v in verdicts if v.verdict == "dispute"]
    confirmed = len(verdicts) - len(disputed)
    parts = [f"confirmed {confirmed} item{'s' * (confirmed != 1)}"] if confirmed else []
    if disputed:
        parts.append(f"disputed {'; '.join(disputed)}")
    return "; ".join(parts)


def _json(value) -> str:
    return json.dumps(value, sort_keys=True) if value else "—"


def _md(text) -> str:
    """Text safe inside a Markdown table cell or list item: one line, no table breaks, no HTML."""
    value = " ".join(str(text if text is not None else "").split())
    for char in ("\\", "|", "<", ">", "*", "_", "`", "[", "]"):
        value = value.replace(char, f"\\{char}")
    return value or "—"


def _changes(changes: dict) -> str:
    """``{field: [old, new]}`` (nested per checklist item for answers) as one readable line."""
    parts = []
    for key, value in (changes or {}).items():
        if isinstance(value, dict):
            parts.append(f"{key}: ({_changes(value)})")
        elif isinstance(value, list) and len(value) == 2:
            before = "∅" if value[0] in (None, "") else value[0]
            after = "∅" if value[1] in (None, "") else value[1]
            parts.append(f"{key}: {before} → {after}")
        else:
            parts.append(f"{key}: {value}")
    return "; ".join(parts)


def to_markdown(data: dict) -> str:
    lines = [f"# {_md(data['title'])}", "",
             f"Generated {data['generated_at']}. State: **{_md(data['state'])}**.", "", "## Model and version", ""]
    lines += [f"- **Model:** {_md(data['model'].name)} ({_md(data['model'].slug)})",
              f"- **Version:** {_md(data['version'].version)}",
              f"- **Team:** {_md(data['team'])}",
              f"- **Accountable owner:** {_md(data['accountable_owner'])}",
              f"- **Technical owners:** {_md(', '.join(data['technical_owners']) or 'none')}"]
    lines += [f"- **{label}:** {_md(value)}" for label, value in data["version_facts"]]
    lines += ["", "## Tier and policy", "",
              f"- **Current tier:** {_md(data['tier'])}",
              f"- **Policy when the round opened:** {_md(data['policy_at_start'])}",
              f"- **Policy in force now:** {_md(data['policy_now'])}",
              f"- **Checklists:** {_md(', '.join(data['checklists']))}",
              f"- **Approvals:** {data['approvals']} of {data['required_approvals']} required (by the policy in "
              f"force now; {data['required_approvals_at_start']} when the round opened)",
              *(f"- **Still missing:** {_md(problem)}" for problem in data["approval_problems"]),
              "", "## What was reviewed", "",
              f"- **Submitted by:** {_md(data['submitted_by'])} at {data['submitted_at']}",
              f"- **Content hash (SHA-256):** `{data['content_hash']}`",
              f"- **Still matches the version now:** {'yes' if data['hash_still_matches'] else 'no'}",
              "", "## Checklist answers", "",
              "| Checklist | Item | Answer | Evidence | Link | File (SHA-256) | Reviewer comment |",
              "|---|---|---|---|---|---|---|"]
    for a in data["answers"]:
        file = f"{a['file']} ({a['file_sha256']})" if a["file"] else ""
        lines.append(f"| {_md(a['checklist'])} | {_md(a['text'])} (v{a['item_version']}) | {_md(a['answer'])} "
                     f"| {_md(a['evidence'])} | {_md(a['link'])} | {_md(file)} | {_md(a['comment'])} |")
    lines += ["", "## Decisions", ""]
    if data["decisions"]:
        lines += ["| When | Reviewer | Decision | Comment | Verdicts | Content hash |", "|---|---|---|---|---|---|"]
        lines += [f"| {d['when']} | {_md(d['reviewer'])} | {_md(d['decision'])} | {_md(d['comment'])} "
                  f"| {_md(d['verdicts'])} "
                  f"| `{d['hash']}`{'' if d['hash_matches'] else ' (differs from the submitted hash)'} |"
                  for d in data["decisions"]]
    else:
        lines.append("No decision yet.")
    lines += ["", "## Acknowledgement of responsibility", ""]
    lines.append(f"Acknowledged by {_md(data['acknowledged_by'])} at {data['acknowledged_at']}."
                 if data["acknowledged_by"] else "The accountable owner has not acknowledged this round.")
    lines += ["", "## Production gate overrides for this version", ""]
    if data["overrides"]:
        lines += [f"- {o['when']}, {_md(o['actor'])}: {_md(o['reason'])} (overrode: {_md(' '.join(o['problems']))})"
                  for o in data["overrides"]]
    else:
        lines.append("None.")
    lines += ["", "## Audit trail (this review and this version)", "",
              "| # | When | Actor | Action | Object | Changes | Reason | Hash |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {e['seq']} | {e['when']} | {_md(e['actor'])} | {_md(e['action'])} | {_md(e['object'])} "
              f"| {_md(e['changes'])} | {_md(e['reason'])} | `{e['hash'][:16]}` |" for e in data["audit"]]
    if data["audit_truncated"]:
        lines.append(f"\nOnly the first {AUDIT_LIMIT} events are listed; the full trail is in the portal.")
    return "\n".join(lines) + "\n"
