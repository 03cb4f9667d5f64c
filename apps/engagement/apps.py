from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EngagementConfig(AppConfig):
    name = "apps.engagement"
    label = "engagement"
    verbose_name = _("Tasks, sign-in and badges")

    def ready(self) -> None:
        # Task progress follows every stored batch of activity; segments gain "has badge" and "completed task";
        # what this app holds about a member joins the member's PIPL data export. Lower apps never import this one.
        from apps.core.activity import register_activity_batch_handler
        from apps.engagement import conditions, member_data, services  # noqa: F401

        register_activity_batch_handler(services.task_progress_decide, concerns=services.task_progress_concerns)
        member_data.register()

        # When duplicates merge, this app moves its own rows of the merged member to the survivor.
        from apps.engagement import merging

        merging.register()
        # Its timeline sources and profile sections join the customer profile that members renders.
        from apps.engagement import customer_profile

        customer_profile.register()
