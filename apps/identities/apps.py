from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IdentitiesConfig(AppConfig):
    name = "apps.identities"
    label = "identities"
    verbose_name = _("Channel identities")

    def ready(self) -> None:
        # A member's channel identities join the PIPL data export and are erased by anonymisation.
        from apps.identities import member_data

        member_data.register()

        # When duplicates merge, this app moves its own rows of the merged member to the survivor.
        from apps.identities import merging

        merging.register()
