from django.conf import settings
from django.db import migrations, models


def members_from_model_owners(apps, schema_editor):
    """Whoever registered a team's models becomes its member, so they keep working on that team's models.

    Owners are not made members: they keep changing the models they own (``can_write_model``) without
    gaining every other model of the team.
    """
    MLModel = apps.get_model("inventory", "MLModel")
    Membership = apps.get_model("inventory", "Team").members.through
    pairs = set(MLModel.objects.filter(created_by__isnull=False).values_list("team_id", "created_by_id"))
    Membership.objects.bulk_create([Membership(team_id=team, user_id=user) for team, user in sorted(pairs)])


class Migration(migrations.Migration):

    dependencies = [
        ("inventory", "0003_model_name_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="team",
            name="members",
            field=models.ManyToManyField(blank=True, related_name="teams", to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(members_from_model_owners, migrations.RunPython.noop),
    ]
