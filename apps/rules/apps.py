from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RulesConfig(AppConfig):
    name = "apps.rules"
    label = "rules"
    verbose_name = _("Earning rules")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The rules run where activities are stored: every batch of the ingest, and every event our services announce.
        from apps.core.activity import register_activity_batch_handler
        from apps.rules.services import rules_apply, rules_concern

        register_activity_batch_handler(rules_apply, concerns=rules_concern)

        # When duplicates merge, this app moves its own rows of the merged member to the survivor.
        from apps.rules import merging

        merging.register()
        # Its timeline sources and profile sections join the customer profile that members renders.
        from apps.rules import customer_profile

        customer_profile.register()
