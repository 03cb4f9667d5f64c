"""The one place lifecycle locks its rows: a member's stage row, taken after anything of members' (member, account)."""

from collections.abc import Iterable

from apps.lifecycle.models import LifecycleSettings, MemberStage


def lock_member_stages(*, member_ids: Iterable[int]) -> dict[int, MemberStage]:
    """The stage rows of these members that exist, locked in key order (a missing row is created by the writer)."""
    rows = MemberStage.objects.select_for_update().filter(member_id__in=sorted(set(member_ids))).order_by("member_id")
    return {row.member_id: row for row in rows}


def lock_lifecycle_settings() -> LifecycleSettings:
    LifecycleSettings.objects.get_or_create(id=1)
    return LifecycleSettings.objects.select_for_update().get(id=1)
