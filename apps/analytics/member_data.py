"""Activity references (event IDs, order references) are reported by other systems: scrubbed on anonymisation."""

from apps.analytics.models import ActivityEvent
from apps.members.models import Member
from apps.members.personal_data import redact_member_mentions, register_member_anonymiser


def anonymise_activity_refs(member: Member) -> None:
    redact_member_mentions(member, ActivityEvent.objects.all(), fields=["event_id", "order_ref"])


def register() -> None:
    register_member_anonymiser(anonymise_activity_refs)
