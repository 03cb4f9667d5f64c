"""Segment rules are bounded (size, depth, values) and their counts run under a statement timeout: no 500, no runaway query."""

import json

import pytest
from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.urls import reverse

from apps.campaigns import selectors, services
from apps.campaigns.conditions import CONDITIONS, Condition, compile_rules
from apps.campaigns.models import Segment
from apps.core.errors import ApplicationError
from apps.core.roles import CAMPAIGN_MANAGER
from tests.campaigns.factories import CampaignFactory, SegmentFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

THREE_THOUSAND = {"op": "or", "conditions": [{"field": "city", "value": [f"city {n}"]} for n in range(3000)]}
TOO_DEEP = {"field": "city", "value": ["上海"]}
for _level in range(7):
    TOO_DEEP = {"op": "and", "conditions": [TOO_DEEP]}

REFUSED = [
    (THREE_THOUSAND, "at most 100 conditions"),
    (TOO_DEEP, "nested too deep"),
    ({"field": "joined", "operator": "within_days", "value": 10**12}, "number of days between 1 and 36500"),
    ({"field": "last_activity", "operator": "within_days", "value": 10**12}, "number of days between 1 and 36500"),
    ({"field": "last_activity", "operator": "within_days", "value": 0}, "number of days between 1 and 36500"),
    ({"field": "points_balance", "operator": "gte", "value": 10**30}, "whole number between"),
    ({"field": "city", "value": ["上海\x00"]}, "cannot contain the NUL character"),
    ({"field": "city", "value": ["x" * 101]}, "at most 100 characters"),
    ({"field": "city", "value": ["上海"] * 501}, "at most 500 values"),
    ({"field": "birthday_month", "value": [1] * 13}, "months 1–12"),
    ({"field": ["city"], "value": ["上海"]}, "unknown field"),
    ({"field": "city\x00", "value": ["上海"]}, "unknown field"),
]


@pytest.mark.parametrize(("rules", "message"), REFUSED)
def test_unbounded_rules_are_refused_with_a_clear_error(rules, message):
    with pytest.raises(ApplicationError) as refused:
        compile_rules(rules)
    assert refused.value.code == "invalid_segment_rule" and message in refused.value.message


def test_rules_within_the_bounds_still_compile_and_count():
    rules = {"op": "or", "conditions": [{"field": "city", "value": [f"city {n}"]} for n in range(99)]}
    MemberFactory(city="city 7")
    assert selectors.segment_preview(rules=rules, can_see_personal=True)["count"] == 1


@pytest.mark.parametrize(("rules", "message"), REFUSED)
def test_the_admin_preview_answers_400_with_the_reason(client, staff, rules, message):
    client.force_login(staff(CAMPAIGN_MANAGER))
    response = client.post(reverse("admin:campaigns_segment_preview"), json.dumps(rules), content_type="application/json")
    assert response.status_code == 400 and message in response.json()["error"]


def test_the_admin_segment_form_refuses_bad_rules_on_the_field(client, staff):
    client.force_login(staff(CAMPAIGN_MANAGER))
    response = client.post(
        reverse("admin:campaigns_segment_add"),
        {"name": "NUL", "description": "", "rules": json.dumps({"field": "city", "value": ["a\x00"]})},
    )
    assert response.status_code == 200
    assert "cannot contain the NUL character" in response.content.decode()
    assert not Segment.objects.filter(name="NUL").exists()


@pytest.fixture
def slow_condition(monkeypatch, settings):
    """A condition whose subquery sleeps, standing for a rule set that is expensive on a large programme."""
    if connection.vendor != "postgresql":
        pytest.skip("statement timeouts are a PostgreSQL feature")
    slow = RawSQL("SELECT id FROM members_member WHERE pg_sleep(0.5) IS NOT NULL", [])
    monkeypatch.setitem(CONDITIONS, "slow", Condition("slow", "slow", ("in",), lambda operator, value, path: Q(pk__in=slow), "list"))
    settings.USEROPS = {**settings.USEROPS, "SEGMENT_QUERY_TIMEOUT_MS": 100}
    MemberFactory()
    return {"field": "slow", "value": ["x"]}


def test_a_preview_that_runs_too_long_is_stopped_by_the_database(client, staff, slow_condition):
    client.force_login(staff(CAMPAIGN_MANAGER))
    response = client.post(reverse("admin:campaigns_segment_preview"), json.dumps(slow_condition), content_type="application/json")
    assert response.status_code == 400 and "took too long and was stopped" in response.json()["error"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        assert cursor.fetchone()[0] == "0", "the limit applies to the preview only"


def test_a_launch_whose_count_runs_too_long_is_refused_and_nothing_starts(slow_condition):
    campaign = CampaignFactory(segment=SegmentFactory(rules=slow_condition), points_amount=10)
    with pytest.raises(ApplicationError) as refused:
        services.campaign_launch(campaign=campaign, dry_run=True)
    assert refused.value.code == "segment_query_timeout"
    assert not campaign.runs.exists()
