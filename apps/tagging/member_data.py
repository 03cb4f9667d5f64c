"""What tagging adds to members' registries: the profile section, the timeline source, the merge mover, PIPL data."""

from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext_lazy as _

from apps.members.merging import MergeConflict, register_member_merger
from apps.members.models import Member, TagChange
from apps.members.personal_data import register_member_anonymiser, register_member_data_section
from apps.members.profile_sections import register_profile_section
from apps.members.timeline import register_timeline_source, restrict_timeline_source
from apps.tagging import selectors, services
from apps.tagging.models import AttributeValue


def _attributes_collected(member: Member) -> list[dict[str, Any]]:
    return [
        {"code": row["code"], "label": row["label"], "value": row["value"]}
        for row in selectors.member_attributes(member=member, can_see_personal=True)
        if row["value"]
    ]


def _tag_history_collected(member: Member) -> list[dict[str, Any]]:
    changes = TagChange.objects.filter(member=member).select_related("tag").order_by("at", "pk")
    return [{"tag": c.tag.name, "action": c.action, "source": c.source, "at": c.at.isoformat()} for c in changes]


def _anonymise(member: Member) -> None:
    services.attribute_values_anonymise(member=member)


def merge_conflicts(survivor: Member, merged: Member) -> Sequence[MergeConflict]:
    """Attributes both members hold with different values: the agent chooses which to keep before the merge."""
    kept = {value.attribute_id: value for value in AttributeValue.objects.filter(member=survivor).select_related("attribute")}
    conflicts = []
    for value in (
        AttributeValue.objects.filter(member=merged).select_related("attribute").order_by("attribute__position", "attribute__code")
    ):
        other = kept.get(value.attribute_id)
        if other is not None and selectors.attribute_value_of(other) != selectors.attribute_value_of(value):
            conflicts.append(
                MergeConflict(
                    section="attributes",
                    field=value.attribute.code,
                    label=value.attribute.label,
                    survivor_value=selectors.attribute_value_of(other),
                    merged_value=selectors.attribute_value_of(value),
                    personal=value.attribute.personal,
                )
            )
    return conflicts


def _merge(survivor: Member, merged: Member) -> dict[str, int]:
    return services.member_tagging_merge(survivor=survivor, merged=merged)


def register() -> None:
    # Attributes are what staff know about the member, not shown back in the member app (the PIPL export has them all).
    register_profile_section(
        name="attributes", label=_("Attributes"), summary=selectors.member_attributes_summary, order=60, shown_to_member=False
    )
    register_timeline_source(
        name=selectors.TIMELINE_SOURCE,
        label=_("Tags"),
        rows=lambda member: TagChange.objects.filter(member_id=member.pk),
        time_field="at",
        columns=selectors.TAG_CHANGE_COLUMNS,
        items=selectors.tag_history_timeline,
    )
    restrict_timeline_source(name=selectors.TIMELINE_SOURCE, permission="members.view_tagchange")
    register_member_merger(name="tagging", move=_merge, conflicts=merge_conflicts)
    register_member_data_section(name="attributes", collect=_attributes_collected)
    register_member_data_section(name="tag_history", collect=_tag_history_collected)
    register_member_anonymiser(_anonymise)
