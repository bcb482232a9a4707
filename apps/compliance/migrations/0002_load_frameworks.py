"""Load the first published version of each framework (the EU AI Act, NIST AI RMF, ISO/IEC 42001, SR 11-7)."""

from django.db import migrations
from django.utils import timezone

from apps.compliance.catalogue_2026_12 import FRAMEWORKS


def load(apps, schema_editor):
    Framework = apps.get_model("compliance", "Framework")
    FrameworkVersion = apps.get_model("compliance", "FrameworkVersion")
    Control = apps.get_model("compliance", "Control")
    now = timezone.now()
    for data in FRAMEWORKS:
        framework, _ = Framework.objects.get_or_create(
            code=data["code"], defaults={"name": data["name"], "description": data["description"],
                                         "order": data["order"]})
        version, created = FrameworkVersion.objects.get_or_create(
            framework=framework, version=data["version"],
            defaults={"source": data["source"], "status": "published", "published_at": now})
        if not created:
            continue
        Control.objects.bulk_create(
            Control(framework_version=version, code=code, reference=reference, title=title, summary=summary,
                    evidence=evidence, eu_categories=rule.get("eu", []), roles=rule.get("roles", []),
                    tiers=rule.get("tiers", []), order=order)
            for order, (code, reference, title, summary, evidence, rule) in enumerate(data["controls"]))


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
