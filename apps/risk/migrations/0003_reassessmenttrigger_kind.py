from django.db import migrations, models

# The reason apps.risk.apps wrote for a change of the model's use, before triggers had a kind.
CONTEXT_REASON_SUFFIX = " changed; re-assess the risk."


def mark_context_changes(apps, schema_editor):
    """Open triggers raised by a change of the model's use now hold the production gate, as new ones do."""
    trigger = apps.get_model("risk", "ReassessmentTrigger")
    trigger.objects.filter(reason__endswith=CONTEXT_REASON_SUFFIX).update(kind="context_changed")


class Migration(migrations.Migration):

    dependencies = [
        ("risk", "0002_defaults"),
    ]

    operations = [
        migrations.AddField(
            model_name="reassessmenttrigger",
            name="kind",
            field=models.CharField(choices=[("context_changed", "The model's use changed"), ("other", "Other")],
                                   default="other", max_length=20),
        ),
        migrations.RunPython(mark_context_changes, migrations.RunPython.noop),
    ]
