"""The payloads of the benefits app's outbox events (docs/webhooks.md documents each field).

A grant's code is a bearer proof of entitlement (it redeems the grant), so it is never sent: receivers get the
grant's id and ask the API when they need more.
"""

from collections.abc import Iterator
from typing import Any

from apps.benefits.models import Grant, Redemption
from apps.core.outbox import Event, EventType


def _grant_data(grant: Grant) -> dict[str, Any]:
    return {
        "grant_id": grant.pk,
        "member_id": grant.member_id,
        "benefit_id": grant.benefit_id,
        "state": str(grant.state),
        "source": str(grant.source),
        "source_ref": grant.source_ref,
        "valid_from": grant.valid_from.isoformat(),
        "valid_until": grant.valid_until.isoformat(),
        "cost": str(grant.cost),
    }


def grant_event(event_type: str, grant: Grant, **extra: Any) -> Iterator[Event]:
    yield event_type, grant.member_id, {**_grant_data(grant), **extra}


def redemption_event(redemption: Redemption) -> Iterator[Event]:
    extra = {"redemption_id": redemption.pk, "channel": str(redemption.channel), "order_ref": redemption.order_ref}
    yield EventType.GRANT_REDEEMED, redemption.grant.member_id, {**_grant_data(redemption.grant), **extra}


def grants_issued_events(*, benefit_id: int, source: str, source_ref: str, member_ids: list[int]) -> Iterator[Event]:
    """The grants a bulk chunk just inserted (read back only when somebody subscribes)."""
    grants = Grant.objects.filter(benefit_id=benefit_id, source=source, source_ref=source_ref, member_id__in=member_ids).order_by("pk")
    for grant in grants:
        yield EventType.GRANT_ISSUED, grant.member_id, _grant_data(grant)
