"""The production gate's overrides belong to the inventory, where the gate is; the table stays where it is."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("inventory", "0007_mlmodel_fairness_reference_groups"),
        ("reviews", "0004_single_line_text"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="GateOverride",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("reason", models.TextField()),
                        ("problems", models.JSONField(default=list)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("actor", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                                    to=settings.AUTH_USER_MODEL)),
                        ("version", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                      related_name="gate_overrides", to="inventory.modelversion")),
                    ],
                    options={"ordering": ["-created_at"], "db_table": "reviews_gateoverride"},
                ),
            ],
            database_operations=[],
        ),
    ]
