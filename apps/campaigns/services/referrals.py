"""Referrals (转介绍): a member's code, attaching a new member to its owner, and rewarding both once it qualifies."""

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.campaigns.models import Referral, ReferralCode, ReferralState
from apps.core.activity import StoredActivity, activity_happened
from apps.core.errors import ApplicationError
from apps.core.reasons import Reason
from apps.members.locks import lock_members
from apps.members.models import Member, MemberStatus
from apps.members.services import points_earn

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and typed


class RejectReason:
    SAME_PERSON = "same_person"
    ALREADY_MEMBER = "already_member"
    CAP_REACHED = "cap_reached"
    MEMBER_NOT_ACTIVE = "member_not_active"


def _referral_config(key: str) -> Any:
    return settings.USEROPS_REFERRALS[key]


def referral_code_for(*, member: Member) -> ReferralCode:
    """The member's code, created on first use."""
    existing = ReferralCode.objects.filter(member=member).first()
    if existing is not None:
        return existing
    for _attempt in range(5):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        try:
            with transaction.atomic():
                return ReferralCode.objects.create(member=member, code=code)
        except IntegrityError:
            existing = ReferralCode.objects.filter(member=member).first()
            if existing is not None:
                return existing
    raise ApplicationError("referral_code_unavailable", _("No free referral code could be made; try again."))


@transaction.atomic
def referral_attach(*, referee: Member, code: str) -> Referral:
    """Link a newly enrolled member to the owner of ``code``. Guards that only withhold the reward record a rejection."""
    owner = ReferralCode.objects.select_related("member").filter(code=(code or "").strip().upper()).first()
    if owner is None:
        raise ApplicationError("referral_code_invalid", _("This referral code does not exist."), fields={"code": code})
    referrer = owner.member
    if referrer.pk == referee.pk:
        raise ApplicationError("self_referral", _("Members cannot refer themselves."), fields={"code": code})
    if Referral.objects.filter(referee=referee).exists():
        raise ApplicationError("already_referred", _("This member was already referred."), http_status=409)
    referral = Referral(referrer=referrer, referee=referee, code=owner.code)
    if (referee.phone and referee.phone == referrer.phone) or (referee.email and referee.email.lower() == referrer.email.lower()):
        referral.state, referral.reject_reason = ReferralState.REJECTED, RejectReason.SAME_PERSON
    elif referee.joined_at < timezone.now() - timedelta(hours=_referral_config("ATTACH_WITHIN_HOURS")):
        referral.state, referral.reject_reason = ReferralState.REJECTED, RejectReason.ALREADY_MEMBER
    referral.save()
    if referral.state != ReferralState.REJECTED:
        activity_happened(member_id=referrer.pk, kind="referral", event_id=f"referral:{referral.pk}", occurred_at=referral.created_at)
    return referral


def _month_start() -> datetime:
    local = timezone.localtime()
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@transaction.atomic
def referral_qualify(*, referee: Member, action: str) -> Referral | None:
    """The referee did ``action``; if it qualifies, reward referrer and referee once. None when not referred."""
    if action not in _referral_config("QUALIFYING_ACTIONS"):
        raise ApplicationError(
            "invalid_action", _("%(action)s is not a qualifying action.") % {"action": action}, fields={"action": action}
        )
    referral = Referral.objects.select_for_update().select_related("referrer", "referee").filter(referee=referee).first()
    if referral is None or referral.state != ReferralState.PENDING:
        return referral
    now = timezone.now()
    referral.state, referral.qualifying_action, referral.qualified_at = ReferralState.QUALIFIED, action, now
    # Lock the referrer before counting, so two referees qualifying together cannot both pass the cap.
    lock_members(member_ids=[referral.referrer_id])
    rewarded_this_month = Referral.objects.filter(referrer_id=referral.referrer_id, rewarded_at__gte=_month_start()).count()
    if rewarded_this_month >= _referral_config("MONTHLY_CAP_PER_REFERRER"):
        referral.state, referral.reject_reason = ReferralState.REJECTED, RejectReason.CAP_REACHED
    elif referral.referrer.status != MemberStatus.ACTIVE or referral.referee.status != MemberStatus.ACTIVE:
        referral.state, referral.reject_reason = ReferralState.REJECTED, RejectReason.MEMBER_NOT_ACTIVE
    else:
        reason = Reason("referral_reward")
        points_earn(
            member=referral.referrer,
            amount=_referral_config("REFERRER_POINTS"),
            reason=reason,
            source_ref=f"referral:{referral.pk}:referrer",
        )
        points_earn(
            member=referral.referee, amount=_referral_config("REFEREE_POINTS"), reason=reason, source_ref=f"referral:{referral.pk}:referee"
        )
        referral.state, referral.rewarded_at = ReferralState.REWARDED, now
    referral.save()
    return referral


def referrers_paid_on_first_purchase(events: Sequence[StoredActivity]) -> list[int]:
    """The referrers that ``referral_qualify_on_first_purchase`` may reward for the store's first purchases: the store
    locks them with the members it pays, in one statement in key order, so the reaction takes no member lock of its
    own that a campaign chunk paying the same members in key order could meet crosswise."""
    if "first_purchase" not in _referral_config("QUALIFYING_ACTIONS"):
        return []
    referees = {event.member_id for event in events if event.kind == "purchase" and event.first_of_kind}
    if not referees:
        return []
    return list(Referral.objects.filter(referee_id__in=referees, state=ReferralState.PENDING).values_list("referrer_id", flat=True))


def referral_qualify_on_first_purchase(event: StoredActivity) -> None:
    """The reaction to a newly stored purchase: a member's first one qualifies the referral that brought them, when
    the programme counts first purchases (registered from ``CampaignsConfig.ready()``; purchase earning runs first)."""
    if not event.first_of_kind or "first_purchase" not in _referral_config("QUALIFYING_ACTIONS"):
        return
    member = Member.objects.get(pk=event.member_id)
    if member.status == MemberStatus.ACTIVE:
        referral_qualify(referee=member, action="first_purchase")
