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
from apps.demo.catalogue import CLASSIFICATIONS
from apps.inventory.models import MLModel, Stage
from apps.monitoring.models import Evaluation
from apps.risk.selectors import obligations_for

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
