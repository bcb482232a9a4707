from django.db import migrations


def create_roles(apps, schema_editor):
    from apps.core.roles import sync_role_permissions

    sync_role_permissions(apps)


def remove_roles(apps, schema_editor):
    from apps.core.roles import Role

    apps.get_model("auth", "Group").objects.filter(name__in=[r.value for r in Role]).delete()


class Migration(migrations.Migration):
    """The four role groups. Their permissions are re-synced after every migrate (see CoreConfig)."""

    dependencies = [
        ("core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
