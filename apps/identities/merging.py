"""Merging duplicate members: channel identities and subscription quotas move to the survivor; the same WeChat
unionid on two members is a duplicate the finder lists."""

from django.db.models import F

from apps.core.masking import mask_identifier
from apps.identities.models import ChannelIdentity, IdentityKind, SubscriptionQuota
from apps.members.merging import MERGED, MergeConflict, merge_choice, reassign, register_duplicate_source, register_member_merger
from apps.members.models import DuplicateReason, Member

SECTION = "identities"


def _addresses(member: Member) -> dict[str, ChannelIdentity]:
    # A member has one address per channel app (push tokens aside): two members' addresses of one app conflict.
    return {
        f"{identity.kind}:{identity.app_id}": identity
        for identity in ChannelIdentity.objects.filter(member=member).exclude(kind=IdentityKind.PUSH)
    }


def identity_conflicts(survivor: Member, merged: Member) -> list[MergeConflict]:
    mine = _addresses(survivor)
    return [
        MergeConflict(
            SECTION,
            key,
            f"{identity.get_kind_display()} ({identity.app_id})",
            mask_identifier(mine[key].external_id),
            mask_identifier(identity.external_id),
        )
        for key, identity in _addresses(merged).items()
        if key in mine
    ]


def move_identities(survivor: Member, merged: Member) -> dict[str, int]:
    """Every address the survivor lacks moves; of two addresses of one app the chosen one stays bound to the survivor
    and the other is unbound (its history keeps it)."""
    mine = _addresses(survivor)
    unbound = 0
    for key in _addresses(merged):
        if key in mine and merge_choice(SECTION, key) == MERGED:
            mine[key].delete()
            unbound += 1
    moved = reassign(ChannelIdentity, survivor=survivor, merged=merged, unique_with=["kind", "app_id"])
    moved += ChannelIdentity.objects.filter(member=merged, kind=IdentityKind.PUSH).update(member=survivor)
    # Accepted subscription messages add up: the person accepted each of them.
    quotas = SubscriptionQuota.objects.filter(
        member=survivor, template_id__in=SubscriptionQuota.objects.filter(member=merged).values("template_id")
    )
    for quota in quotas:
        extra = SubscriptionQuota.objects.get(member=merged, template_id=quota.template_id).remaining
        SubscriptionQuota.objects.filter(pk=quota.pk).update(remaining=F("remaining") + extra)
    SubscriptionQuota.objects.filter(member=merged, template_id__in=[quota.template_id for quota in quotas]).update(remaining=0)
    return {
        "channel_identities": moved,
        "unbound_identities": unbound,
        "subscription_quotas": reassign(SubscriptionQuota, survivor=survivor, merged=merged, unique_with=["template_id"]) + len(quotas),
    }


_SAME_UNIONID = (
    "SELECT DISTINCT a.member_id, b.member_id, 100 FROM identities_channelidentity a"
    " JOIN identities_channelidentity b ON b.unionid = a.unionid AND b.member_id > a.member_id"
    " JOIN members_member ma ON ma.id = a.member_id JOIN members_member mb ON mb.id = b.member_id"
    " WHERE a.unionid <> '' AND ma.merged_into_id IS NULL AND mb.merged_into_id IS NULL"
    " AND ma.anonymised_at IS NULL AND mb.anonymised_at IS NULL"
)


def register() -> None:
    register_member_merger(name="identities", move=move_identities, conflicts=identity_conflicts)
    register_duplicate_source(reason=DuplicateReason.IDENTITY, sql=_SAME_UNIONID)
