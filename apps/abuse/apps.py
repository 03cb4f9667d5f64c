from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AbuseConfig(AppConfig):
    name = "apps.abuse"
    label = "abuse"
    verbose_name = _("Abuse control")

    def ready(self) -> None:
        # Velocity limits and the blocklist screen every batch of awards before the payer (earning rules, tasks) pays:
        # the payer asks apps.core.awards, and never imports this app.
        from apps.abuse.screen import abuse_screen
        from apps.core.awards import register_award_screen

        register_award_screen(abuse_screen)

        # Before a batch of activity is stored, its velocity scopes are locked, so racing batches count each other.
        from apps.abuse.screen import velocity_scopes_lock
        from apps.core.activity import register_activity_batch_guard

        register_activity_batch_guard(velocity_scopes_lock)

        # What abuse control holds about a member joins the member's PIPL data export.
        from apps.abuse import member_data

        member_data.register()

        # When duplicates merge, this app moves its own rows of the merged member to the survivor.
        from apps.abuse import merging

        merging.register()
