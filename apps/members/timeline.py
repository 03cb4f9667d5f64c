"""The member's timeline: everything that happened to one member, from every app, in one list newest first.

Members knows only its own tables. Each app that keeps something that happened to a member (activities, grants,
registrations, messages, journey steps, feedback …) registers a source in its ``AppConfig.ready()``. A source answers
one question: "this member's items of mine strictly older than ``before``, newest first, at most ``limit``" from an
index on (member, time, id), so the merged page costs one indexed range read per source whatever the member's history.
The merge and its keyset paging live in ``members.selectors``.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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


def register_timeline_source(*, name: str, label: Any, fetch: TimelineFetch) -> None:
    """Add a source to every member's timeline; ``name`` is also the filter staff pick it by."""
    if any(source.name == name for source in TIMELINE_SOURCES):
        return
    TIMELINE_SOURCES.append(TimelineSource(name=name, label=label, fetch=fetch))
