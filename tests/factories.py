import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from apps.core.models import ApiToken, hash_api_key, new_api_key
from apps.core.roles import Role

PASSWORD = "test-pass-123!"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or PASSWORD)
        if create:
            self.save(update_fields=["password"])

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        for role in extracted or ():
            self.groups.add(Group.objects.get(name=Role(role).value))
            if Role(role) is Role.ADMIN and create:
                self.is_staff = True
                self.save(update_fields=["is_staff"])




def api_key_for(user, **fields) -> str:
    """A working API key for ``user``: a token row written directly, as test data (no audit event).

    Marked as used just now, so a test's first request costs the queries of every later one, not the
    write that records a token's use every few minutes (``services.api_token_mark_used``).
    """
    key = new_api_key()
    fields = {"last_used_at": timezone.now(), **fields}
    ApiToken.objects.create(user=user, key_hash=hash_api_key(key), prefix=key[: ApiToken.PREFIX_LENGTH], **fields)
    return key
