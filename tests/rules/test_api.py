"""Earning rules through the ingest endpoint: points in each item's answer, a registered kind's bad property named."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.analytics.models import RegisteredActivityKind
from apps.analytics.services.kinds import activity_kind_save
from apps.core.models import ApiScope
from apps.rules.models import RuleAward
from tests.members.factories import MemberFactory
from tests.rules.factories import EarningRuleFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/activity/batch/"


def test_the_ingest_endpoint_answers_the_points_rules_paid(trusted_client):
    api, _client = trusted_client([ApiScope.ACTIVITY_WRITE])
    EarningRuleFactory(kind="sign_in", points=10, cap_day_count=1)
    activity_kind_save(
        kind=RegisteredActivityKind(code="charging_session", name="Charging", properties_schema={"type": "object", "required": ["kwh"]})
    )
    member = MemberFactory()
    at = (timezone.now() - timedelta(minutes=1)).isoformat()
    events = [
        {"event_id": "a", "member_id": member.pk, "kind": "sign_in", "occurred_at": at},
        {"event_id": "b", "member_id": member.pk, "kind": "sign_in", "occurred_at": at},
        {"event_id": "c", "member_id": member.pk, "kind": "charging_session", "occurred_at": at, "properties": {}},
    ]
    response = api.post(URL, {"events": events}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["points_awarded"] == 10
    items = {item["event_id"]: item for item in body["items"]}
    assert items["a"]["points"] == 10 and items["b"]["points"] == 0
    assert items["c"]["status"] == "rejected" and items["c"]["fields"].keys() == {"properties.kwh"}
    again = api.post(URL, {"events": events[:1]}, format="json", HTTP_IDEMPOTENCY_KEY="k2").json()
    assert again["duplicates"] == 1 and again["points_awarded"] == 0
    assert RuleAward.objects.count() == 1
