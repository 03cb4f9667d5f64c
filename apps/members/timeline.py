"""The member's timeline: everything that happened to one member, from every app, in one list newest first.

Members knows only its own tables. Each app that keeps something that happened to a member (activities, grants,
registrations, messages, journey steps, feedback …) registers a source in its ``AppConfig.ready()``. A source answers
one question: "this member's items of mine strictly older than ``before``, newest first, at most ``limit``" from an
index on (member, time, id), so the merged page costs one indexed range read per source whatever the member's history.
The merge and its keyset paging live in ``members.selectors``.
"""

from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.members.models import Member


@dataclass(frozen=True)
class TimelineCursor:
    """The position after the last item shown: items strictly older (by time, then source, then id) come next."""

    at: datetime
    source: str
    item_id: int


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    source: str
    item_id: int
    kind: str
    title: Any
    detail: Any = ""
    # The back-office page of the thing itself, when staff may open it.
    link: str = ""
    data: dict[str, Any] = field(default_factory=dict)


# fetch(member, before, limit) -> items of this source older than ``before`` (None: the newest), newest first.
TimelineFetch = Callable[[Member, TimelineCursor | None, int], Sequence[TimelineItem]]


@dataclass(frozen=True)
class TimelineSource:
    name: str
    label: Any
    fetch: TimelineFetch


TIMELINE_SOURCES: list[TimelineSource] = []
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def register_timeline_source(*, name: str, label: Any, fetch: TimelineFetch) -> None:
    """Add a source to every member's timeline; ``name`` is also the filter staff pick it by."""
    if any(source.name == name for source in TIMELINE_SOURCES):
        return
    TIMELINE_SOURCES.append(TimelineSource(name=name, label=label, fetch=fetch))


# What a source needs beyond the contract: the permission staff must hold to read it, and whether the member app may
# show it to the member in /me/timeline/. Sources that say neither are shown to any staff who may view the member and
# are not shown to the member.
TIMELINE_SOURCE_PERMISSIONS: dict[str, str] = {}
TIMELINE_SOURCES_SHOWN_TO_MEMBER: set[str] = set()


def restrict_timeline_source(*, name: str, permission: str = "", shown_to_member: bool = False) -> None:
    """Name the staff permission a source's items need, and whether the member may read them in /me/timeline/."""
    if permission:
        TIMELINE_SOURCE_PERMISSIONS[name] = permission
    if shown_to_member:
        TIMELINE_SOURCES_SHOWN_TO_MEMBER.add(name)


def older_than(*, name: str, before: TimelineCursor | None, time_field: str, id_field: str = "pk") -> Q:
    """The keyset condition of one source: its items strictly older than ``before`` in (time, source, id) order.

    The time bound is always an inequality on the indexed column, so the (member, time, id) index starts its scan at
    the cursor rather than reading every newer row and filtering them out: page 500 costs what page 1 costs.
    """
    if before is None:
        return Q()
    if name < before.source:
        return Q(**{f"{time_field}__lte": before.at})
    if name > before.source:
        return Q(**{f"{time_field}__lt": before.at})
    return Q(**{f"{time_field}__lte": before.at}) & (Q(**{f"{time_field}__lt": before.at}) | Q(**{f"{id_field}__lt": before.item_id}))


def newest_rows(
    queryset: QuerySet[Any], *, name: str, before: TimelineCursor | None, limit: int, time_field: str, id_field: str = "pk"
) -> list[Any]:
    """At most ``limit`` rows of ``queryset`` older than ``before``, newest first, in one indexed range read."""
    id_column = "id" if id_field == "pk" else id_field
    rows = queryset.filter(older_than(name=name, before=before, time_field=time_field, id_field=id_field))
    return list(rows.order_by(f"-{time_field}", f"-{id_column}")[:limit])


def encode_cursor(cursor: TimelineCursor) -> str:
    """A cursor as the short opaque text page links carry."""
    # Whole microseconds since the epoch: a float of seconds would round the last digit of some times.
    text = f"{(cursor.at - EPOCH) // timedelta(microseconds=1)}|{cursor.source}|{cursor.item_id}"
    return urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(text: str) -> TimelineCursor:
    """The cursor a page link carried; a cursor that is not one of ours is refused, naming the parameter."""
    try:
        raw = urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        micros, source, item_id = raw.split("|")
        return TimelineCursor(at=EPOCH + timedelta(microseconds=int(micros)), source=source, item_id=int(item_id))
    except (ValueError, UnicodeDecodeError, OverflowError) as exc:
        raise ApplicationError(
            "invalid_cursor", _("This page link is not valid; start again from the newest."), fields={"before": ""}
        ) from exc


LINK_PLACEHOLDER = "2147483647"


def object_links(viewname: str) -> Callable[[Any], str]:
    """``pk -> URL`` of one back-office page, reversed once per page of items rather than once per item."""
    pattern = reverse(viewname, args=[LINK_PLACEHOLDER])
    return lambda pk: pattern.replace(LINK_PLACEHOLDER, str(pk))
