from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class JourneysConfig(AppConfig):
    name = "apps.journeys"
    label = "journeys"
    verbose_name = _("Journeys")

    def ready(self) -> None:
        from apps.journeys import selectors, services
        from apps.journeys.models import StepRun
        from apps.members.merging import register_member_merger
        from apps.members.personal_data import register_member_data_section
        from apps.members.timeline import register_timeline_source, restrict_timeline_source

        # A member's journey steps on their timeline, in their PIPL data export, and moved when duplicates merge.
        register_timeline_source(
            name=selectors.TIMELINE_SOURCE,
            label=_("Journey steps"),
            rows=lambda member: StepRun.objects.filter(member_id=member.pk),
            time_field="ran_at",
            columns=selectors.STEP_COLUMNS,
            items=selectors.member_journey_steps,
        )
        restrict_timeline_source(name=selectors.TIMELINE_SOURCE, permission="journeys.view_steprun")
        register_member_data_section(name="journeys", collect=selectors.member_journeys_export)
        register_member_merger(name="journeys", move=services.enrolments_merge)
