"""What lifecycle adds to lower apps' registries: the stage rules on every stored batch of activity, the segment
conditions, the profile's "stages" panel, the timeline's stage changes, the merge mover and the PIPL export section."""

from django.utils.translation import gettext_lazy as _

from apps.core.activity import register_activity_batch_handler
from apps.lifecycle import conditions, selectors, services  # noqa: F401  (conditions register themselves)
from apps.lifecycle.models import StageChange
from apps.members.merging import register_member_merger
from apps.members.personal_data import register_member_data_section
from apps.members.profile_sections import register_profile_section
from apps.members.timeline import register_timeline_source


def register() -> None:
    register_activity_batch_handler(services.journey_stages_apply, concerns=services.journey_stages_concern)
    register_profile_section(name="stages", label=_("Stages"), summary=selectors.member_stages, order=20)
    register_timeline_source(
        name=selectors.TIMELINE_SOURCE,
        label=_("Stage changes"),
        rows=lambda member: StageChange.objects.filter(member_id=member.pk),
        time_field="changed_at",
        columns=selectors.STAGE_CHANGE_COLUMNS,
        items=selectors.stage_timeline,
    )
    register_member_merger(name="stages", move=services.member_stages_merge)
    register_member_data_section(name="stages", collect=selectors.member_stage_data)
