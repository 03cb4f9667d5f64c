"""Messages in a member's data export (PIPL), and their bodies scrubbed when the member is anonymised."""

from typing import Any

from django.utils import timezone

from apps.members.models import Member
from apps.members.personal_data import register_member_anonymiser, register_member_data_section
from apps.messaging.models import Message, MessageState

SCRUBBED_BODY = "[anonymised]"


def member_messages(member: Member) -> list[dict[str, Any]]:
    return list(
        Message.objects.filter(member=member)
        .order_by("created_at", "id")
        .values(
            "channel",
            "purpose",
            "template_code",
            "subject",
            "body",
            "language",
            "state",
            "provider",
            "provider_code",
            "created_at",
            "sent_at",
            "delivered_at",
        )
    )


def anonymise_messages(member: Member) -> None:
    """Rendered bodies and provider template parameters carry the member's name: scrub them; nothing still queued is
    ever sent."""
    messages = Message.objects.filter(member=member)
    messages.filter(state=MessageState.QUEUED).update(state=MessageState.FAILED, last_error="anonymised", updated_at=timezone.now())
    messages.update(subject="", body=SCRUBBED_BODY, provider_params=None, context={}, updated_at=timezone.now())


def register() -> None:
    register_member_data_section(name="messages", collect=member_messages)
    register_member_anonymiser(anonymise_messages)
