import hashlib
from datetime import UTC, timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone

DRF_TABLE = "authtoken_token"


def hash_drf_tokens(apps, schema_editor):
    """Keep every DRF token working as an ``ApiToken`` (SHA-256 of the same key), then drop DRF's table.

    The plain keys must not outlive this migration: anyone who could read that table could act as
    every user. Each moved token expires like a new one, counted from now. A database that never had
    ``rest_framework.authtoken`` has no table and nothing to move.
    """
    connection = schema_editor.connection
    if DRF_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("core", "ApiToken")
    days = settings.PORTAL_API_TOKEN_DAYS
    expires_at = timezone.now() + timedelta(days=days) if days > 0 else None
    with connection.cursor() as cursor:
        cursor.execute('SELECT "key", "user_id", "created" FROM "authtoken_token"')
        rows = cursor.fetchall()
        for key, user_id, created in rows:
            # SQLite hands back the naive UTC value Django stored.
            created = timezone.make_aware(created, UTC) if timezone.is_naive(created) else created
            ApiToken.objects.create(user_id=user_id, key_hash=hashlib.sha256(key.encode()).hexdigest(),
                                    prefix=key[:8], name="moved from the previous token store",
                                    created_at=created, expires_at=expires_at)
        cursor.execute('DROP TABLE "authtoken_token"')


class Migration(migrations.Migration):
    """API tokens were DRF's, stored in plain text; from here on only their hashes are stored.

    Not reversible: the keys cannot be recovered from their hashes.
    """

    dependencies = [("core", "0005_api_token")]

    operations = [migrations.RunPython(hash_drf_tokens, migrations.RunPython.noop)]
