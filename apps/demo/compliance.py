"""Demo classifications: high-risk credit models under Annex III (5), one with a complete file and two with gaps,
and a fraud model outside Annex III (it excludes fraud detection from the credit area).

"Retail credit scoring" is the complete file: the inventory and risk seeds assessed, approved and deployed it;
here it also gets its production monitoring (the monitoring seed covers only the first few models by name), so
every control that applies to it is satisfied. "SME credit scoring" (no approval, its owner left) and "Credit card
limit management" (fully automated, runs outside its validated environment, never monitored) show the gaps.
"""

from django.contrib.auth import get_user_model
from django.db import transaction

from apps.compliance.services import classification_save
from apps.demo import monitoring
from apps.inventory.models import MLModel, Stage
from apps.monitoring.models import Evaluation
from apps.risk.selectors import obligations_for

CREDIT = ("high_risk", "essential_services", "provider")
CLASSIFICATIONS = {
    "Retail credit scoring": (*CREDIT, "Annex III (5): it evaluates the creditworthiness of natural persons "
                                       "applying for consumer loans. We build and run it, so we are its provider."),
    "SME credit scoring": (*CREDIT, "Annex III (5) once it scores sole traders, who are natural persons; classified "
                                    "high-risk now, before it is approved."),
    "Credit card limit management": (*CREDIT, "Annex III (5): changing a cardholder's credit limit rests on their "
                                              "creditworthiness."),
    "Card payment fraud detection": ("minimal", "none", "provider",
                                     "Annex III (5)(b) excludes systems used to detect financial fraud."),
}
COMPLETE_FILE = "Retail credit scoring"


def _monitor(model: MLModel, stdout) -> None:
    version = model.versions.filter(stage=Stage.PRODUCTION).first()
    if version is None or Evaluation.objects.filter(version=version).exists():
        return
    family = monitoring.family_of(version)
    if family is None:
        return
    policy = obligations_for(model).policy
    cadence = policy.monitoring_cadence if policy else "monthly"
    monitoring.seed_model(version, family, scenario="stable", cadence=cadence)
    stdout.write(f"Compliance demo: monitored {version} ({cadence}) for a complete file.")


@transaction.atomic
def seed(*, stdout) -> None:
    reviewer = get_user_model().objects.get(username="reviewer")
    models = {m.name: m for m in MLModel.objects.filter(name__in=CLASSIFICATIONS)}
    for name, (category, area, role, rationale) in CLASSIFICATIONS.items():
        model = models.get(name)
        if model is None:
            continue
        classification_save(actor=reviewer, model=model, eu_category=category, annex_iii_area=area, role=role,
                            rationale=rationale)
    if COMPLETE_FILE in models:
        _monitor(models[COMPLETE_FILE], stdout)
    stdout.write(f"Compliance demo: {len(models)} models classified.")
