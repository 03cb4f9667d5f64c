"""Messaging's part of the customer profile: the messages sent to the member, on the timeline."""

from collections.abc import Sequence

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from apps.members.timeline import (
    TimelineItem,
    TimelineRow,
    choice_labels,
    object_links,
    register_timeline_source,
    restrict_timeline_source,
)
from apps.messaging.models import Message


def message_items(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    channel_label, purpose_label, state_label = (choice_labels(Message, field) for field in ("channel", "purpose", "state"))
    link_to = object_links("admin:messaging_message_change")
    return [
        row.item(
            kind=row["state"],
            title=_("%(channel)s message: %(what)s")
            % {"channel": channel_label(row["channel"]), "what": row["subject"] or row["template_code"]},
            detail=" · ".join([purpose_label(row["purpose"]), state_label(row["state"]), *_engagement(row)]),
            link=link_to(row.item_id),
            data={
                "channel": row["channel"],
                "state": row["state"],
                "opened_at": row["opened_at"].isoformat() if row["opened_at"] else None,
                "clicks": row["click_count"],
            },
        )
        for row in rows
    ]


def _engagement(row: TimelineRow) -> list[str]:
    """The opened state on the sent item itself, so an agent reads "sent · opened" in one line."""
    if row["opened_at"] is None:
        return []
    opened = _("opened %(when)s") % {"when": date_format(timezone.localtime(row["opened_at"]), "SHORT_DATETIME_FORMAT")}
    clicks = row["click_count"]
    if not clicks:
        return [opened]
    return [opened, ngettext("%(count)d click", "%(count)d clicks", clicks) % {"count": clicks}]


def register() -> None:
    register_timeline_source(
        name="messages",
        label=gettext_lazy("Messages"),
        rows=lambda member: Message.objects.filter(member_id=member.pk),
        time_field="created_at",
        # The subject and template, not the body: a body may carry a code or a link meant for the member alone.
        columns={
            "channel": "channel",
            "template_code": "template_code",
            "subject": "subject",
            "state": "state",
            "purpose": "purpose",
            "opened_at": "opened_at",
            "click_count": "click_count",
        },
        items=message_items,
    )
    restrict_timeline_source(name="messages", permission="messaging.view_message")
