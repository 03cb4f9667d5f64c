"""The member's timeline: everything that happened to one member, from every app, in one list newest first.

Members knows only its own tables. Each app that keeps something that happened to a member (activities, grants,
registrations, messages, journey steps, feedback …) registers a source in its ``AppConfig.ready()``, declared rather
than fetched: the member's rows, their time and id fields (an index on (member, time, id) serves them), the columns a
page shows and how a page of rows reads as items. From that the registry builds each source's read of "this member's
rows strictly older than ``before``, newest first, at most ``limit``", which starts at the cursor in the index, so
page 500 costs what page 1 costs. ``members.selectors.member_timeline`` reads the sources of a page in one
``UNION ALL`` on PostgreSQL and one read per source elsewhere.
"""

import json
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.db.models import (
    CharField,
    DateField,
    DecimalField,
    DurationField,
    Expression,
    ExpressionWrapper,
    F,
    Field,
    JSONField,
    Model,
    Q,
    QuerySet,
    TimeField,
    UUIDField,
    Value,
)
from django.db.models.functions import Coalesce, Collate, JSONObject, NullIf
from django.urls import reverse
from django.utils.translation import gettext as _
from modeltranslation.utils import build_localized_fieldname, get_language, resolution_order

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


class Translated:
    """A field the model keeps per language (``Benefit.name`` …), read as the model shows it: the reader's language,
    then the fallback languages, then the stored value."""

    def __init__(self, path: str) -> None:
        self.path = path

    def expression(self) -> Expression:
        languages = resolution_order(get_language())
        localized = [NullIf(F(build_localized_fieldname(self.path, language)), Value("")) for language in languages]
        return Coalesce(*localized, F(self.path), output_field=CharField())


# A column a source shows: a field path (related ones too: "event__name"), an expression, or a translated field.
TimelineColumn = str | Expression | Translated


@dataclass(frozen=True)
class TimelineRow:
    """One row a source read: its place in the timeline and the columns the source named, as Python values."""

    source: str
    at: datetime
    item_id: int
    values: dict[str, Any]

    def __getitem__(self, column: str) -> Any:
        return self.values[column]

    def item(self, *, kind: str, title: Any, detail: Any = "", link: str = "", data: dict[str, Any] | None = None) -> TimelineItem:
        return TimelineItem(
            at=self.at, source=self.source, item_id=self.item_id, kind=kind, title=title, detail=detail, link=link, data=data or {}
        )


# Column names the registry selects beside a source's own (which it prefixes "tlc_"), so no source column clashes.
ROW_COLUMNS = ("tl_source", "tl_at", "tl_id")
PACKED_COLUMN = "tl_values"


class _ExactNumbers(json.JSONDecoder):
    """Decimals in packed values stay decimals: a float would print an amount differently from the model's."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(parse_float=Decimal, **kwargs)


@dataclass(frozen=True)
class TimelineSource:
    """What one app adds to every member's timeline, declared: the member's rows, their (time, id) order, the columns
    shown and how a page of rows reads as items. The registry builds the reads; ``members.selectors`` reads every
    source of a page in one query where the database allows it (see ``member_timeline``)."""

    name: str
    label: Any
    # The member's rows; an index on (member, time, id) must serve ``time_field`` and ``id_field``.
    rows: Callable[[Member], QuerySet[Any]]
    time_field: str
    columns: Mapping[str, TimelineColumn]
    # A page of this source's rows, newest first, as items: labels in the reader's language, links via object_links.
    items: Callable[[Sequence[TimelineRow]], list[TimelineItem]]
    id_field: str = "pk"

    def branch(self, member: Member, before: TimelineCursor | None, limit: int, *, packed: bool = False) -> QuerySet[Any]:
        """At most ``limit`` rows older than ``before``, newest first, from the (member, time, id) index: tuples of
        (source, time, id, then each column), or with ``packed`` (source, time, id, the columns as one JSON object).

        The packed form has the same columns for every source, so the branches of all sources can be one UNION ALL;
        its source name is collated "C" so the merged order compares names as the cursor does (by code point).
        """
        id_column = "id" if self.id_field == "pk" else self.id_field
        columns = {f"tlc_{name}": self._expression(column) for name, column in self.columns.items()}
        name: Expression = Value(self.name, output_field=CharField())
        rows = (
            self.rows(member)
            .filter(older_than(name=self.name, before=before, time_field=self.time_field, id_field=self.id_field))
            .annotate(tl_source=Collate(name, "C") if packed else name, tl_at=F(self.time_field), tl_id=F(id_column), **columns)
            .order_by(f"-{self.time_field}", f"-{id_column}")
        )
        if packed:
            values = JSONObject(**{column: F(f"tlc_{column}") for column in self.columns})
            rows = rows.annotate(**{PACKED_COLUMN: ExpressionWrapper(values, output_field=JSONField(decoder=_ExactNumbers))})
            return rows.values_list(*ROW_COLUMNS, PACKED_COLUMN)[:limit]
        return rows.values_list(*ROW_COLUMNS, *columns)[:limit]

    def fetch(self, member: Member, before: TimelineCursor | None, limit: int) -> list[TimelineItem]:
        """This source's items older than ``before``, newest first, at most ``limit``, in one indexed read."""
        return self.items(
            [
                TimelineRow(source, at, item_id, dict(zip(self.columns, values, strict=True)))
                for source, at, item_id, *values in self.branch(member, before, limit)
            ]
        )

    @cached_property
    def typed_columns(self) -> dict[str, Field]:
        """The columns whose values JSON carries as text (dates, times) or as another number type (decimals)."""
        fields = self.branch(Member(pk=0), None, 1, packed=True).query.annotations
        return {
            column: fields[f"tlc_{column}"].output_field
            for column in self.columns
            if isinstance(fields[f"tlc_{column}"].output_field, TYPED_IN_JSON)
        }

    def unpack(self, rows: Sequence[tuple[str, datetime, int, str | dict[str, Any]]]) -> list[TimelineItem]:
        """Items from rows of the packed ``branch``, their columns read back into the values the model gives."""
        typed = self.typed_columns
        unpacked = []
        for source, at, item_id, packed in rows:
            values = json.loads(packed, cls=_ExactNumbers) if isinstance(packed, str) else packed
            for column, field_ in typed.items():
                if values[column] is not None:
                    values[column] = field_.to_python(values[column])
            unpacked.append(TimelineRow(source, at, item_id, values))
        return self.items(unpacked)

    @staticmethod
    def _expression(column: TimelineColumn) -> Expression:
        if isinstance(column, Translated):
            return column.expression()
        return F(column) if isinstance(column, str) else column


# Fields whose values JSON carries as text or a number of another type; ``to_python`` reads them back exactly.
TYPED_IN_JSON = (DateField, TimeField, DecimalField, DurationField, UUIDField)

TIMELINE_SOURCES: list[TimelineSource] = []
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def register_timeline_source(
    *,
    name: str,
    label: Any,
    rows: Callable[[Member], QuerySet[Any]],
    time_field: str,
    columns: Mapping[str, TimelineColumn],
    items: Callable[[Sequence[TimelineRow]], list[TimelineItem]],
    id_field: str = "pk",
) -> None:
    """Add a source to every member's timeline; ``name`` is also the filter staff pick it by."""
    if any(source.name == name for source in TIMELINE_SOURCES):
        return
    TIMELINE_SOURCES.append(
        TimelineSource(name=name, label=label, rows=rows, time_field=time_field, columns=columns, items=items, id_field=id_field)
    )


def choice_labels(model: type[Model], field: str) -> Callable[[Any], str]:
    """``value -> label`` of a choices field in the reader's language, as ``get_<field>_display`` gives it."""
    labels = dict(model._meta.get_field(field).flatchoices)
    return lambda value: str(labels.get(value, value))


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
