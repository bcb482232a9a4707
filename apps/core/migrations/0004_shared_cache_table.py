from django.core.management import call_command
from django.db import migrations

# Fixed here rather than read from settings: the table must exist whatever CACHE_URL says today, so
# that switching back from Redis to the default needs no extra command.
CACHE_TABLE = "portal_cache"


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", CACHE_TABLE, database=schema_editor.connection.alias, verbosity=0)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    """The table of the default cache (throttle counters, login lockouts), shared by every process.

    Made by ``migrate`` so that every path that sets up the database (``make run``, docker-compose's
    migrate service, CI, tests) has it without a separate ``createcachetable``.
    """

    dependencies = [("core", "0003_audit_actor_protect")]

    operations = [migrations.RunPython(create_cache_table, drop_cache_table)]
