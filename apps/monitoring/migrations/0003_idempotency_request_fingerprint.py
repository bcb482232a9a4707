from django.db import migrations, models


def fingerprint_existing_keys(apps, schema_editor):
    """Keys stored before the fingerprint stood for the file and the version only: a replay is judged on those."""
    Evaluation = apps.get_model("monitoring", "Evaluation")
    for evaluation in Evaluation.objects.exclude(idempotency_key="").only("pk", "version_id", "sha256").iterator():
        Evaluation.objects.filter(pk=evaluation.pk).update(
            idempotency_request={"version": evaluation.version_id, "sha256": evaluation.sha256})


class Migration(migrations.Migration):

    dependencies = [
        ("monitoring", "0002_evaluation_heartbeat_and_worker"),
    ]

    operations = [
        migrations.AddField(
            model_name="evaluation",
            name="idempotency_request",
            field=models.JSONField(blank=True, default=dict, help_text="What the key stands for: the file's SHA-256 "
                                   "and every upload option. A replay must match it."),
        ),
        migrations.AlterField(
            model_name="evaluation",
            name="idempotency_key",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.RunPython(fingerprint_existing_keys, migrations.RunPython.noop),
    ]
