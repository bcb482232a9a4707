"""Demo users: one log-in per role, all with ``settings.PORTAL_DEMO_PASSWORD``."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from apps.core.roles import Role
from apps.core.services import audit_record


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    role: Role


DEMO_USERS = (
    DemoUser("executive", "Erin", "Exec", Role.EXECUTIVE),
    DemoUser("reviewer", "Rita", "Review", Role.REVIEWER),
    DemoUser("reviewer2", "Ravi", "Second", Role.REVIEWER),
    DemoUser("scientist", "Sam", "Science", Role.DATA_SCIENTIST),
    DemoUser("admin", "Ada", "Admin", Role.ADMIN),
)


@transaction.atomic
def seed_users() -> list[str]:
    """Create (or repair) the demo users; returns the usernames created this time."""
    user_model = get_user_model()
    created = []
    for demo in DEMO_USERS:
        user, was_created = user_model.objects.get_or_create(
            username=demo.username,
            defaults={
                "first_name": demo.first_name,
                "last_name": demo.last_name,
                "email": f"{demo.username}@example.org",
                "is_staff": demo.role is Role.ADMIN,
            },
        )
        if was_created:
            user.set_password(settings.PORTAL_DEMO_PASSWORD)
            user.save(update_fields=["password"])
            created.append(user.username)
        user.groups.add(Group.objects.get(name=demo.role.value))
        if was_created:
            audit_record(
                actor=None,
                action="user.created",
                obj=user,
                changes={"username": [None, user.username], "role": [None, demo.role.value]},
                reason="seed_demo",
            )
    return created
