"""Messaging's part of the customer profile: the messages sent to the member, on the timeline."""

from collections.abc import Sequence

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from apps.members.models import Member
from apps.members.timeline import (
    TimelineCursor,
    TimelineItem,
    newest_rows,
    object_links,
    register_timeline_source,
    restrict_timeline_source,
)
from apps.messaging.models import Message


def message_items(member: Member, before: TimelineCursor | None, limit: int) -> Sequence[TimelineItem]:
    # The subject and template, not the body: a body may carry a code or a link meant for the member alone.
    messages = newest_rows(
        Message.objects.filter(member_id=member.pk).only(
            "id", "created_at", "channel", "template_code", "subject", "state", "purpose", "opened_at", "click_count"
        ),
        name="messages",
        before=before,
        limit=limit,
        time_field="created_at",
    )
    link_to = object_links("admin:messaging_message_change")
    return [
        TimelineItem(
            at=message.created_at,
            source="messages",
            item_id=message.pk,
            kind=message.state,
            title=_("%(channel)s message: %(what)s")
            % {"channel": message.get_channel_display(), "what": message.subject or message.template_code},
            detail=" · ".join([message.get_purpose_display(), message.get_state_display(), *_engagement(message)]),
            link=link_to(message.pk),
            data={
                "channel": message.channel,
                "state": message.state,
                "opened_at": message.opened_at.isoformat() if message.opened_at else None,
                "clicks": message.click_count,
            },
        )
        for message in messages
    ]


def _engagement(message: Message) -> list[str]:
    """The opened state on the sent item itself, so an agent reads "sent · opened" in one line."""
    if message.opened_at is None:
        return []
    opened = _("opened %(when)s") % {"when": date_format(timezone.localtime(message.opened_at), "SHORT_DATETIME_FORMAT")}
    if not message.click_count:
        return [opened]
    return [opened, ngettext("%(count)d click", "%(count)d clicks", message.click_count) % {"count": message.click_count}]


def register() -> None:
    register_timeline_source(name="messages", label=gettext_lazy("Messages"), fetch=message_items)
    restrict_timeline_source(name="messages", permission="messaging.view_message")
