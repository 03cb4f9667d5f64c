from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BenefitsConfig(AppConfig):
    name = "apps.benefits"
    label = "benefits"
    verbose_name = _("Benefits")

    def ready(self) -> None:
        # What this app holds about a member joins the member's PIPL data export.
        from apps.benefits import member_data

        member_data.register()

        # When duplicates merge, this app moves its own rows of the merged member to the survivor.
        from apps.benefits import merging

        merging.register()
        # Its timeline sources and profile sections join the customer profile that members renders.
        from apps.benefits import customer_profile

        customer_profile.register()
