"""Publish the second mapping of each framework: findings and incidents became evidence of some controls.

Each framework's published version is copied into a new version (``catalogue_2026_12_findings.LABEL``), the
evidence kinds of ``ADDED_EVIDENCE`` are added to its controls, the copy is published and the first retired, as
``framework_version_publish`` does; the first mapping's controls stay as they were.
"""

from django.db import migrations
from django.utils import timezone

from apps.compliance.catalogue_2026_12_findings import ADDED_EVIDENCE, LABEL

CONTROL_FIELDS = ("code", "title", "summary", "reference", "evidence", "eu_categories", "roles", "tiers", "order")


def publish_mapping_2(apps, schema_editor):
    FrameworkVersion = apps.get_model("compliance", "FrameworkVersion")
    Control = apps.get_model("compliance", "Control")
    now = timezone.now()
    for code, added in ADDED_EVIDENCE.items():
        old = FrameworkVersion.objects.filter(framework__code=code, status="published").first()
        if old is None:
            continue
        label = LABEL.format(version=old.version)
        if FrameworkVersion.objects.filter(framework_id=old.framework_id, version=label).exists():
            continue
        old.status = "retired"
        old.save(update_fields=["status", "updated_at"])
        new = FrameworkVersion.objects.create(framework_id=old.framework_id, version=label, source=old.source,
                                              status="published", published_at=now)
        controls = []
        for control in Control.objects.filter(framework_version=old).order_by("order", "code"):
            values = {name: getattr(control, name) for name in CONTROL_FIELDS}
            values["evidence"] = list(values["evidence"]) + [
                kind for kind in added.get(control.code, []) if kind not in values["evidence"]]
            controls.append(Control(framework_version=new, **values))
        Control.objects.bulk_create(controls)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0006_finding_controls")]
    operations = [migrations.RunPython(publish_mapping_2, migrations.RunPython.noop)]
