"""The batch API: validation per item, idempotency by event id, purchase earning, the activity our services record."""

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.analytics.models import ActivityEvent, ActivityKind
from apps.core.models import ApiScope
from apps.members.models import GrowthEntry, Member, PointsEntry
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db
URL = "/api/v1/activity/batch/"


def _post(api, events, key="k1"):
    return api.post(URL, {"events": events}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_valid_events_are_stored_and_invalid_ones_reported(trusted_client):
    api, client = trusted_client([ApiScope.ACTIVITY_WRITE])
    member = MemberFactory()
    events = [
        {"event_id": "e1", "member_id": member.pk, "kind": "app_open", "occurred_at": "2026-03-01T23:59:59+08:00", "channel": "app"},
        {"event_id": "e2", "external_id": member.external_id, "kind": "survey", "occurred_at": "2026-03-02T10:00:00", "nps_score": 9},
        {"event_id": "e3", "member_id": member.pk, "kind": "purchase", "occurred_at": "2026-03-02T10:00:00+08:00"},
        {"event_id": "e4", "member_id": 999999, "kind": "login", "occurred_at": "2026-03-02T10:00:00+08:00"},
        {"event_id": "e5", "member_id": member.pk, "kind": "survey", "occurred_at": "2026-03-02T10:00:00+08:00", "nps_score": 11},
        {"event_id": "e6", "member_id": member.pk, "kind": "teleport", "occurred_at": "2026-03-02T10:00:00+08:00"},
        {"event_id": "e7", "member_id": member.pk, "kind": "login", "occurred_at": "2099-01-01T00:00:00+08:00"},
        {"event_id": "e8", "member_id": member.pk, "kind": "login", "occurred_at": "yesterday"},
        {"event_id": "e9", "member_id": member.pk, "kind": "login", "occurred_at": "2026-03-02T10:00:00+08:00", "amount": "5"},
        "not an object",
        {"member_id": member.pk, "kind": "login", "occurred_at": "2026-03-02T10:00:00+08:00"},
        {"event_id": "e1", "member_id": member.pk, "kind": "app_open", "occurred_at": "2026-03-01T23:59:59+08:00"},
    ]
    response = _post(api, events)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["duplicates"], body["rejected"]) == (2, 1, 9)
    by_index = {item["index"]: item for item in body["items"]}
    assert by_index[2]["fields"] == {"amount": by_index[2]["fields"]["amount"]} and by_index[2]["code"] == "required"
    assert by_index[3]["code"] == "member_not_found" and "member_id" in by_index[3]["fields"]
    assert "nps_score" in by_index[4]["fields"]
    assert "kind" in by_index[5]["fields"]
    assert by_index[6]["code"] == "in_future"
    assert "occurred_at" in by_index[7]["fields"]
    assert by_index[8]["code"] == "not_allowed"
    assert by_index[9]["fields"] == {"item": by_index[9]["fields"]["item"]}
    assert by_index[10]["code"] == "required"
    assert by_index[11]["status"] == "duplicate"
    stored = ActivityEvent.objects.get(event_id="e2")
    assert stored.source == f"client:{client.pk}" and stored.nps_score == 9
    assert stored.occurred_at.isoformat() == "2026-03-02T02:00:00+00:00"  # no offset: read as Shanghai time


def test_retried_event_ids_are_stored_once_and_earn_once(trusted_client):
    api, _client = trusted_client([ApiScope.ACTIVITY_WRITE])
    member = MemberFactory()
    purchase = {
        "event_id": "order-1",
        "member_id": member.pk,
        "kind": "purchase",
        "occurred_at": "2026-03-02T10:00:00+08:00",
        "amount": "199.90",
    }
    first = _post(api, [purchase], key="a").json()
    assert first["created"] == 1 and first["points_awarded"] == 199
    again = _post(api, [purchase], key="b").json()  # a new request carrying the same event
    assert again["created"] == 0 and again["duplicates"] == 1 and again["points_awarded"] == 0
    replay = _post(api, [purchase], key="a")  # the same request retried: the stored answer
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == first
    assert ActivityEvent.objects.filter(event_id="order-1").count() == 1
    assert PointsEntry.objects.filter(account__member=member).count() == 1
    assert GrowthEntry.objects.get(member=member).amount == 199


def test_purchase_points_follow_the_tier_multiplier_and_settings(trusted_client, settings):
    settings.USEROPS_ANALYTICS = {**settings.USEROPS_ANALYTICS, "POINTS_PER_YUAN": "2", "GROWTH_PER_YUAN": "0.5"}
    gold = tier("gold")
    gold.points_multiplier = Decimal("1.50")
    gold.save()
    member = MemberFactory(tier=gold)
    api, _client = trusted_client([ApiScope.ACTIVITY_WRITE])
    body = _post(
        api, [{"event_id": "o", "member_id": member.pk, "kind": "purchase", "occurred_at": "2026-03-02T10:00:00+08:00", "amount": "100.33"}]
    ).json()
    assert body["points_awarded"] == 300  # 100.33 × 2 × 1.5 = 300.99, rounded down
    assert GrowthEntry.objects.get(member=member).amount == 50


def test_frozen_member_purchase_is_stored_but_earns_nothing(trusted_client):
    from apps.members.services import member_freeze

    member = member_freeze(member=MemberFactory(), reason="test")
    api, _client = trusted_client([ApiScope.ACTIVITY_WRITE])
    body = _post(
        api, [{"event_id": "o", "member_id": member.pk, "kind": "purchase", "occurred_at": "2026-03-02T10:00:00+08:00", "amount": "10"}]
    ).json()
    assert body["created"] == 1 and body["points_awarded"] == 0


def test_batch_limits_scope_and_key(trusted_client):
    api, _client = trusted_client([ApiScope.ACTIVITY_WRITE])
    member = MemberFactory()
    too_many = [
        {"event_id": f"e{n}", "member_id": member.pk, "kind": "login", "occurred_at": "2026-03-02T10:00:00+08:00"} for n in range(1001)
    ]
    response = _post(api, too_many)
    assert response.status_code == 400 and response.json()["error"]["code"] == "batch_too_large"
    assert _post(api, [], key="k2").json()["error"]["code"] == "invalid_batch"
    assert api.post(URL, {"events": too_many[:1]}, format="json").json()["error"]["code"] == "idempotency_key_missing"
    other, _c = trusted_client([ApiScope.POINTS_WRITE])
    assert _post(other, too_many[:1]).status_code == 403
    full = _post(api, too_many[:1000], key="k3").json()
    assert full["created"] == 1000


def test_redemption_check_in_and_referral_are_recorded_after_commit(django_capture_on_commit_callbacks):
    from apps.benefits import services as benefit_services
    from apps.benefits.models import GrantSource
    from tests.benefits.factories import BenefitFactory

    member = MemberFactory()
    with django_capture_on_commit_callbacks(execute=True):
        grant = benefit_services.grant_issue(benefit=BenefitFactory(), member=member, source=GrantSource.STAFF)
        redemption = benefit_services.grant_redeem(code=grant.code, channel="pos", order_ref="POS-1")
    event = ActivityEvent.objects.get(member=member)
    assert (event.kind, event.event_id, event.channel, event.order_ref) == (
        ActivityKind.BENEFIT_REDEMPTION,
        f"redemption:{redemption.pk}",
        "pos",
        "POS-1",
    )
    from apps.core.activity import activity_happened

    with django_capture_on_commit_callbacks(execute=True):  # announced again (a replay): stored once
        activity_happened(member_id=member.pk, kind="benefit_redemption", event_id=f"redemption:{redemption.pk}")
    assert ActivityEvent.objects.filter(member=member).count() == 1


def test_a_failing_recorder_never_undoes_a_redemption_over_the_api(trusted_client, monkeypatch, django_capture_on_commit_callbacks):
    from apps.benefits import services as benefit_services
    from apps.benefits.models import GrantSource, GrantState, Redemption
    from apps.core import activity
    from tests.benefits.factories import BenefitFactory

    def broken_recorder(**event: object) -> None:
        raise RuntimeError("analytics is down")

    monkeypatch.setattr(activity, "RECORDERS", [broken_recorder, *activity.RECORDERS])
    api, _client = trusted_client(scopes=[ApiScope.BENEFITS_REDEEM])
    member = MemberFactory()
    grant = benefit_services.grant_issue(benefit=BenefitFactory(), member=member, source=GrantSource.STAFF)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            reverse("api-v1:grant-redeem"), {"code": grant.code, "channel": "pos"}, format="json", HTTP_IDEMPOTENCY_KEY="r-1"
        )
    assert response.status_code == 201 and response.json()["state"] == GrantState.REDEEMED
    grant.refresh_from_db()
    assert grant.state == GrantState.REDEEMED and Redemption.objects.filter(grant=grant).count() == 1
    # The other recorders still ran.
    assert ActivityEvent.objects.filter(member=member, kind=ActivityKind.BENEFIT_REDEMPTION).count() == 1


def test_admin_and_api_endpoints_need_the_right(trusted_client, api, staff):
    reader, _client = trusted_client([ApiScope.ANALYTICS_READ])
    assert reader.get(reverse("api-v1:metric", args=["daily"])).status_code == 200
    assert reader.get(reverse("api-v1:metric", args=["nope"])).status_code == 404
    assert reader.get(reverse("api-v1:metric", args=["daily"]), {"start": "bad"}).json()["error"]["code"] == "invalid_date"
    writer, _client = trusted_client([ApiScope.ACTIVITY_WRITE])
    assert writer.get(reverse("api-v1:metric", args=["daily"])).status_code == 403
    assert api.get(reverse("api-v1:metrics")).status_code in (401, 403)


def test_a_refused_reaction_keeps_the_event_and_writes_nothing_of_its_own(trusted_client, monkeypatch):
    """Reactions run in their own savepoints: one that writes points and is then refused leaves no trace, the next
    one still runs, the event stays stored and the answer counts only what was kept."""
    from apps.core import activity
    from apps.core.errors import ApplicationError
    from apps.members.services import points_earn

    def earns_then_refuses(event):
        points_earn(member=Member.objects.get(pk=event.member_id), amount=5, reason="test", source_ref="refused")
        raise ApplicationError("refused", "No.")

    def earns(event):
        points_earn(member=Member.objects.get(pk=event.member_id), amount=7, reason="test", source_ref="kept")
        return 7

    monkeypatch.setitem(activity.HANDLERS, ActivityKind.LOGIN, [earns_then_refuses, earns])
    api, _client = trusted_client([ApiScope.ACTIVITY_WRITE])
    member = MemberFactory()
    body = _post(api, [{"event_id": "l1", "member_id": member.pk, "kind": "login", "occurred_at": "2026-03-02T10:00:00+08:00"}]).json()
    assert body["created"] == 1 and body["points_awarded"] == 7 and body["items"][0]["points"] == 7
    assert list(PointsEntry.objects.filter(account__member=member).values_list("source_ref", flat=True)) == ["kept"]
    assert ActivityEvent.objects.filter(event_id="l1").exists()


def test_analytics_imports_no_services_of_members_or_campaigns():
    """Analytics reads; what moves points reacts to its events through apps.core.activity."""
    import ast
    from pathlib import Path

    import apps.analytics

    forbidden = ("apps.members.services", "apps.campaigns.services")
    found = []
    for path in Path(apps.analytics.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            found += [f"{path.name}: {name}" for name in names if name.startswith(forbidden)]
    assert found == []


def test_properties_device_and_address_are_stored_and_malformed_ones_named(trusted_client):
    api, _client = trusted_client([ApiScope.ACTIVITY_WRITE])
    member = MemberFactory()
    at = "2026-03-02T10:00:00+08:00"
    base = {"member_id": member.pk, "kind": "login", "occurred_at": at}
    events = [
        {**base, "event_id": "p1", "properties": {"screen": "首页", "n": 3}, "device_id": "dev-1", "client_ip": "10.0.0.7"},
        {**base, "event_id": "p2", "properties": ["not", "an", "object"]},
        {**base, "event_id": "p3", "properties": {f"k{i}": i for i in range(51)}},
        {**base, "event_id": "p4", "properties": {"blob": "x" * 5000}},
        {**base, "event_id": "p5", "client_ip": "999.1.1.1"},
        {**base, "event_id": "p6", "device_id": "d" * 65},
    ]
    body = _post(api, events).json()
    assert (body["created"], body["rejected"]) == (1, 5)
    codes = {item["event_id"]: (item.get("code"), sorted(item.get("fields", {}))) for item in body["items"]}
    assert codes["p2"] == ("invalid", ["properties"])
    assert codes["p3"] == ("too_large", ["properties"])
    assert codes["p4"] == ("too_large", ["properties"])
    assert codes["p5"] == ("invalid", ["client_ip"])
    assert codes["p6"] == ("invalid", ["device_id"])
    stored = ActivityEvent.objects.get(event_id="p1")
    assert (stored.properties, stored.device_id, stored.client_ip) == ({"screen": "首页", "n": 3}, "dev-1", "10.0.0.7")


def test_a_batch_handler_gets_the_new_events_of_a_batch_at_once(trusted_client):
    from apps.core import activity

    api, _client = trusted_client([ApiScope.ACTIVITY_WRITE])
    member = MemberFactory()
    seen: list[list[tuple[str, bool, str]]] = []

    def handler(events):
        seen.append([(event.event_id, event.first_of_kind, event.device_id) for event in events])
        return {event.pk: 2 for event in events if event.kind == "login"}

    at = "2026-03-02T10:00:00+08:00"
    activity.register_activity_batch_handler(handler, concerns=lambda kinds: True)
    try:
        _post(api, [{"event_id": "b0", "member_id": member.pk, "kind": "login", "occurred_at": at}], key="b0")
        body = _post(
            api,
            [
                {"event_id": "b1", "member_id": member.pk, "kind": "login", "occurred_at": at, "device_id": "d1"},
                {"event_id": "b0", "member_id": member.pk, "kind": "login", "occurred_at": at},
                {"event_id": "b2", "member_id": member.pk, "kind": "app_open", "occurred_at": at},
            ],
            key="b1",
        ).json()
    finally:
        activity.BATCH_HANDLERS.remove(handler)
    assert seen == [[("b0", True, "")], [("b1", False, "d1"), ("b2", True, "")]]
    assert body["points_awarded"] == 2
    assert {item["event_id"]: item.get("points") for item in body["items"]} == {"b1": 2, "b0": None, "b2": 0}
