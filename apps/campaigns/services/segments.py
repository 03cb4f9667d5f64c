"""Segments (人群): saving the rules, freezing the members who match them into a snapshot, and unfreezing it."""

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.campaigns.conditions import check_reader, compile_rules
from apps.campaigns.locks import lock_segment
from apps.campaigns.models import Segment, SegmentMember
from apps.campaigns.selectors import segment_members
from apps.core.errors import ApplicationError
from apps.core.models import User
from apps.core.saving import edited_fields_save

# Written only by freezing and unfreezing the snapshot.
SEGMENT_SNAPSHOT_FIELDS = ("frozen_at", "frozen_count")


@transaction.atomic
def segment_save(*, segment: Segment, actor: User | None = None, can_see_personal: bool = True) -> Segment:
    """Save a segment's rules; a reader without the personal-data permission may not save a condition on personal data."""
    compile_rules(segment.rules)
    check_reader(segment.rules, can_see_personal=can_see_personal)
    segment._history_user = actor
    if not segment.pk:
        segment.save()
        return segment
    stored = lock_segment(segment_id=segment.pk)
    if stored.is_frozen and stored.rules != segment.rules:
        raise ApplicationError("segment_frozen", _("A frozen segment's rules cannot change; unfreeze it first."), http_status=409)
    edited_fields_save(instance=segment, locked=stored, service_owned=SEGMENT_SNAPSHOT_FIELDS)
    return segment


@transaction.atomic
def segment_freeze(*, segment: Segment) -> Segment:
    """Copy the members matching the rules now into the segment's snapshot (one INSERT … SELECT)."""
    segment = lock_segment(segment_id=segment.pk)
    if segment.is_frozen:
        raise ApplicationError("segment_frozen", _("The segment is already frozen."), http_status=409)
    sql, params = segment_members(segment=segment).order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO campaigns_segmentmember (segment_id, member_id) SELECT %s, matched.pk FROM ({sql}) AS matched",  # noqa: S608
            [segment.pk, *params],
        )
        segment.frozen_count = cursor.rowcount
    segment.frozen_at = timezone.now()
    segment.save(update_fields=["frozen_at", "frozen_count", "updated_at"])
    return segment


@transaction.atomic
def segment_unfreeze(*, segment: Segment) -> Segment:
    segment = lock_segment(segment_id=segment.pk)
    if not segment.is_frozen:
        raise ApplicationError("segment_not_frozen", _("The segment is not frozen."), http_status=409)
    SegmentMember.objects.filter(segment=segment).delete()
    segment.frozen_at = segment.frozen_count = None
    segment.save(update_fields=["frozen_at", "frozen_count", "updated_at"])
    return segment
