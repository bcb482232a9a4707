"""Re-stamp frozen content hashes now that they also attest framework, validation metrics and environment.

Without it every existing approval would stop matching and the production gate would refuse versions
nobody changed. Only a hash that still matches the old payload is re-stamped (with the values as they
are now); a stale one stays stale. Both payloads are frozen copies: later changes to
``apps.reviews.services.content_hash`` must not change what this migration did.
"""

import hashlib
import json

from django.db import migrations

OLD_FIELDS = ("artifact_uri", "artifact_sha256", "algorithm", "hyperparameters")
NEW_FIELDS = (*OLD_FIELDS, "framework", "validation_metrics", "validated_environment")


def _digest(version, answers, fields) -> str:
    payload = {
        "version_id": version.pk,
        "version": version.version,
        **{name: getattr(version, name) for name in fields},
        "training_datasets": sorted([d.pk, d.version, d.content_sha256] for d in version.training_datasets.all()),
        "answers": sorted([a.item_id, a.answer, a.evidence, a.evidence_link, a.evidence_sha256] for a in answers),
    }
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def rehash(apps, schema_editor):
    review_model = apps.get_model("reviews", "Review")
    decision_model = apps.get_model("reviews", "ReviewDecision")
    for review in review_model.objects.exclude(content_hash="").select_related("version").iterator():
        answers = list(review.answers.all())
        if _digest(review.version, answers, OLD_FIELDS) != review.content_hash:
            continue
        new = _digest(review.version, answers, NEW_FIELDS)
        decision_model.objects.filter(review=review, content_hash=review.content_hash).update(content_hash=new)
        review_model.objects.filter(pk=review.pk).update(content_hash=new)


class Migration(migrations.Migration):

    dependencies = [
        ("reviews", "0002_checklist_items"),
        ("inventory", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(rehash, migrations.RunPython.noop),
    ]
