from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.core import sealing
from apps.core.services import audit_record
from apps.integrations.models import MlflowServer
from apps.notifications.models import WebhookSubscription

# Every stored secret: (model, field). Both are written by services that seal them.
SEALED_FIELDS = [(MlflowServer, "credential"), (WebhookSubscription, "secret")]


class Command(BaseCommand):
    help = ("Seal every stored secret (MLflow credentials, webhook signing secrets) again under the current key: "
            "run it after rotating DJANGO_SECRET_KEY or PORTAL_SEALING_KEYS, then drop the old key.")

    def handle(self, *args, **options):
        resealed = 0
        try:
            with transaction.atomic():
                for model, field in SEALED_FIELDS:
                    for row in model.objects.select_for_update().exclude(**{field: ""}).order_by("pk"):
                        setattr(row, field, sealing.reseal(getattr(row, field)))
                        row.save(update_fields=[field])
                        resealed += 1
                audit_record(actor=None, action="secrets.resealed", object_type="core.sealing", object_id="all",
                             changes={"secrets": [None, resealed]})
        except sealing.SealError as exc:
            raise CommandError(f"Nothing was changed. {exc}") from exc
        self.stdout.write(f"Sealed {resealed} stored secret{'s' * (resealed != 1)} under the current key.")
