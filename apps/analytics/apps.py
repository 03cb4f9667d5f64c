from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "apps.analytics"
    label = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        # Segment conditions (RFM segment, last activity) join the campaigns' registry, and our services become
        # the recorder of activity that other apps announce through apps.core.activity: campaigns, benefits and
        # events never import analytics.
        from apps.analytics import conditions, services  # noqa: F401
        from apps.core.activity import register_activity_batch_recorder, register_activity_recorder
        from apps.core.partitions import register_partitioned_table

        # Monthly partitions on PostgreSQL (migration 0007); kept for ever unless a retention is set for the table.
        register_partitioned_table("analytics_activityevent")
        register_activity_recorder(services.activity_record_announced)
        register_activity_batch_recorder(services.activities_record)

        from apps.analytics import member_data

        member_data.register()

        from apps.analytics import clubs

        clubs.register()
        from apps.analytics import tier_metrics

        tier_metrics.register()

        # When duplicates merge, this app moves its own rows of the merged member to the survivor.
        from apps.analytics import merging

        merging.register()
        # Its timeline sources and profile sections join the customer profile that members renders.
        from apps.analytics import customer_profile

        customer_profile.register()
