from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self) -> None:
        # The outbox records an event only when an active endpoint subscribes to its type.
        from apps.core.outbox import register_subscription_source
        from apps.webhooks.selectors import subscribed_event_types

        register_subscription_source(subscribed_event_types)
