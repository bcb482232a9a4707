"""GateOverride now belongs to the inventory (its migration 0008 takes over the same table)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("reviews", "0004_single_line_text"),
        ("inventory", "0008_gateoverride_moves_to_inventory"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="GateOverride")],
            database_operations=[],
        ),
    ]
