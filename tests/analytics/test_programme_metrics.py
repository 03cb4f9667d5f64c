"""Metrics that read the other apps' tables: campaigns (conversion against holdout), points, benefits, events, tiers."""

from datetime import date, timedelta
from decimal import Decimal
from unittest.mock import patch

import pytest
from django.utils import timezone

from apps.analytics import selectors, services
from apps.analytics.selectors import MetricFilter
from apps.benefits import services as benefit_services
from apps.benefits.models import GrantSource
from apps.campaigns.models import ActionOutcome, CampaignAction, CampaignRun
from apps.events.models import Registration, RegistrationState
from apps.members import services as member_services
from apps.members.models import PointsEntryKind, TierChange, TierChangeKind
from tests.analytics.factories import local, purchase
from tests.benefits.factories import BenefitFactory
from tests.campaigns.factories import CampaignFactory
from tests.events.factories import EventFactory
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db
MARCH = MetricFilter(start=date(2026, 3, 1), end=date(2026, 3, 31))


def test_campaign_conversion_against_holdout(settings) -> None:
    """4 acted on 03-10 12:00: two buy within 14 days (03-10 and 03-24), one on 03-25 (too late), one never.
    2 held out: one buys on 03-12. Conversion 50 %, holdout 50 %, uplift 0; cost 40 → 20 per conversion."""
    settings.USEROPS_ANALYTICS = {**settings.USEROPS_ANALYTICS, "CONVERSION_WINDOW_DAYS": 14}
    campaign = CampaignFactory()
    run = CampaignRun.objects.create(campaign=campaign, cost=Decimal("40.00"))
    CampaignRun.objects.filter(pk=run.pk).update(created_at=local(2026, 3, 10, 11))
    acted_at = local(2026, 3, 10, 12)
    acted = [MemberFactory() for _ in range(4)]
    held = [MemberFactory() for _ in range(2)]
    for member in acted:
        CampaignAction.objects.create(run=run, campaign=campaign, member=member, outcome=ActionOutcome.ACTED, created_at=acted_at)
    for member in held:
        CampaignAction.objects.create(run=run, campaign=campaign, member=member, outcome=ActionOutcome.HELD_OUT, created_at=acted_at)
    purchase(acted[0], local(2026, 3, 10, 20), "10.00")
    purchase(acted[1], local(2026, 3, 24, 23, 59), "10.00")
    purchase(acted[2], local(2026, 3, 25, 0, 1), "10.00")
    purchase(held[0], local(2026, 3, 12, 9), "10.00")
    services.rollup_run()
    [row] = selectors.campaign_summary(f=MARCH).rows
    assert row[1:] == [4, Decimal("40.00"), 2, Decimal("50.0"), 2, Decimal("50.0"), Decimal("0.0"), Decimal("20.00")]


def test_points_issued_spent_and_liability(settings) -> None:
    settings.USEROPS = {**settings.USEROPS, "POINT_VALUE_YUAN": "0.05"}
    member = MemberFactory()
    member_services.points_earn(member=member, amount=1000, reason="test")
    member_services.points_spend(member=member, amount=300, reason="test")
    today = selectors.local_today()
    figure = selectors.points_summary(f=MetricFilter(start=today, end=today))
    assert figure.headline == {
        "opening": 0,
        "issued": 1000,
        "spent": 300,
        "expired": 0,
        "adjusted": 0,
        "reversed": 0,
        "closing": 700,
        "outstanding": 700,
        "liability": Decimal("35.00"),
    }
    yesterday = today - timedelta(days=1)
    assert selectors.points_summary(f=MetricFilter(start=yesterday, end=yesterday)).headline["issued"] == 0


def test_benefit_redemption_rate_cost_and_value() -> None:
    benefit = BenefitFactory(face_value=Decimal("50.00"), unit_cost=Decimal("30.00"), points_price=None)
    grants = [benefit_services.grant_issue(benefit=benefit, member=MemberFactory(), source=GrantSource.STAFF) for _ in range(4)]
    benefit_services.grant_redeem(code=grants[0].code, channel="pos")
    benefit_services.grant_revoke(grant=grants[1], reason="test")
    today = selectors.local_today()
    [row] = selectors.benefit_summary(f=MetricFilter(start=today, end=today)).rows
    # 4 issued, 1 revoked: 1 redeemed of 3 → 33.3 %; cost 3 × 30; value redeemed 50; density 50 / 30
    assert row[1:] == [4, 1, Decimal("33.3"), Decimal("90.00"), Decimal("50.00"), Decimal("1.67")]


def test_event_registration_attendance_and_no_show_rates() -> None:
    event = EventFactory(capacity=10, starts_at=timezone.now() - timedelta(hours=3), ends_at=timezone.now() - timedelta(hours=1))
    for state in [RegistrationState.ATTENDED] * 3 + [RegistrationState.NO_SHOW] + [RegistrationState.CANCELLED]:
        Registration.objects.create(event=event, member=MemberFactory(), state=state)
    today = timezone.localtime(event.starts_at).date()
    [row] = selectors.event_summary(f=MetricFilter(start=today, end=today)).rows
    assert row[2:] == [10, 4, Decimal("40.0"), 3, 1, Decimal("75.0"), Decimal("25.0")]


def test_tier_distribution_and_movements() -> None:
    promoted = MemberFactory()
    MemberFactory()
    TierChange.objects.create(
        member=promoted,
        kind=TierChangeKind.PROMOTION,
        from_tier=tier("basic"),
        to_tier=tier("silver"),
        growth_value=1,
        reason="t",
        created_at=local(2026, 3, 31, 23, 30),
    )
    TierChange.objects.create(
        member=promoted,
        kind=TierChangeKind.DEMOTION,
        from_tier=tier("silver"),
        to_tier=tier("basic"),
        growth_value=1,
        reason="t",
        created_at=local(2026, 4, 1, 0, 30),
    )
    moves = selectors.tier_movements(f=MetricFilter(start=date(2026, 3, 1), end=date(2026, 4, 30))).rows
    assert moves == [[date(2026, 3, 1), 1, 0], [date(2026, 4, 1), 0, 1]]  # local months, not UTC ones
    services.rfm_score_members()  # the nightly scoring keeps the per-slice member summary
    rows = {row[0]: row[2] for row in selectors.tier_distribution(f=MARCH).rows}
    assert rows[tier("basic").name] == 2
    shanghai = MetricFilter(start=MARCH.start, end=MARCH.end, city="上海", tier_id=tier("basic").pk)
    assert selectors.tier_distribution(f=shanghai).headline["members"] == 2
    assert selectors.tier_distribution(f=MetricFilter(start=MARCH.start, end=MARCH.end, city="北京")).headline["members"] == 0


def test_points_statement_adds_up_after_a_negative_adjustment(staff) -> None:
    """By hand, local days of November 2026, range 11-15 … 11-19:
    before: A earns 1,000 and B 500 on 11-10; D earns 100 on 11-01, due 11-16   → opening 1,600
    11-16: A spends 200; B is adjusted −300 and A +50                         → spent 200, adjusted −250
    11-17: A's spend is reversed (+200); D's 100 expire                        → reversed +200, expired 100
    11-18: C's 400 are migrated                                                → issued 400
    11-20 (after the range): A earns 70
    closing = 1,600 + 400 − 200 − 100 − 250 + 200 = 1,650 (A 1,050, B 200, C 400)
    """
    a, b, c, d = (MemberFactory() for _ in range(4))
    manager = staff(is_superuser=True)
    with patch("django.utils.timezone.now", return_value=local(2026, 11, 1, 10)):
        member_services.points_earn(member=d, amount=100, reason="test", expires_at=local(2026, 11, 16, 12))
    with patch("django.utils.timezone.now", return_value=local(2026, 11, 10, 10)):
        member_services.points_earn(member=a, amount=1000, reason="test")
        member_services.points_earn(member=b, amount=500, reason="test")
    with patch("django.utils.timezone.now", return_value=local(2026, 11, 16, 10)):
        spend = member_services.points_spend(member=a, amount=200, reason="test")
        member_services.points_adjust(member=b, amount=-300, reason="correction", actor=manager)
        member_services.points_adjust(member=a, amount=50, reason="goodwill", actor=manager)
    with patch("django.utils.timezone.now", return_value=local(2026, 11, 17, 10)):
        member_services.points_reverse(entry=spend, reason="refund")
        member_services.points_expire_due(now=local(2026, 11, 17, 10))
    with patch("django.utils.timezone.now", return_value=local(2026, 11, 18, 10)):
        member_services.points_earn(member=c, amount=400, reason="test", kind=PointsEntryKind.MIGRATE)
    with patch("django.utils.timezone.now", return_value=local(2026, 11, 20, 10)):
        member_services.points_earn(member=a, amount=70, reason="test")

    figure = selectors.points_summary(f=MetricFilter(start=date(2026, 11, 15), end=date(2026, 11, 19)))

    h = figure.headline
    assert (h["opening"], h["issued"], h["spent"], h["expired"], h["adjusted"], h["reversed"], h["closing"]) == (
        1600,
        400,
        200,
        100,
        -250,
        200,
        1650,
    )
    assert h["opening"] + h["issued"] - h["spent"] - h["expired"] + h["adjusted"] + h["reversed"] == h["closing"]
    assert [row[1] for row in figure.rows] == [1600, 400, -200, -100, -250, 200, 1650]
    assert h["outstanding"] == 1720
