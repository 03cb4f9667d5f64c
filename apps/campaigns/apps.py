from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "apps.campaigns"
    label = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        # What this app holds about a member joins the member's PIPL data export.
        from apps.campaigns import member_data

        member_data.register()

        # Conditions on owned products and dealers (sales sits below campaigns, so they are declared here).
        from apps.campaigns import ownership_conditions  # noqa: F401

        # A member's first purchase may qualify the referral that brought them (after the purchase earned its points).
        # Its referrer is locked with the store's other members, in one ordered statement, before any reaction pays.
        from apps.campaigns.services import referral_qualify_on_first_purchase, referrers_paid_on_first_purchase
        from apps.core.activity import register_activity_handler, register_activity_paid_members

        register_activity_handler("purchase", referral_qualify_on_first_purchase)
        register_activity_paid_members(referrers_paid_on_first_purchase)

        # When duplicates merge, this app moves its own rows of the merged member to the survivor.
        from apps.campaigns import merging

        merging.register()
        # Its timeline sources and profile sections join the customer profile that members renders.
        from apps.campaigns import customer_profile

        customer_profile.register()
