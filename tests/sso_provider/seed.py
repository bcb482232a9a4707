"""Create the provider's tables, its people and the portal's client, from the environment.

SSO_PROVIDER_DB (SQLite file), SSO_PROVIDER_REDIRECT_URI (the portal's callback), SSO_CLIENT_ID,
SSO_CLIENT_SECRET. People: ``erin`` in ``portal-execs``, ``rita`` in ``portal-reviewers`` and ``staff``,
``nora`` only in ``staff`` (mapped to no portal role); every password is ``provider-pass``.
"""

import os

import django
from django.core.management import call_command

PASSWORD = "provider-pass"  # noqa: S105
PEOPLE = {"erin": ["portal-execs"], "rita": ["portal-reviewers", "staff"], "nora": ["staff"]}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.sso_provider.settings")
    django.setup()
    from django.contrib.auth.models import Group, User
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0)
    for username, groups in PEOPLE.items():
        user = User.objects.create_user(username, email=f"{username}@example.org", password=PASSWORD,
                                        first_name=username.title(), last_name="Tester")
        user.groups.set([Group.objects.get_or_create(name=name)[0] for name in groups])
    Application.objects.create(
        name="MLOps Portal", client_id=os.environ["SSO_CLIENT_ID"], client_secret=os.environ["SSO_CLIENT_SECRET"],
        client_type=Application.CLIENT_CONFIDENTIAL, authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=os.environ["SSO_PROVIDER_REDIRECT_URI"], algorithm=Application.RS256_ALGORITHM,
        post_logout_redirect_uris=os.environ.get("SSO_PROVIDER_POST_LOGOUT_URI", ""), skip_authorization=False)


if __name__ == "__main__":
    main()
