"""Reads of attributes and tags: the member's values (masked as the reader may see them), tag history, exports."""

import contextlib
from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from apps.core.errors import ApplicationError
from apps.core.masking import mask_phone
from apps.members.models import Member, TagChange
from apps.members.phones import normalize_phone
from apps.members.timeline import TimelineItem, TimelineRow, choice_labels
from apps.tagging.models import Attribute, AttributeKind, AttributeValue, TagJob

MASK = "****"
TIMELINE_SOURCE = "tags"


def attribute_value_of(value: AttributeValue) -> str | Decimal | date | None:
    kind = value.attribute.kind
    if kind == AttributeKind.NUMBER:
        return value.value_number.normalize() if value.value_number is not None else None
    if kind == AttributeKind.DATE:
        return value.value_date
    return value.value_text


def tag_job_unknown_shown(*, job: TagJob, can_see_personal: bool) -> list[str]:
    """The lines of a job's list that named no member, phone numbers masked for staff who see them masked."""
    if can_see_personal:
        return list(job.unknown)
    shown = []
    for text in job.unknown:
        with contextlib.suppress(ApplicationError):
            text = mask_phone(normalize_phone(text))
        shown.append(text)
    return shown


def _shown(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return "" if value is None else str(value)


def member_attributes(*, member: Member, can_see_personal: bool) -> list[dict[str, Any]]:
    """Every defined attribute with the member's value as text ("" when none); personal values masked unless allowed."""
    held = {value.attribute_id: value for value in AttributeValue.objects.filter(member=member).select_related("attribute")}
    rows = []
    for attribute in Attribute.objects.all():
        value = _shown(attribute_value_of(held[attribute.pk])) if attribute.pk in held else ""
        masked = attribute.personal and not can_see_personal and bool(value)
        rows.append(
            {"code": attribute.code, "label": str(attribute.label), "value": MASK if masked else value, "personal": attribute.personal}
        )
    return rows


def member_attribute_initial(*, member: Member) -> dict[str, Any]:
    """The member's typed values by code, for the edit form."""
    return {
        value.attribute.code: attribute_value_of(value)
        for value in AttributeValue.objects.filter(member=member).select_related("attribute")
    }


def member_attributes_summary(member: Member) -> dict[str, Any] | None:
    """The profile section: attributes with values — personal ones always masked, as the section knows no reader.
    The tags themselves are members' own section."""
    attributes = [row for row in member_attributes(member=member, can_see_personal=False) if row["value"]]
    if not attributes:
        return None
    return {"attributes": [{"label": row["label"], "value": row["value"]} for row in attributes]}


def tag_history_timeline(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    """A page of the member's tag changes as timeline items."""
    action_label, source_label = choice_labels(TagChange, "action"), choice_labels(TagChange, "source")
    return [
        row.item(
            kind=f"tag_{row['action']}",
            title=f"{action_label(row['action'])}: {row['tag']}",
            detail=" · ".join(filter(None, [source_label(row["source"]), row["reference"], row["actor"] or ""])),
            data={"tag": row["tag"], "action": row["action"], "source": row["source"]},
        )
        for row in rows
    ]


TAG_CHANGE_COLUMNS = {"tag": "tag__name", "action": "action", "source": "source", "reference": "reference", "actor": "actor__username"}


def attribute_export_rows(*, members: Any, can_see_personal: bool) -> tuple[list[str], Iterator[list[str]]]:
    """Header and rows (external ID, then one column per attribute) for a file staff may re-import after editing.

    Personal attributes are left out for readers who may not see them, so a hidden value changes no file.
    """
    attributes = [attribute for attribute in Attribute.objects.all() if can_see_personal or not attribute.personal]
    header = ["external_id", *[attribute.code for attribute in attributes]]

    def rows() -> Iterator[list[str]]:
        ids = members.order_by("pk").values_list("pk", "external_id")
        last = 0
        while True:
            chunk = list(ids.filter(pk__gt=last)[:2000])
            if not chunk:
                return
            last = chunk[-1][0]
            values: dict[tuple[int, int], Any] = {}
            held = AttributeValue.objects.filter(member_id__in=[pk for pk, _ext in chunk], attribute__in=attributes)
            for value in held.select_related("attribute"):
                values[(value.member_id, value.attribute_id)] = attribute_value_of(value)
            for pk, external_id in chunk:
                yield [external_id or "", *[_shown(values.get((pk, attribute.pk))) for attribute in attributes]]

    return header, rows()
