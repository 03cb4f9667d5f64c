from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "apps.messaging"
    label = "messaging"
    verbose_name = _("Messages")

    def ready(self) -> None:
        # What this app holds about a member joins the member's PIPL data export.
        from apps.messaging import checks, member_data  # noqa: F401 - checks registers the provider check

        member_data.register()
