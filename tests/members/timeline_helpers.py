"""A member with one or more items in every timeline source of the existing apps, for the profile tests."""

from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from django.utils import timezone

from apps.campaigns.models import ActionOutcome, CampaignAction, CampaignRun, Referral
from apps.engagement.models import SignIn, TaskCompletion
from apps.events.models import ClubMembership, Registration, RegistrationState
from apps.members.models import Member, PointsEntryKind
from apps.messaging.models import Message
from apps.rules.models import AwardStatus, RuleAward
from tests.analytics.factories import ActivityEventFactory
from tests.benefits.factories import GrantFactory, RedemptionFactory
from tests.campaigns.factories import CampaignFactory
from tests.core.factories import UserFactory
from tests.engagement.factories import BadgeFactory, TaskFactory
from tests.events.factories import ClubFactory, EventFactory
from tests.members.factories import GrowthEntryFactory, MemberFactory, PointsEntryFactory
from tests.rules.factories import EarningRuleFactory


def fill_every_source(member: Member, *, start: datetime | None = None) -> dict[str, Any]:
    """One item (two for activities) of every source, an hour apart, oldest first; what was made, by source name."""
    at = iter((start or timezone.now() - timedelta(days=30)) + timedelta(hours=hour) for hour in range(100))
    made: dict[str, Any] = {}
    made["activities"] = [
        ActivityEventFactory(member=member, occurred_at=next(at)),
        ActivityEventFactory(member=member, occurred_at=next(at)),
    ]
    made["points"] = PointsEntryFactory(account=member.points_account, kind=PointsEntryKind.EARN, amount=50, created_at=next(at))
    made["growth"] = GrowthEntryFactory(member=member, amount=30, created_at=next(at))
    made["grants"] = [
        GrantFactory(member=member, issued_at=next(at)),
        GrantFactory(member=member, benefit=BadgeFactory(), issued_at=next(at)),
    ]
    redeemed = GrantFactory(member=member, issued_at=next(at), state="redeemed")
    made["grants"].append(redeemed)
    made["redemptions"] = RedemptionFactory(grant=redeemed, redeemed_at=next(at))
    event = EventFactory()
    registration = Registration.objects.create(event=event, member=member, state=RegistrationState.ATTENDED, created_at=next(at))
    Registration.objects.filter(pk=registration.pk).update(checked_in_at=next(at))
    made["registrations"] = made["check_ins"] = registration
    made["messages"] = Message.objects.create(
        member=member,
        channel="sms",
        template_code="welcome",
        body="Hello",
        language="en",
        next_attempt_at=next(at),
        dedupe_key=f"timeline-test-{uuid4()}",
    )
    Message.objects.filter(pk=made["messages"].pk).update(created_at=next(at))
    campaign = CampaignFactory()
    run = CampaignRun.objects.create(campaign=campaign)
    made["campaigns"] = CampaignAction.objects.create(
        run=run, campaign=campaign, member=member, outcome=ActionOutcome.ACTED, created_at=next(at)
    )
    referral = Referral.objects.create(referrer=member, referee=MemberFactory(), code="ABC")
    Referral.objects.filter(pk=referral.pk).update(created_at=next(at))
    made["referrals"] = referral
    made["tasks"] = TaskCompletion.objects.create(
        task=TaskFactory(), member=member, window_start=next(at).date(), completed_at=next(at), points=100
    )
    signed = next(at)
    made["sign_ins"] = SignIn.objects.create(member=member, day=signed.date(), streak=3, signed_in_at=signed)
    rule = EarningRuleFactory()
    activity = ActivityEventFactory(member=member, occurred_at=next(at))
    made["rule_awards"] = RuleAward.objects.create(
        rule=rule, activity=activity, member=member, kind="sign_in", occurred_at=activity.occurred_at, status=AwardStatus.HELD, points=10
    )
    staff_user = UserFactory()
    member._history_user = staff_user
    member.city = "杭州"
    member.save()
    made["staff_changes"] = member.history.filter(history_user=staff_user).first()
    ClubMembership.objects.create(club=ClubFactory(), member=member)
    return made
