"""Reasons the system writes are stored as a code with parameters and read in the reader's language."""

import pytest
from django.urls import reverse
from django.utils import translation

from apps.core.reasons import Reason, render_reason
from apps.events import services as event_services
from apps.members import services
from apps.members.models import PointsEntry, TierChange
from tests.events.factories import EventFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def in_both(row) -> tuple[str, str]:
    with translation.override("en"):
        english = row.reason_text
    with translation.override("zh-hans"):
        chinese = row.reason_text
    return english, chinese


def test_enrolment_and_promotion_are_written_as_codes_and_read_in_each_language():
    member = services.member_enrol(name="Ann", phone="+8613800138000")
    services.growth_add(member=member, amount=1123, reason=Reason("purchase"))
    initial, promotion = TierChange.objects.filter(member=member).order_by("created_at", "id")
    assert (initial.reason_code, in_both(initial)) == ("enrolment", ("Enrolment", "入会"))
    assert promotion.reason_code == "tier_promoted"
    assert promotion.reason_params == {"value": 1123, "tier": {"en": "Silver", "zh-hans": "银卡会员"}, "threshold": 1000}
    assert in_both(promotion) == (
        "Growth value 1123 reached the Silver threshold of 1000.",
        "成长值 1123 达到银卡会员门槛 1000。",
    )


def test_system_ledger_reasons_render_in_the_readers_language_and_staff_text_stays_as_typed(staff):
    member = MemberFactory()
    event = EventFactory(points_price=100)
    services.points_earn(member=member, amount=500, reason=Reason("opening_balance_import"))
    services.points_adjust(member=member, amount=-20, reason="Typed by staff: duplicate order", actor=staff(is_superuser=True))
    registration = event_services.registration_create(event=event, member=member)
    event_services.registration_cancel(registration=registration)
    entries = list(PointsEntry.objects.filter(account__member=member).order_by("id"))
    assert [in_both(entry)[1] for entry in entries] == [
        "导入的期初积分",
        "Typed by staff: duplicate order",
        f"活动：{event.title}",
        "会员自行取消",
    ]
    assert entries[1].reason_code == "" and entries[0].reason == "Opening balance from import"
    registration.refresh_from_db()
    assert (registration.reason_code, in_both(registration)) == (
        "registration_cancelled_by_member",
        ("Cancelled by the member", "会员自行取消"),
    )


def test_a_row_written_before_codes_keeps_its_text():
    assert render_reason("", {}, "Opening balance from import") == "Opening balance from import"
    assert render_reason("no_such_code", {}, "old text") == "old text"
    with pytest.raises(ValueError):
        Reason("no_such_code")


def test_api_returns_the_code_and_the_text_in_the_requests_language(trusted_client):
    member = MemberFactory()
    services.points_earn(member=member, amount=10, reason=Reason("referral_reward"))
    api, _client = trusted_client()
    url = reverse("api-v1:member-ledger", kwargs={"pk": member.pk})
    chinese = api.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").json()["results"][0]
    english = api.get(url, HTTP_ACCEPT_LANGUAGE="en").json()["results"][0]
    assert (chinese["reason_code"], chinese["reason"], english["reason"]) == ("referral_reward", "转介绍奖励", "Referral reward")


def test_back_office_ledger_and_tier_history_read_in_chinese(client, staff):
    member = services.member_enrol(name="Ann", phone="+8613800138000")
    services.points_earn(member=member, amount=10, reason=Reason("purchase"))
    client.force_login(staff(is_superuser=True))
    client.cookies["django_language"] = "zh-hans"
    ledger = client.get(reverse("admin:members_pointsentry_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    history = client.get(reverse("admin:members_tierchange_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    page = client.get(reverse("admin:members_member_change", args=[member.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "消费" in ledger and "入会" in history and "Enrolment" not in history
    assert "消费" in page and "入会" in page


def test_tier_history_and_registrations_written_before_codes_are_read_in_each_language():
    from importlib import import_module

    from django.apps import apps

    from apps.events.models import Registration

    member = MemberFactory()
    silver = member.tier.__class__.objects.get(code="silver")
    old = [
        TierChange.objects.create(member=member, kind="initial", to_tier=member.tier, growth_value=0, reason="入会"),
        TierChange.objects.create(
            member=member,
            kind="promotion",
            to_tier=silver,
            growth_value=1123,
            reason="Growth value 1123 reached the Silver threshold of 1000.",
        ),
        TierChange.objects.create(member=member, kind="initial", to_tier=member.tier, growth_value=0, reason="a note staff typed"),
    ]
    registration = event_services.registration_create(event=EventFactory(), member=member)
    Registration.objects.filter(pk=registration.pk).update(state="cancelled", cancel_reason="Cancelled by the member")

    import_module("apps.members.migrations.0006_tier_history_reason_codes").to_codes(apps, None)
    import_module("apps.events.migrations.0004_registration_reason_codes").to_codes(apps, None)

    for row in old:
        row.refresh_from_db()
    assert [in_both(row) for row in old] == [
        ("Enrolment", "入会"),
        ("Growth value 1123 reached the Silver threshold of 1000.", "成长值 1123 达到银卡会员门槛 1000。"),
        ("a note staff typed", "a note staff typed"),
    ]
    registration.refresh_from_db()
    assert in_both(registration) == ("Cancelled by the member", "会员自行取消")
