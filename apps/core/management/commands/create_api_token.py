from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.core.services import api_token_issue


class Command(BaseCommand):
    help = "Print the API token of USERNAME (creating it if needed). Use it as 'Authorization: Token <key>'."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="Replace the existing token with a new one.")

    def handle(self, *args, username, rotate, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}. Create the user first (e.g. createsuperuser).")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive; an inactive user cannot use the API.")
        token = api_token_issue(user=user, rotate=rotate)
        self.stdout.write(token.key)
