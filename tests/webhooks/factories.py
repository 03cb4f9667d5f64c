import factory

from apps.core.outbox import EventType
from apps.webhooks.models import WebhookEndpoint, generate_secret


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    """An active endpoint subscribed to every event type, pointing at a local receiver unless told otherwise."""

    class Meta:
        model = WebhookEndpoint

    name = factory.Sequence(lambda n: f"crm-{n}")
    url = "http://127.0.0.1:9/unused"
    secret = factory.LazyFunction(generate_secret)
    event_types = factory.LazyFunction(lambda: list(EventType.values))
    is_active = True

    @classmethod
    def _create(cls, model_class: type, *args: object, **kwargs: object) -> WebhookEndpoint:
        from apps.core.outbox import outbox_subscriptions_changed

        endpoint = super()._create(model_class, *args, **kwargs)
        outbox_subscriptions_changed()
        return endpoint
