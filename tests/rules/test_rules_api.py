"""The earning rules API (scope rules:manage): list, read, create, change, switch on and off, simulate, explain."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.analytics.models import ActivityEvent
from apps.core.models import ApiScope
from apps.rules.models import EarningRule, RuleStatus
from tests.analytics.factories import ActivityEventFactory
from tests.core.factories import ApiClientFactory
from tests.members.factories import MemberFactory, tier
from tests.rules.factories import EarningRuleFactory, event, ingest

pytestmark = pytest.mark.django_db
RULES = "/api/v1/rules/"
NEW = {"name": "Test drive", "kind": "test_drive_booked", "points": 200, "growth": 20, "cap_lifetime_count": 1}


@pytest.fixture
def api(trusted_client):
    return trusted_client([ApiScope.RULES_MANAGE])


def test_create_read_change_switch_on_and_off(api):
    client, _api_client = api
    gold = tier("gold").pk
    created = client.post(RULES, {**NEW, "tiers": [gold], "multipliers": [{"tier": gold, "multiplier": "1.50"}]}, format="json")
    assert created.status_code == 201, created.content
    rule = created.json()
    assert rule["status"] == RuleStatus.DRAFT and rule["points"] == 200 and rule["tiers"] == [tier("gold").pk]
    assert rule["multipliers"] == [{"tier": tier("gold").pk, "multiplier": "1.50"}]
    url = f"{RULES}{rule['id']}/"
    conditions = [{"property": "model", "op": "in", "value": ["ET5"]}]
    changed = client.patch(url, {"points": 150, "property_conditions": conditions}, format="json")
    assert changed.status_code == 200 and changed.json()["points"] == 150 and changed.json()["growth"] == 20
    assert changed.json()["tiers"] == [tier("gold").pk]  # fields not sent stay as they were
    assert client.post(f"{url}activate/").json()["status"] == RuleStatus.ACTIVE
    assert client.post(f"{url}pause/").json()["status"] == RuleStatus.PAUSED
    assert client.get(url).json()["status"] == RuleStatus.PAUSED
    listed = client.get(RULES, {"status": "paused"}).json()
    assert [row["id"] for row in listed["results"]] == [rule["id"]]
    assert client.get(RULES, {"status": "active"}).json()["count"] == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "no_such_kind"}, "kind"),
        ({"points": 0, "growth": 0}, "points"),
        ({"days_of_week": [8]}, "days_of_week"),
        ({"channels": ["fax"]}, "channels"),
        ({"property_conditions": [{"property": "model", "op": "like", "value": "E"}]}, "property_conditions"),
        ({"hour_from": 10, "hour_to": 9}, "hour_to"),
        ({"first_time_only": True, "nth_time": 2}, "nth_time"),
        ({"unit_size": "0"}, "unit_size"),
        ({"tiers": [999999]}, "tiers"),
        ({"benefit": 999999}, "benefit"),
        ({"multipliers": "gold at 0"}, "multipliers"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(api, fields, field):
    client, _api_client = api
    if fields.get("multipliers") == "gold at 0":
        fields = {"multipliers": [{"tier": tier("gold").pk, "multiplier": "0"}]}
    response = client.post(RULES, {**NEW, **fields}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not EarningRule.objects.exists()


def test_status_changes_the_rule_cannot_make_are_refused(api):
    client, _api_client = api
    rule = EarningRuleFactory(status=RuleStatus.ENDED)
    assert client.post(f"{RULES}{rule.pk}/activate/").status_code == 409
    assert client.patch(f"{RULES}{rule.pk}/", {"points": 1}, format="json").status_code == 409
    assert client.post(f"{RULES}{EarningRuleFactory(status=RuleStatus.DRAFT).pk}/pause/").status_code == 409
    assert client.get(f"{RULES}999999/").status_code == 404


def test_status_and_budget_used_cannot_be_written(api):
    client, _api_client = api
    rule = client.post(RULES, {**NEW, "status": "active", "budget_used": 5}, format="json").json()
    assert rule["status"] == RuleStatus.DRAFT and rule["budget_used"] == 0


def test_simulation_and_explain(trusted_client):
    client, _api_client = trusted_client([ApiScope.RULES_MANAGE, ApiScope.MEMBERS_READ])
    rule = EarningRuleFactory(kind="sign_in", points=5, cap_day_count=1, status=RuleStatus.ACTIVE)
    member = MemberFactory()
    at = timezone.now() - timedelta(minutes=10)
    ingest(ApiClientFactory(), event(member, at=at), event(member, at=at + timedelta(minutes=1)))
    simulated = client.get(f"{RULES}{rule.pk}/simulation/", {"days": 7}).json()
    assert (simulated["days"], simulated["activities"], simulated["awards"], simulated["points"]) == (7, 2, 1, 5)
    assert client.get(f"{RULES}{rule.pk}/simulation/", {"days": 0}).status_code == 400
    second = ActivityEvent.objects.filter(member=member).order_by("pk").values_list("pk", flat=True)[1]
    verdicts = client.get(f"{RULES}explain/", {"member": member.pk, "activity": second}).json()
    assert [(v["rule_id"], v["outcome"]) for v in verdicts] == [(rule.pk, "not_applied")]
    assert "Cap reached" in verdicts[0]["detail"]


def test_explain_refuses_another_members_activity_naming_the_field(trusted_client):
    client, _api_client = trusted_client([ApiScope.RULES_MANAGE, ApiScope.MEMBERS_READ])
    other = ActivityEventFactory(kind="sign_in")
    response = client.get(f"{RULES}explain/", {"member": MemberFactory().pk, "activity": other.pk})
    assert response.status_code == 404 and "activity" in response.json()["error"]["fields"]
    response = client.get(f"{RULES}explain/", {"member": "x", "activity": other.pk})
    assert response.status_code == 400 and "member" in response.json()["error"]["fields"]


def test_explain_needs_a_key_that_may_read_members(api):
    client, _api_client = api
    member = MemberFactory(status="frozen")
    activity = ActivityEventFactory(kind="sign_in", member=member)
    EarningRuleFactory(kind="sign_in", status=RuleStatus.ACTIVE)
    for asked in ({"member": member.pk, "activity": activity.pk}, {"member": member.pk + 1000, "activity": activity.pk}):
        response = client.get(f"{RULES}explain/", asked)
        assert response.status_code == 403 and "member" not in response.content.decode()


def test_a_key_without_the_scope_is_refused(trusted_client):
    client, _api_client = trusted_client([ApiScope.ACTIVITY_WRITE, ApiScope.ANALYTICS_READ])
    rule = EarningRuleFactory(status=RuleStatus.DRAFT)
    assert client.get(RULES).status_code == 403
    assert client.post(RULES, NEW, format="json").status_code == 403
    assert client.patch(f"{RULES}{rule.pk}/", {"points": 1}, format="json").status_code == 403
    assert client.post(f"{RULES}{rule.pk}/activate/").status_code == 403
    assert client.get(f"{RULES}{rule.pk}/simulation/").status_code == 403
    assert client.get(f"{RULES}explain/", {"member": 1, "activity": 1}).status_code == 403
    assert EarningRule.objects.get().status == RuleStatus.DRAFT
