from django.conf import settings
from django.db import migrations, models


def members_from_model_owners(apps, schema_editor):
    """Whoever owns or registered a team's models becomes its member, so they keep changing them."""
    MLModel = apps.get_model("inventory", "MLModel")
    Membership = apps.get_model("inventory", "Team").members.through
    pairs = set()
    for model in MLModel.objects.prefetch_related("technical_owners"):
        people = {model.accountable_owner_id, model.created_by_id, *(u.pk for u in model.technical_owners.all())}
        pairs.update((model.team_id, person) for person in people if person is not None)
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
