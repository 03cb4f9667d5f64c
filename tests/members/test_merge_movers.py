"""Every app's mover: the merged member's rows reach the survivor (or stay, where the survivor holds their twin), and
the duplicates finder lists the pairs the docs promise."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.abuse.models import BlockEntry, BlockKind
from apps.analytics.models import ActivityEvent, DailyMemberActivity, RfmScore
from apps.campaigns.models import CampaignAction, CampaignRun, Referral, ReferralCode, SegmentMember
from apps.core.errors import ApplicationError
from apps.core.roles import CUSTOMER_SERVICE
from apps.engagement.models import SignIn, TaskProgress
from apps.events.models import ClubMembership, ClubRole, Registration, RegistrationState
from apps.identities.models import ChannelIdentity
from apps.members import services
from apps.members.merging import MEMBER_MERGERS
from apps.members.models import DuplicateCandidate, DuplicateReason, DuplicateState, Member
from apps.messaging.models import Message
from apps.rules.models import RuleAward, RuleCounter
from tests.analytics.factories import ActivityEventFactory
from tests.benefits.factories import GrantFactory
from tests.campaigns.factories import CampaignFactory, SegmentFactory
from tests.engagement.factories import TaskFactory
from tests.events.factories import ClubFactory, EventFactory
from tests.identities.factories import ChannelIdentityFactory, SubscriptionQuotaFactory
from tests.members.factories import MemberFactory
from tests.rules.factories import EarningRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(staff):
    return staff(role=CUSTOMER_SERVICE)


@pytest.fixture
def pair():
    survivor = MemberFactory(name="李雷", city="上海", email="")
    merged = MemberFactory(name="李雷", city="上海", email="", phone=None, external_id=None)
    return survivor, merged


def _merge(survivor, merged, agent, **choices):
    conflicts = services.member_merge_conflicts(survivor=survivor, merged=merged)
    decided = {f"{c.section}.{c.field}": "survivor" for c in conflicts} | choices
    return services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=agent, choices=decided)


def test_every_existing_app_with_member_rows_registers_a_mover():
    names = [merger.name for merger in MEMBER_MERGERS]
    assert names[0] == "members"
    assert set(names) >= {
        "members",
        "identities",
        "benefits",
        "messaging",
        "campaigns",
        "events",
        "analytics",
        "abuse",
        "engagement",
        "rules",
    }


def test_every_mover_moves_its_rows_and_the_audit_counts_them(pair, agent):
    survivor, merged = pair
    now = timezone.now()
    GrantFactory(member=merged)
    ChannelIdentityFactory(member=merged, app_id="wx-mp", kind="mini_program")
    SubscriptionQuotaFactory(member=merged, remaining=2)
    SubscriptionQuotaFactory(member=survivor, remaining=1)
    Message.objects.create(member=merged, channel="sms", body="Hi", language="zh-hans", dedupe_key="m1", next_attempt_at=now)
    segment = SegmentFactory()
    SegmentMember.objects.create(segment=segment, member=merged)
    SegmentMember.objects.create(segment=segment, member=survivor)
    run = CampaignRun.objects.create(campaign=CampaignFactory(segment=segment))
    CampaignAction.objects.create(run=run, campaign=run.campaign, member=merged, outcome="acted", created_at=now)
    ReferralCode.objects.create(member=merged, code="MERGE01")
    referee = MemberFactory()
    Referral.objects.create(referrer=merged, referee=referee, code="MERGE01")
    club = ClubFactory()
    ClubMembership.objects.create(club=club, member=merged, role=ClubRole.MEMBER)
    club.organiser_members.add(merged)
    Registration.objects.create(event=EventFactory(), member=merged, state=RegistrationState.REGISTERED)
    ActivityEventFactory(member=merged, occurred_at=now - timedelta(days=3))
    DailyMemberActivity.objects.create(day=date(2026, 11, 1), member=merged, tier_id=merged.tier_id, events=2)
    DailyMemberActivity.objects.create(day=date(2026, 11, 1), member=survivor, tier_id=survivor.tier_id, events=1)
    RfmScore.objects.create(member=merged, recency=1, frequency=1, monetary=1, segment="hibernating", revenue=Decimal("0"), scored_at=now)
    BlockEntry.objects.create(kind=BlockKind.MEMBER, member=merged, reason="Test")
    task = TaskFactory()
    TaskProgress.objects.create(task=task, member=merged, window_start=date(2026, 11, 1), value=3)
    SignIn.objects.create(member=merged, day=date(2026, 11, 2), streak=1, signed_in_at=now)
    rule = EarningRuleFactory()
    activity = ActivityEventFactory(member=merged)
    RuleAward.objects.create(rule=rule, activity_id=activity.pk, member=merged, kind="sign_in", occurred_at=now, status="paid", points=5)
    RuleCounter.objects.create(rule=rule, member=merged, period="day", period_start=date(2026, 11, 2), count=1, points=5)
    RuleCounter.objects.create(rule=rule, member=survivor, period="day", period_start=date(2026, 11, 2), count=2, points=10)

    merge = _merge(survivor, merged, agent)

    assert not merged.grants.exists() and survivor.grants.count() == 1
    assert ChannelIdentity.objects.filter(member=survivor).count() == 1
    assert survivor.subscription_quotas.get().remaining == 3
    assert Message.objects.filter(member=survivor).count() == 1
    assert SegmentMember.objects.filter(member=survivor).count() == 1
    assert CampaignAction.objects.filter(member=survivor).count() == 1
    assert ReferralCode.objects.get(code="MERGE01").member == survivor
    assert Referral.objects.get(referee=referee).referrer == survivor
    assert ClubMembership.objects.get(club=club).member == survivor and list(club.organiser_members.all()) == [survivor]
    assert Registration.objects.get().member == survivor
    assert ActivityEvent.objects.filter(member=survivor).count() == 2
    assert DailyMemberActivity.objects.get(day=date(2026, 11, 1)).events == 3
    assert not RfmScore.objects.filter(member=merged).exists()
    assert BlockEntry.objects.get().member == survivor
    assert TaskProgress.objects.get().member == survivor and SignIn.objects.get().member == survivor
    assert RuleAward.objects.get().member == survivor
    assert RuleCounter.objects.get().points == 15
    assert merge.moved["events"]["registrations"] == 1
    assert merge.moved["analytics"]["activity_events"] == 2
    assert merge.moved["benefits"]["grants"] == 1


def test_two_active_memberships_of_one_club_with_different_roles_are_a_conflict(pair, agent):
    survivor, merged = pair
    club = ClubFactory(name="上海车友会")
    ClubMembership.objects.create(club=club, member=survivor, role=ClubRole.MEMBER)
    ClubMembership.objects.create(club=club, member=merged, role=ClubRole.ORGANISER)
    conflicts = services.member_merge_conflicts(survivor=survivor, merged=merged)
    assert [(c.section, c.field) for c in conflicts] == [("clubs", f"club_{club.pk}")]
    with pytest.raises(ApplicationError) as refused:
        services.member_merge(survivor_id=survivor.pk, merged_id=merged.pk, actor=agent)
    assert refused.value.code == "merge_conflicts_undecided"

    _merge(survivor, merged, agent, **{f"clubs.club_{club.pk}": "merged"})

    active = ClubMembership.objects.get(club=club, left_at__isnull=True)
    assert (active.member, active.role) == (survivor, ClubRole.ORGANISER)
    assert ClubMembership.objects.filter(club=club, member=survivor).count() == 2


def test_two_openids_of_one_app_are_a_conflict_and_the_chosen_one_stays(pair, agent):
    survivor, merged = pair
    ChannelIdentityFactory(member=survivor, external_id="oSurvivor")
    ChannelIdentityFactory(member=merged, external_id="oMerged")
    conflicts = services.member_merge_conflicts(survivor=survivor, merged=merged)
    assert [c.section for c in conflicts] == ["identities"]
    assert "oMerged" not in str(conflicts[0].merged_value)  # masked

    _merge(survivor, merged, agent, **{f"identities.{conflicts[0].field}": "merged"})

    assert list(ChannelIdentity.objects.filter(member=survivor).values_list("external_id", flat=True)) == ["oMerged"]


def test_the_finder_lists_each_kind_of_duplicate_once_with_reason_and_score():
    a = MemberFactory(email="Ann@Example.com", name="张伟", city="杭州")
    b = MemberFactory(email="ann@example.com", name="李娜", city="北京")
    c = MemberFactory(external_id="CRM-001", email="", name="赵强", city="广州")
    d = MemberFactory(external_id=" crm-001", email="", name="钱芳", city="成都")
    e = MemberFactory(phone="+8613812345678", email="", name="孙丽", city="南京")
    f = MemberFactory(phone="+8613900000000", email="", name="周杰", city="南京")
    # A legacy row stored before phones were normalised.
    Member.objects.filter(pk=f.pk).update(phone="138-1234-5678")
    g = MemberFactory(email="", name="欧阳娜娜", city="深圳")
    h = MemberFactory(email="", name="欧阳娜", city="深圳")
    i = MemberFactory(email="", name="吴一", city="武汉")
    j = MemberFactory(email="", name="吴二", city="武汉")
    ChannelIdentityFactory(member=i, unionid="union-1", app_id="wx-oa")
    ChannelIdentityFactory(member=j, unionid="union-1", app_id="wx-mp", kind="mini_program")

    found = services.duplicates_find()

    pairs = {(p.member_a_id, p.member_b_id): (p.reason, p.score) for p in DuplicateCandidate.objects.all()}
    assert pairs[(a.pk, b.pk)] == (DuplicateReason.EMAIL, 90)
    assert pairs[(c.pk, d.pk)] == (DuplicateReason.EXTERNAL_ID, 100)
    assert pairs[(e.pk, f.pk)] == (DuplicateReason.PHONE, 100)
    assert pairs[(g.pk, h.pk)][0] == DuplicateReason.NAME_CITY and 40 <= pairs[(g.pk, h.pk)][1] < 90
    assert pairs[(i.pk, j.pk)] == (DuplicateReason.IDENTITY, 100)
    assert found.total == len(pairs) == 5
    assert services.duplicates_find().total == 0


def test_a_dismissed_pair_is_not_listed_again_and_a_decided_pair_cannot_be_dismissed(agent):
    a = MemberFactory(email="same@example.com")
    MemberFactory(email="same@example.com")
    services.duplicates_find()
    pair = DuplicateCandidate.objects.get(member_a=a)
    services.duplicate_dismiss(candidate=pair, actor=agent)
    services.duplicates_find()
    assert DuplicateCandidate.objects.get().state == DuplicateState.DISMISSED
    with pytest.raises(ApplicationError) as refused:
        services.duplicate_dismiss(candidate=pair, actor=agent)
    assert refused.value.code == "duplicate_decided"


def test_merged_and_anonymised_members_are_never_listed(agent):
    a = MemberFactory(email="x@example.com")
    b = MemberFactory(email="x@example.com", phone=None, external_id=None)
    MemberFactory(email="x@example.com", anonymised_at=timezone.now())
    _merge(a, b, agent)
    assert services.duplicates_find().total == 0
