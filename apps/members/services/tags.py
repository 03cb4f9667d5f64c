"""The one place members' tags are written, each change with its row of tag history (``TagChange``).

The member form, enrolment, tag jobs, auto-tag rules, imports and merges all come here. Many members are tagged by
one ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING`` (or a ``DELETE … RETURNING``): only the rows that really
changed come back, so history is written for exactly those, a re-run of the same work changes and records nothing,
and two writers racing on the same member and tag record the change once.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.core.bulk_insert import insert_rows
from apps.core.models import User
from apps.members.models import Member, Tag, TagChange, TagChangeAction, TagChangeSource

MemberIds = Iterable[int] | QuerySet


def tags_by_name(names: Iterable[str]) -> list[Tag]:
    """The tags of these names, created when new; blank names are ignored."""
    tags = []
    for raw in names:
        name = raw.strip()
        if name:
            tags.append(Tag.objects.get_or_create(name=name)[0])
    return tags


def _members_sql(member_ids: MemberIds) -> tuple[str, tuple]:
    ids = member_ids if isinstance(member_ids, QuerySet) else Member.objects.filter(pk__in=sorted(set(member_ids)))
    return ids.values("pk").query.sql_with_params()


def _record(*, tag: Tag, member_ids: list[int], action: str, source: str, actor: User | None, reference: str, now: datetime) -> None:
    actor_id = actor.pk if actor else None
    common = {"tag_id": tag.pk, "action": action, "source": source, "reference": reference, "actor_id": actor_id, "at": now}
    insert_rows(TagChange, [{"member_id": member_id, **common} for member_id in sorted(member_ids)])


@transaction.atomic
def tags_add(
    *, tag: Tag, member_ids: MemberIds, source: str, actor: User | None = None, reference: str = "", now: datetime | None = None
) -> list[int]:
    """Tag these members (ids or a queryset of members) and record it; returns the ids that did not have the tag."""
    sub_sql, params = _members_sql(member_ids)
    through, members = Member.tags.through._meta.db_table, Member._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {through} (member_id, tag_id) SELECT m.id, %s FROM {members} m WHERE m.id IN ({sub_sql}) "  # noqa: S608 (our tables)
            "ON CONFLICT (member_id, tag_id) DO NOTHING RETURNING member_id",
            (tag.pk, *params),
        )
        added = [row[0] for row in cursor.fetchall()]
    now = now or timezone.now()
    _record(tag=tag, member_ids=added, action=TagChangeAction.ADDED, source=source, actor=actor, reference=reference, now=now)
    return added


@transaction.atomic
def tags_remove(
    *, tag: Tag, member_ids: MemberIds, source: str, actor: User | None = None, reference: str = "", now: datetime | None = None
) -> list[int]:
    """Untag these members and record it; returns the ids that had the tag."""
    sub_sql, params = _members_sql(member_ids)
    through = Member.tags.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {through} WHERE tag_id = %s AND member_id IN ({sub_sql}) RETURNING member_id",  # noqa: S608 (our table)
            (tag.pk, *params),
        )
        removed = [row[0] for row in cursor.fetchall()]
    now = now or timezone.now()
    _record(tag=tag, member_ids=removed, action=TagChangeAction.REMOVED, source=source, actor=actor, reference=reference, now=now)
    return removed


@transaction.atomic
def member_tags_set(
    *, member: Member, names: Iterable[str], source: str = TagChangeSource.STAFF, actor: User | None = None, reference: str = ""
) -> None:
    """Give one member exactly these tags: the ones added and the ones taken away are each recorded."""
    wanted = {tag.pk: tag for tag in tags_by_name(names)}
    held = {tag.pk: tag for tag in member.tags.all()}
    now = timezone.now()
    for tag_id in sorted(wanted.keys() - held.keys()):
        tags_add(tag=wanted[tag_id], member_ids=[member.pk], source=source, actor=actor, reference=reference, now=now)
    for tag_id in sorted(held.keys() - wanted.keys()):
        tags_remove(tag=held[tag_id], member_ids=[member.pk], source=source, actor=actor, reference=reference, now=now)
