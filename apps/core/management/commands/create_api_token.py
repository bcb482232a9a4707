from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import DomainError
from apps.core.services import api_token_issue


class Command(BaseCommand):
    help = ("Create an API token for USERNAME and print its key, once: only a hash is stored, so copy it now. "
            "Use it as 'Authorization: Token <key>'. It expires after PORTAL_API_TOKEN_DAYS days.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What the token is for, shown beside it (e.g. 'CI uploads').")
        parser.add_argument("--rotate", action="store_true", help="Revoke the user's other tokens first.")

    def handle(self, *args, username, name, rotate, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}. Create the user first (e.g. createsuperuser).")
        try:
            issued = api_token_issue(user=user, name=name or "created with create_api_token", rotate=rotate)
        except DomainError as error:
            raise CommandError(error.message) from None
        self.stdout.write(issued.key)
