import factory
from django.contrib.auth.models import Group

from apps.core.models import ApiClient, ApiScope, User, hash_secret


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@userops.example")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        if extracted:
            self.groups.add(Group.objects.get(name=extracted))
        self.save()


class ApiClientFactory(factory.django.DjangoModelFactory):
    """``client.raw_key`` holds the plain key for the test to send."""

    class Meta:
        model = ApiClient

    name = factory.Sequence(lambda n: f"client-{n}")
    key_prefix = factory.Sequence(lambda n: f"{n:08x}")
    raw_key = factory.LazyAttribute(lambda client: f"{client.key_prefix}.secret-{client.name}")
    key_hash = factory.LazyAttribute(lambda client: hash_secret(client.raw_key))
    scopes = factory.LazyFunction(lambda: list(ApiScope.values))

    @classmethod
    def _create(cls, model_class: type, *args: object, **kwargs: object) -> ApiClient:
        raw_key = kwargs.pop("raw_key")
        client = super()._create(model_class, *args, **kwargs)
        client.raw_key = raw_key
        return client
