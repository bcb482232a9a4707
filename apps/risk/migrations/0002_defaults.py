from django.db import migrations


def seed(apps, schema_editor):
    from apps.risk.defaults import DEFAULT_MATRIX, DEFAULT_POLICIES

    RiskMatrix = apps.get_model("risk", "RiskMatrix")
    GovernancePolicy = apps.get_model("risk", "GovernancePolicy")
    if not RiskMatrix.objects.exists():
        RiskMatrix.objects.create(version=1, config=DEFAULT_MATRIX, note="Default: 1-4 low, 5-9 medium, 10-16 high, 20-25 critical.")
    for tier, values in DEFAULT_POLICIES.items():
        if not GovernancePolicy.objects.filter(tier=tier).exists():
            GovernancePolicy.objects.create(tier=tier, version=1, note="Default policy.", **values)


class Migration(migrations.Migration):
    """Matrix v1 and one policy per tier, so the portal scores risk from the first start."""

    dependencies = [("risk", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
