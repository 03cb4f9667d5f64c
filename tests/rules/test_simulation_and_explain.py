"""The simulation over stored activity and "why did (or didn't) this member earn"."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.analytics.models import ActivityEvent
from apps.rules import selectors, services
from apps.rules.models import EarningRule, RuleStatus
from tests.analytics.factories import ActivityEventFactory
from tests.core.factories import ApiClientFactory
from tests.members.factories import MemberFactory, tier
from tests.rules.factories import EarningRuleFactory, event, ingest

pytestmark = pytest.mark.django_db


def test_simulation_over_the_last_30_days_applies_conditions_and_caps(settings):
    settings.USEROPS = {**settings.USEROPS, "POINT_VALUE_YUAN": "0.02"}
    now = timezone.now()
    a, b, gold = MemberFactory(), MemberFactory(), MemberFactory(tier=tier("gold"))
    for member in (a, b):
        for days_ago in (1, 1, 2):  # two sign-ins on one day: the daily cap stops one
            ActivityEventFactory(member=member, kind="sign_in", occurred_at=now - timedelta(days=days_ago, minutes=days_ago))
    ActivityEventFactory(member=a, kind="sign_in", occurred_at=now - timedelta(days=40))  # outside the window
    ActivityEventFactory(member=gold, kind="share", occurred_at=now - timedelta(days=1))  # another kind
    rule = services.rule_save(rule=EarningRule(name="Sign-in", kind="sign_in", points=10, growth=1, cap_day_count=1))
    result = selectors.rule_simulate(rule=rule, now=now)
    assert (result.activities, result.awards, result.members, result.points, result.growth) == (6, 4, 2, 40, 4)
    assert result.stopped_by_caps == 2 and result.cost == Decimal("0.80")
    assert sum(day["points"] for day in result.by_day) == 40


def test_simulation_respects_member_conditions_budget_and_first_time():
    now = timezone.now()
    basic, gold = MemberFactory(), MemberFactory(tier=tier("gold"))
    for member in (basic, gold, gold):
        ActivityEventFactory(member=member, kind="community_post", occurred_at=now - timedelta(days=3))
    rule = services.rule_save(
        rule=EarningRule(name="Post", kind="community_post", points=30, first_time_only=True, budget_points=45), tiers=[tier("gold")]
    )
    result = selectors.rule_simulate(rule=rule, now=now)
    assert (result.awards, result.points, result.members) == (1, 30, 1)
    rule = services.rule_save(rule=EarningRule(name="Any post", kind="community_post", points=30, budget_points=45))
    result = selectors.rule_simulate(rule=rule, now=now)
    assert (result.awards, result.points, result.stopped_by_caps) == (2, 45, 1)


def test_explain_names_the_award_the_failed_condition_and_the_cap():
    client = ApiClientFactory()
    member = MemberFactory()
    paid = EarningRuleFactory(kind="sign_in", points=10, cap_day_count=1, name="Daily sign-in", priority=1)
    vip = EarningRuleFactory(kind="sign_in", points=50, name="VIP sign-in", priority=2)
    vip.tiers.set([tier("vip")])
    weekend = EarningRuleFactory(kind="sign_in", points=5, name="Weekend", days_of_week=[6, 7], priority=3)
    paused = EarningRuleFactory(kind="sign_in", points=5, name="Paused", status=RuleStatus.PAUSED, priority=4)
    EarningRuleFactory(kind="sign_in", points=5, name="Draft", status=RuleStatus.DRAFT)
    services.rules_changed()
    monday = timezone.make_aware(timezone.datetime(2026, 11, 30, 10), timezone.get_default_timezone())
    ingest(client, event(member, at=monday, event_id="first"), event(member, at=monday + timedelta(hours=1), event_id="second"))
    first = ActivityEvent.objects.get(event_id="first")
    second = ActivityEvent.objects.get(event_id="second")
    verdicts = {v.rule_id: v for v in selectors.earning_explain(member=member, activity=first)}
    assert set(verdicts) == {paid.pk, vip.pk, weekend.pk, paused.pk}
    assert verdicts[paid.pk].outcome == "paid" and verdicts[paid.pk].points == 10
    assert "tier" in verdicts[vip.pk].detail
    assert "days of the week" in verdicts[weekend.pk].detail
    assert "paused" in verdicts[paused.pk].detail.lower()
    second_verdicts = {v.rule_id: v for v in selectors.earning_explain(member=member, activity=second)}
    assert second_verdicts[paid.pk].outcome == "not_applied" and "Cap reached" in second_verdicts[paid.pk].detail
    assert selectors.earning_explain(member=MemberFactory(), activity=first) == []


def test_metrics_count_awards_per_rule_and_cost_per_month(settings):
    settings.USEROPS = {**settings.USEROPS, "POINT_VALUE_YUAN": "0.01"}
    client = ApiClientFactory()
    rule = EarningRuleFactory(kind="sign_in", points=100)
    members = MemberFactory.create_batch(3)
    ingest(client, *[event(m, at=timezone.now() - timedelta(hours=1)) for m in members])
    metrics = selectors.rules_metrics()
    row = next(r for r in metrics["rules"] if r["rule_id"] == rule.pk)
    assert (row["paid"], row["held"], row["rejected"], row["points"], row["cost"]) == (3, 0, 0, 300, Decimal("3.00"))
    assert sum(m["points"] for m in metrics["months"]) == 300 and metrics["totals"]["cost"] == Decimal("3.00")
