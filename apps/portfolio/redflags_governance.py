"""Red flags read from the stored governance state: each kind is a set of reason codes of ``ModelGovernance``.

Nothing here compares review, assessment or alert states: a model carries a flag when the stored reasons of its
governance state hold one of the kind's codes, and the flag says what the reason says and links where it links.
Every reason that makes a model non-compliant or suspended is a high flag of one of these kinds. A model is
non-compliant or suspended only for what runs in production, so the reasons of such a model are at that level;
the same code on a model that only needs attention (an owner who left a model in development, a re-assessment
overdue before production) is a medium flag, and an override of the gate, never more than attention, is medium.
"""

from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet

from apps.inventory import governance as g
from apps.inventory.filters import reason_condition
from apps.portfolio.redflags import MEDIUM, Source, register, severity_if

GRAVE = (g.NON_COMPLIANT, g.SUSPENDED)

SUSPENDED = "Approval suspended"
BREACH = "Metric in breach"
NEVER_EVALUATED = "Never evaluated in production"
MONITORING_OVERDUE = "Monitoring overdue"
UNAPPROVED = "In production without valid approval"
NOT_ASSESSED = "Never risk-assessed"
REASSESSMENT_REQUESTED = "Risk re-assessment requested"
ASSESSMENT_OVERDUE = "Re-assessment overdue"
OWNER_LEFT = "Owner has left"
OVERRIDDEN = "Production gate overridden"


class ReasonFlag(Source):
    """Models whose stored reasons hold one of ``codes``: one flag per model, worded by those reasons.

    With ``grave_only`` only models that are non-compliant or suspended carry it (the code means nothing
    to act on before production).
    """

    codes: tuple[str, ...] = ()
    grave_only = True
    severity = severity_if(Q(governance__status__in=GRAVE))
    related = ("governance",)

    def rows(self, models: QuerySet) -> QuerySet:
        rows = models.filter(reduce(or_, map(reason_condition, self.codes)))
        return rows.filter(governance__status__in=GRAVE) if self.grave_only else rows

    def reasons(self, model) -> list[dict]:
        return [r for r in model.governance.reasons if r["code"] in self.codes]

    def detail(self, model) -> str:
        return " ".join(r["message"] for r in self.reasons(model))

    def url(self, model) -> str:
        return next((r["url"] for r in self.reasons(model) if r.get("url")), model.get_absolute_url())


@register
class ApprovalSuspended(ReasonFlag):
    kind = SUSPENDED
    codes = ("approval_suspended",)


@register
class MetricInBreach(ReasonFlag):
    kind = BREACH
    codes = ("alert_breach",)


@register
class NeverEvaluated(ReasonFlag):
    kind = NEVER_EVALUATED
    codes = ("monitoring_never",)


@register
class MonitoringOverdue(ReasonFlag):
    kind = MONITORING_OVERDUE
    codes = ("monitoring_overdue",)


@register
class WithoutValidApproval(ReasonFlag):
    kind = UNAPPROVED
    codes = ("approval_missing", "approval_void", "approval_insufficient")


@register
class NeverAssessed(ReasonFlag):
    kind = NOT_ASSESSED
    codes = ("not_assessed",)


@register
class ReassessmentRequested(ReasonFlag):
    kind = REASSESSMENT_REQUESTED
    codes = ("reassessment_requested",)


@register
class AssessmentOverdue(ReasonFlag):
    kind = ASSESSMENT_OVERDUE
    codes = ("assessment_overdue",)
    grave_only = False


@register
class OwnerLeft(ReasonFlag):
    kind = OWNER_LEFT
    codes = ("owner_inactive",)
    grave_only = False


@register
class GateOverridden(ReasonFlag):
    kind = OVERRIDDEN
    codes = ("gate_overridden",)
    grave_only = False
    severity = MEDIUM
