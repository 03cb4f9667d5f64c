"""Benefits in a member's data export (PIPL): every grant with its redemption."""

from typing import Any

from apps.benefits.models import Grant, Redemption
from apps.members.models import Member
from apps.members.personal_data import redact_member_mentions, register_member_anonymiser, register_member_data_section


def member_grants(member: Member) -> list[dict[str, Any]]:
    grants = Grant.objects.filter(member=member).select_related("benefit", "redemption").order_by("issued_at", "id")
    rows = []
    for grant in grants:
        redemption = getattr(grant, "redemption", None)
        rows.append(
            {
                "id": grant.pk,
                "benefit": grant.benefit.name,
                "code": grant.display_code,
                "state": grant.state,
                "source": grant.source,
                "valid_from": grant.valid_from,
                "valid_until": grant.valid_until,
                "issued_at": grant.issued_at,
                "points_paid": -grant.points_entry.amount if grant.points_entry_id else 0,
                "closed_at": grant.closed_at,
                "redemption": {"channel": redemption.channel, "order_ref": redemption.order_ref, "redeemed_at": redemption.redeemed_at}
                if redemption
                else None,
            }
        )
    return rows


def anonymise_grant_texts(member: Member) -> None:
    """Staff reasons (kept as a grant's reference) and POS order references written before they were checked."""
    redact_member_mentions(member, Grant.objects.all(), fields=["source_ref", "revoke_reason"])
    redact_member_mentions(member, Redemption.objects.all(), fields=["order_ref"], owner="grant__member")


def register() -> None:
    register_member_data_section(name="benefit_grants", collect=member_grants)
    register_member_anonymiser(anonymise_grant_texts)
