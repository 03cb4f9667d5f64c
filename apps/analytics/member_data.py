"""Activity references (event IDs, order references) are reported by other systems: scrubbed on anonymisation."""

from django.db.models import Exists, OuterRef

from apps.analytics.models import ActivityEvent, ActivityEventKey
from apps.core.redaction import redact_text
from apps.members.models import Member
from apps.members.personal_data import personal_values, redact_member_mentions, register_member_anonymiser


def anonymise_activity_refs(member: Member) -> None:
    # The key table holds every event's id too. Scrubbed first, while the member's own events (not yet scrubbed) still
    # say which keys are theirs: the name goes out of those only, as from the events; identifiers out of every key.
    values = personal_values(member)
    keys = ActivityEventKey.objects.all()
    own = ActivityEvent.objects.filter(member=member, source=OuterRef("source"), event_id=OuterRef("event_id"))
    redact_text(keys.filter(Exists(own)), fields=["event_id"], texts=[values.name])
    redact_text(keys, fields=["event_id"], texts=values.identifiers())
    redact_member_mentions(member, ActivityEvent.objects.all(), fields=["event_id", "order_ref"])


def register() -> None:
    register_member_anonymiser(anonymise_activity_refs)
