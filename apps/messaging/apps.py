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

        from apps.messaging.providers import register_provider
        from apps.messaging.wechat import MiniProgramBackend, OfficialAccountBackend
        from apps.messaging.wecom import WeComBackend

        for provider in (OfficialAccountBackend, MiniProgramBackend, WeComBackend):
            register_provider(provider)

        # When duplicates merge, this app moves its own rows of the merged member to the survivor.
        from apps.messaging import merging

        merging.register()
        # Its timeline sources and profile sections join the customer profile that members renders.
        from apps.messaging import customer_profile

        customer_profile.register()
