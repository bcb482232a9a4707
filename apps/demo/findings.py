"""Demo findings and incidents on the credit models (see ``apps.demo.compliance`` for their files).

- "Retail credit scoring" (the complete file): a validation finding raised, remediated by its owner and closed by
  a second reviewer, so SR 11-7's validation control shows a finding closed after remediation.
- "SME credit scoring" (a file with gaps): a high finding still open; its tier's policy holds the production gate
  on it, and the refusal links to the finding.
- "Credit card limit management": an open incident with its timeline, a red flag on the executive dashboard.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.findings import services
from apps.findings.models import Finding, Incident
from apps.inventory.models import MLModel, Stage

CLOSED = ("Retail credit scoring", "Calibration off for applicants over 70",
          "Observed default rates of applicants over 70 run 6 points above the predicted ones on the 2026 holdout.",
          "Recalibrated with isotonic regression per age band; added the age-band calibration test to validation.",
          "Re-ran the calibration test on the 2026 holdout: every age band within 1.5 points.")
OPEN = ("SME credit scoring", "Sole traders missing from the validation sample",
        "The validation sample has no sole traders, although Annex III (5) applies because the model will score "
        "them; its performance on them is unknown.")
INCIDENT = ("Credit card limit management", "Limits cut to zero for 312 cardholders",
            "A feature pipeline timed out and sent empty income fields; the model read them as zero income.",
            "312 cardholders had their credit limit cut to zero for about five hours; 41 card payments were declined.")


def _version(model: MLModel):
    return (model.versions.filter(stage=Stage.PRODUCTION).order_by("-created_at").first()
            or model.versions.exclude(stage=Stage.RETIRED).order_by("-created_at").first())


@transaction.atomic
def seed(*, stdout) -> None:
    people = {u.username: u for u in get_user_model().objects.filter(username__in=["reviewer", "reviewer2",
                                                                                    "scientist"])}
    reviewer, second, scientist = people["reviewer"], people["reviewer2"], people["scientist"]
    models = {m.name: m for m in MLModel.objects.filter(name__in=[CLOSED[0], OPEN[0], INCIDENT[0]])}
    today = timezone.localdate()
    made = 0
    name, title, description, remediation, note = CLOSED
    if name in models and not Finding.objects.filter(title=title).exists() and (version := _version(models[name])):
        finding = services.finding_raise(actor=reviewer, version=version, title=title, description=description,
                                         severity="medium", owner=scientist, due_date=today + timedelta(days=30))
        services.finding_transition(actor=scientist, finding=finding, status="remediating")
        services.finding_update(actor=scientist, finding=finding, remediation=remediation)
        services.finding_transition(actor=second, finding=finding, status="closed", note=note)
        made += 1
    name, title, description = OPEN
    if name in models and not Finding.objects.filter(title=title).exists() and (version := _version(models[name])):
        services.finding_raise(actor=reviewer, version=version, title=title, description=description,
                               severity="high", owner=scientist, due_date=today + timedelta(days=21),
                               remediation="Draw a validation sample of 2,000 sole traders from the 2025 book.")
        made += 1
    name, title, description, impact = INCIDENT
    if name in models and not Incident.objects.filter(title=title).exists():
        now = timezone.now().replace(microsecond=0)
        incident = services.incident_open(
            actor=reviewer, model=models[name], version=_version(models[name]), title=title, description=description,
            impact=impact, occurred_at=now - timedelta(days=2, hours=6), aware_at=now - timedelta(days=2, hours=1))
        services.incident_add_entry(actor=reviewer, incident=incident, at=now - timedelta(days=2),
                                    text="Automatic limit changes switched off; limits restored by hand.")
        services.incident_update(actor=reviewer, incident=incident, root_cause="The income feature's pipeline "
                                 "step returns nulls on timeout instead of failing, and the model imputes zero.")
        made += 1
    stdout.write(f"Findings demo: {made} findings and incidents recorded.")
