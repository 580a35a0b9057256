import factory
from django.utils import timezone as dj_timezone

from audit import Actor
from gateway_console.models import Membership, Org, Role, Team, User
from keys import services
from keys.services import KeySettings

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrgFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Org

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    timezone = "UTC"
    # Off in the factory: the tests of other features sign owners in without a second factor.
    # A new org's default (on) is tested in tests/accounts.
    require_two_factor = False
    created_at = factory.LazyFunction(dj_timezone.now)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    org = factory.SubFactory(OrgFactory)
    name = factory.Sequence(lambda n: f"Team {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    org = factory.SubFactory(OrgFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ADMIN


def make_key(org: Org, *, actor: Actor | None = None, **fields):
    """A key made the way the console makes keys; returns (key, plaintext)."""
    fields.setdefault("name", "test-key")
    return services.create_key(
        org=org, actor=actor or Actor.system("tests"), settings_=KeySettings(**fields)
    )
