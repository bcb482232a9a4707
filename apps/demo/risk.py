"""Demo risk assessments: a realistic history for every demo model, some overdue.

Ratings follow each model's facts (exposure, automation, regulated domain read
from its tags), with a deterministic jitter per model so the register and the
heat map have variety. ``apps.demo.inventory`` calls ``assess_model`` before a
version goes live (the production gate demands a current assessment); ``seed``
then assesses the rest, leaving a few never assessed and a few overdue.
"""

import random
import zlib
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.inventory.models import MLModel, Stage
from apps.risk import services
from apps.risk.models import RiskAssessment
from apps.risk.scoring import RISKS

REGULATED_TAGS = {"credit": "credit", "lending": "credit", "insurance": "insurance", "hiring": "hiring",
                  "hr": "hiring", "health": "health", "clinical": "health", "education": "education"}
MITIGATIONS = {
    "unavailable": "Fallback rules engine and on-call rota",
    "wrong_prediction": "Human review of low-confidence cases",
    "degradation": "Weekly drift and fairness monitoring with alerts",
    "skills_loss": "Pair two maintainers and keep the model card current",
}


def _ratings(model: MLModel, rng: random.Random, worsen: int = 0) -> dict:
    base = 2 + (model.exposure != "internal") + (model.automation_level == "fully_automated")
    values = {}
    for key in RISKS:
        probability = max(1, min(5, rng.choice([1, 2, 2, 3, 3, 4]) + (worsen if key == "degradation" else 0)))
        impact = max(1, min(5, base + rng.choice([-1, 0, 0, 1])))
        values[key] = {"probability": probability, "impact": impact,
                       "rationale": f"{RISKS[key][0]} for {model.name}: rated from its exposure and history.",
                       "mitigations": [{"action": MITIGATIONS[key], "owner": model.accountable_owner,
                                        "due_date": timezone.localdate() + timedelta(days=rng.randint(10, 120)),
                                        "status": rng.choice(["open", "in_progress", "done"])}]}
    return values


def _domain(model: MLModel) -> str:
    for tag in model.tags.all():
        if tag.name in REGULATED_TAGS:
            return REGULATED_TAGS[tag.name]
    return "none"


def assess_model(model: MLModel, *, rounds: int = 2, overdue: bool = False) -> RiskAssessment:
    """Give ``model`` ``rounds`` assessments, the last one recent (or, with ``overdue``, long past due)."""
    rng = random.Random(model.slug)
    now = timezone.now()
    offset = 400 if overdue else 0
    previous = RiskAssessment.objects.filter(model=model, status=RiskAssessment.Status.CURRENT).first()
    for round_no in range(rounds):
        last = round_no == rounds - 1
        days_ago = offset + (rng.randint(5, 60) if last else (rounds - round_no) * 150)
        draft = services.assessment_save_draft(
            actor=None, model=model, ratings=_ratings(model, rng, worsen=round_no),
            exposure=model.exposure, automation_level=model.automation_level,
            personal_data=model.task_type != "regression", people_affected=rng.choice([500, 20_000, 250_000]),
            regulated_domain=_domain(model), summary=f"Round {round_no + 1} assessment of {model.name}.")
        previous = services.assessment_submit(actor=None, assessment=draft,
                                              based_on_id=previous.pk if previous else None,
                                              at=now - timedelta(days=days_ago))
    return previous


@transaction.atomic
def seed(*, stdout) -> None:
    """Assess every live model not assessed yet; about one in nine stays unassessed, one in five is overdue."""
    created = 0
    assessed = set(RiskAssessment.objects.values_list("model_id", flat=True))
    models = (MLModel.objects.exclude(stage=Stage.RETIRED).exclude(pk__in=assessed)
              .select_related("accountable_owner").prefetch_related("tags").order_by("pk"))
    for model in models:
        # Chosen by a hash of the slug, so a second run makes the same choices (and adds nothing).
        pick = zlib.crc32(model.slug.encode())
        if pick % 9 == 8:
            continue  # a few models were never assessed: visible gaps
        assess_model(model, rounds=1 + pick % 3, overdue=pick % 5 == 0)
        created += 1
    stdout.write(f"Risk demo: {RiskAssessment.objects.exclude(status='draft').count()} assessments "
                 f"({created} models assessed now).")
