"""The payloads of the events app's outbox events (docs/webhooks.md documents each field).

The ticket code admits its holder, so it is never sent.
"""

from collections.abc import Iterator

from apps.core.outbox import Event, EventType
from apps.events.models import Registration


def registration_event(registration: Registration, event_type: str = EventType.REGISTRATION_CHANGED) -> Iterator[Event]:
    checked_in_at = registration.checked_in_at
    yield (
        event_type,
        registration.member_id,
        {
            "registration_id": registration.pk,
            "member_id": registration.member_id,
            "event_id": registration.event_id,
            "state": str(registration.state),
            "companions": registration.companions,
            "payment_entry_id": registration.payment_id,
            "checked_in_at": checked_in_at.isoformat() if checked_in_at else None,
            "reason_code": registration.reason_code,
        },
    )
