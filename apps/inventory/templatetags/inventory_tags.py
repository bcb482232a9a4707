"""Badges, sortable column headers and JSON display for the inventory pages."""

import json

from django import template
from django.core.exceptions import ObjectDoesNotExist
from django.utils.html import format_html

from apps.inventory.governance import (
    COMPLIANT,
    FIX_ACCEPTANCE,
    FIX_ASSESSMENT,
    FIX_DEPLOYMENTS,
    FIX_FINDING,
    FIX_INCIDENT,
    FIX_MONITORING,
    FIX_REVIEW,
    STATUS_LABELS,
)
from apps.inventory.models import Exposure, Stage

register = template.Library()


@register.simple_tag
def stage_badge(stage: str):
    label = Stage(stage).label if stage in Stage.values else stage
    return format_html('<span class="stage-badge stage-{}">{}</span>', stage, label)


@register.simple_tag
def exposure_badge(exposure: str):
    label = Exposure(exposure).label if exposure in Exposure.values else exposure
    return format_html('<span class="exposure-badge exposure-{}">{}</span>', exposure, label)


@register.inclusion_tag("inventory/partials/sort_header.html", takes_context=True)
def sort_header(context, label: str, key: str, target: str = ""):
    """A column header that sorts by ``key``; clicking the sorted column again reverses it."""
    current = context["request"].GET.get("sort", "")
    direction = "ascending" if current == key else "descending" if current == f"-{key}" else ""
    return {
        "request": context["request"],
        "label": label,
        "next_sort": f"-{key}" if current == key else key,
        "direction": direction,
        "target": target,
    }


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def user_label(user) -> str:
    if user is None:
        return "—"
    name = user.get_full_name()
    return f"{name} ({user.get_username()})" if name else user.get_username()


FIX_STEPS = {FIX_ASSESSMENT: "Assess the risk", FIX_REVIEW: "Open or continue a review",
             FIX_MONITORING: "Go to monitoring", FIX_ACCEPTANCE: "Re-approve or accept the risk",
             FIX_DEPLOYMENTS: "Check the deployments", FIX_FINDING: "Open the finding",
             FIX_INCIDENT: "Open the incident"}


@register.filter
def fix_step(fix: str) -> str:
    """The step a stored reason's fix link leads to, as a link's words."""
    return FIX_STEPS.get(fix, "Open the model")


@register.simple_tag
def governance_badge(state):
    """The stored governance status of a model or version (``ModelGovernance`` / ``VersionGovernance``)."""
    return status_badge(state.status if state is not None else "")


@register.simple_tag
def status_badge(status: str):
    """A governance status (``apps.inventory.governance.STATUSES``), e.g. the worst of a rollup."""
    if status not in STATUS_LABELS:
        return format_html('<span class="gov-badge gov-unknown">{}</span>', "Not computed yet")
    return format_html('<span class="gov-badge gov-{}">{}</span>', status, STATUS_LABELS[status])


@register.filter
def leading_reason(state) -> dict | None:
    """The first stored reason at the state's own level: the one that makes it what it is (None when compliant:
    a reason at that level only holds the gate, which the version page says)."""
    if state is None or state.status == COMPLIANT:
        return None
    return next((reason for reason in state.reasons if reason.get("level") == state.status), None)


@register.simple_tag
def health_badge(state):
    if state is None:
        return ""
    return format_html('<span class="gov-badge health-{}">{}</span>', state.health, state.health_label)


@register.filter
def governance_of(obj):
    """``model|governance_of``: the stored state, or None before its first computation."""
    try:
        return obj.governance
    except ObjectDoesNotExist:
        return None
