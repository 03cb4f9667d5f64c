"""Running the programme in a real browser: benefits, segments, campaigns, imports and the event door."""

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.benefits import services as benefit_services
from apps.benefits.models import Grant, GrantState
from apps.campaigns.models import Campaign, CampaignStatus, Segment
from apps.core.roles import CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.events import services as event_services
from apps.events.models import Registration, RegistrationState
from apps.imports.models import ImportJob, ImportStatus
from apps.members import services as member_services
from apps.members.models import Member, PointsAccount, Tier
from tests.benefits.factories import BenefitFactory
from tests.campaigns.factories import SegmentFactory
from tests.e2e.conftest import PHONE
from tests.events.factories import EventFactory
from tests.imports.files import CHINESE_HEADER, write_csv
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_operations_manager_grants_a_benefit_and_revokes_it_with_a_reason(page, login_as, screenshot):
    member = MemberFactory(name="王芳", phone="+8613900139000", email="wang.fang@example.com")
    benefit = BenefitFactory(name="¥50 service voucher")
    login_as(OPERATIONS_MANAGER)

    page.goto("/admin/benefits/benefit/")
    page.get_by_role("link", name="¥50 service voucher").first.click()
    page.get_by_role("link", name="Grant to members").click()
    page.fill("textarea[name=members]", "139 0013 9000")
    page.fill("input[name=reason]", "Apology for a delayed service")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("1 members received ¥50 service voucher.").wait_for()
    grant = Grant.objects.get(member=member, benefit=benefit)
    assert grant.state == GrantState.ISSUED and grant.source_ref == "Apology for a delayed service"

    # The member page lists the grant; staff open it from there and revoke it.
    page.goto(f"/admin/members/member/{member.pk}/change/")
    section = page.locator("table.userops-table", has_text=grant.display_code)
    section.get_by_role("link", name="¥50 service voucher").click()
    page.locator(f"a[href$='/grant/{grant.pk}/revoke/']").click()
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("This field is required.").wait_for()  # no reason, no revocation
    page.fill("textarea[name=reason]", "Granted to the wrong member")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("The grant was revoked.").wait_for()
    screenshot("grant-revoked")
    grant.refresh_from_db()
    assert (grant.state, grant.revoke_reason) == (GrantState.REVOKED, "Granted to the wrong member")

    page.goto(f"/admin/members/member/{member.pk}/change/")
    assert page.locator("table.userops-table tr", has_text=grant.display_code).get_by_text("Revoked").count() == 1


def test_customer_service_may_not_revoke_a_grant(page, login_as):
    grant_member = MemberFactory(name="赵磊")
    benefit = BenefitFactory(name="Free car wash")
    grant = benefit_services.grant_issue(benefit=benefit, member=grant_member, source="staff", source_ref="test")
    login_as(CUSTOMER_SERVICE)
    page.goto(f"/admin/benefits/grant/{grant.pk}/change/")
    page.locator(f"a[href$='/grant/{grant.pk}/redeem/']").wait_for()
    assert page.locator(f"a[href$='/grant/{grant.pk}/revoke/']").count() == 0


def test_campaign_manager_builds_a_segment_and_sees_its_live_count(page, login_as, screenshot):
    gold = Tier.objects.get(code="gold")
    shanghai_gold = [MemberFactory(name=f"上海金卡{i}", city="上海", tier=gold) for i in range(3)]
    MemberFactory(name="北京金卡", city="北京", tier=gold)
    MemberFactory(name="上海普通", city="上海")
    login_as(CAMPAIGN_MANAGER)

    page.goto("/admin/campaigns/segment/")
    page.get_by_role("link", name=re.compile(r"Add segment", re.IGNORECASE)).first.click()
    page.fill("input[name=name]", "Shanghai gold members")
    preview = page.locator("#segment-preview")
    rules = {"op": "and", "conditions": [{"field": "tier", "value": ["gold"]}, {"field": "city", "value": ["上海"]}]}
    page.fill("textarea[name=rules]", json.dumps(rules, ensure_ascii=False))
    preview.locator("[data-count]").filter(has_text=re.compile(r"^3$")).wait_for()
    sample = preview.locator("[data-sample] li")
    sample.nth(2).wait_for()
    assert sorted(sample.all_inner_texts()) == sorted(f"#{m.pk} {m.name} · {gold.name} · 上海 · Active" for m in shanghai_gold)

    # A rule the registry does not know is explained while typing, before anything is saved.
    page.fill("textarea[name=rules]", json.dumps({"op": "and", "conditions": [{"field": "shoe_size", "value": ["42"]}]}))
    preview.locator("[data-error]").filter(has_text="shoe_size").wait_for()
    page.fill("textarea[name=rules]", json.dumps(rules, ensure_ascii=False))
    preview.locator("[data-count]").filter(has_text=re.compile(r"^3$")).wait_for()
    screenshot("segment-editor")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was added successfully").wait_for()
    assert Segment.objects.get(name="Shanghai gold members").rules == rules


def test_campaign_manager_builds_a_segment_with_the_builder_without_writing_rules(page, login_as, screenshot):
    gold = Tier.objects.get(code="gold")
    for i in range(2):
        MemberFactory(name=f"杭州金卡{i}", city="杭州", tier=gold)
    MemberFactory(name="杭州普通", city="杭州")
    MemberFactory(name="苏州金卡", city="苏州", tier=gold)
    login_as(CAMPAIGN_MANAGER)

    page.goto("/admin/campaigns/segment/add/")
    page.fill("input[name=name]", "Hangzhou gold")
    builder = page.locator("#segment-builder")
    builder.get_by_test_id("add-condition").click()
    first = builder.get_by_test_id("rule").nth(0)
    first.get_by_test_id("rule-field").select_option("tier")
    first.locator("label", has_text=gold.name).locator("input").check()
    builder.get_by_test_id("add-condition").first.click()
    second = builder.get_by_test_id("rule").nth(1)
    second.get_by_test_id("rule-field").select_option("city")
    second.get_by_test_id("rule-value").fill("杭州")
    page.locator("#segment-preview [data-count]").filter(has_text=re.compile(r"^2$")).wait_for()
    screenshot("segment-builder")

    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was added successfully").wait_for()
    assert Segment.objects.get(name="Hangzhou gold").rules == {
        "op": "and",
        "conditions": [{"field": "tier", "operator": "in", "value": ["gold"]}, {"field": "city", "operator": "in", "value": ["杭州"]}],
    }


def _choose(page, field: str, text: str) -> None:
    """Pick ``text`` in an autocomplete (select2) field the way a person does: open it, type, click the match."""
    page.locator(f"#id_{field} + .select2").click()
    page.locator(".select2-container--open .select2-search__field").fill(text)
    page.locator(".select2-container--open .select2-results__option", has_text=text).first.click()


def test_campaign_manager_creates_and_schedules_a_campaign(page, login_as, screenshot):
    MemberFactory.create_batch(2, city="杭州")
    SegmentFactory(name="Hangzhou members", rules={"op": "and", "conditions": [{"field": "city", "value": ["杭州"]}]})
    BenefitFactory(name="Spring service voucher")
    login_as(CAMPAIGN_MANAGER)
    run_at = timezone.localtime() + timedelta(days=3)

    page.goto("/admin/campaigns/campaign/")
    page.get_by_role("link", name=re.compile(r"Add campaign", re.IGNORECASE)).first.click()
    page.fill("input[name=name]", "Spring service week")
    page.fill("textarea[name=description]", "A voucher and 200 points for Hangzhou members before the spring service week.")
    _choose(page, "segment", "Hangzhou members")
    _choose(page, "benefit", "Spring service voucher")
    page.fill("input[name=points_amount]", "200")
    page.select_option("select[name=schedule_kind]", "once")
    page.fill("input[name=run_at_0]", run_at.strftime("%Y-%m-%d"))
    page.fill("input[name=run_at_1]", "10:00:00")
    page.fill("input[name=max_members]", "1000")
    page.locator("input[name=max_members]").blur()
    screenshot("campaign", readme=True)
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was added successfully").wait_for()
    campaign = Campaign.objects.get(name="Spring service week")
    assert campaign.status == CampaignStatus.DRAFT and campaign.points_amount == 200

    # Scheduling is an action on the list: beat's entry is enabled only now.
    page.locator("tr", has_text="Spring service week").locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", "schedule")
    page.locator("button[type=submit][name=index], button[title='Run the selected action']").first.click()
    page.get_by_text("1 campaign(s) scheduled.").wait_for()
    campaign.refresh_from_db()
    task = PeriodicTask.objects.get(pk=campaign.periodic_task_id)
    assert campaign.status == CampaignStatus.SCHEDULED and task.enabled
    assert timezone.localtime(campaign.run_at).strftime("%Y-%m-%d %H:%M") == run_at.strftime("%Y-%m-%d 10:00")


def test_operations_manager_imports_a_small_file_after_checking_the_preview(page, login_as, screenshot, tmp_path):
    MemberFactory(name="Old name", external_id="CRM2", phone="+8613800138001")
    rows = [
        CHINESE_HEADER,
        ["CRM1", "张伟", "+86 138 0013 8000", "zhang.wei@example.com", "上海", "2024-03-05", "金卡", "1,200", "男", "1990/5/8"],
        ["CRM2", "Emma Chen", "138-0013-8001", "", "杭州", "2024/3/5", "silver", "0", "female", ""],
        ["CRM3", "", "138-0013-8009", "", "北京", "", "", "", "", ""],
    ]
    login_as(OPERATIONS_MANAGER)
    page.goto("/admin/imports/importjob/")
    page.locator("a[href$='/importjob/add/']").first.click()
    page.set_input_files("input[name=file]", str(write_csv(tmp_path / "crm-export.csv", rows)))
    page.get_by_role("button", name="Upload and check").click()
    preview = page.get_by_test_id("import-preview")
    preview.wait_for()
    assert preview.locator("tr", has_text="Would be created").locator("td").inner_text() == "1"
    assert preview.locator("tr", has_text="Would be updated").locator("td").inner_text() == "1"
    assert preview.locator("tr", has_text="Invalid rows").locator("td").inner_text() == "1"
    preview.get_by_text("missing name").wait_for()
    screenshot("import-preview")
    assert not Member.objects.filter(external_id="CRM1").exists()  # a preview changes nothing

    page.get_by_role("button", name="Confirm the import").click()
    page.get_by_text("Import finished: 1 created, 1 updated.").wait_for()
    job = ImportJob.objects.get()
    assert (job.status, job.created, job.updated, job.invalid) == (ImportStatus.DONE, 1, 1, 1)
    assert Member.objects.get(external_id="CRM2").name == "Emma Chen"
    assert Member.objects.get(external_id="CRM1").phone == "+8613800138000"
    page.get_by_role("link", name="Download the error report (CSV)").wait_for()


def test_check_in_at_the_door_on_a_phone(open_page, login_as, screenshot):
    member = MemberFactory(name="陈静", phone="+8613700137000")
    event = EventFactory(title="Owners' spring drive", attendance_points=50, max_companions=2, about_to_start=True)
    registration = event_services.registration_create(event=event, member=member)
    forgot_ticket = event_services.registration_create(event=event, member=MemberFactory(name="周杰", phone="+8613700137001"), companions=1)
    phone = open_page(PHONE)
    login_as(CUSTOMER_SERVICE, on=phone)

    phone.goto("/admin/events/event/")
    phone.get_by_role("link", name="Owners' spring drive").click()
    phone.get_by_role("link", name="more_horiz").click()  # on a phone the page's actions sit behind "…"
    phone.locator(f"a[href$='/event/{event.pk}/check-in/']").click()
    ticket = phone.locator("input#ticket")
    ticket.fill(registration.ticket_code.lower()[:5] + " " + registration.ticket_code.lower()[5:])  # typed as people type it
    phone.get_by_role("button", name="Check in").first.click()
    result = phone.get_by_test_id("check-in-result")
    result.filter(has_text="Welcome, 陈静 (+0).").wait_for()
    screenshot("check-in", on=phone)
    registration.refresh_from_db()
    assert registration.state == RegistrationState.ATTENDED

    phone.locator("input#ticket").fill(registration.ticket_code)
    phone.get_by_role("button", name="Check in").first.click()
    result.filter(has_text="Already checked in at").wait_for()
    assert "warn" in result.get_attribute("class")
    assert Registration.objects.get(pk=registration.pk).checked_in_at == registration.checked_in_at
    assert PointsAccount.objects.get(member=member).balance == 50  # attendance points, once

    phone.locator("input#ticket").fill("NOSUCHCODE")
    phone.get_by_role("button", name="Check in").first.click()
    phone.get_by_test_id("check-in-error").filter(has_text="No such ticket for this event.").wait_for()

    # A ticket for next week's event is not accepted today, and the page says when it will be.
    next_week = EventFactory(title="Owners' autumn drive")
    early = event_services.registration_create(event=next_week, member=member)
    phone.goto(f"/admin/events/event/{next_week.pk}/check-in/")
    phone.get_by_test_id("check-in-window").filter(has_text="Tickets are accepted from").wait_for()
    phone.locator("input#ticket").fill(early.ticket_code)
    phone.get_by_role("button", name="Check in").first.click()
    phone.get_by_test_id("check-in-error").filter(has_text="Check-in opens at").wait_for()
    assert Registration.objects.get(pk=early.pk).state == RegistrationState.REGISTERED
    phone.goto(f"/admin/events/event/{event.pk}/check-in/")

    # A member who forgot the ticket is found by phone number and checked in from the list.
    phone.locator("input#phone").fill("137 0013 7001")
    phone.get_by_role("button", name="Search").click()
    found = phone.locator("table.userops-table tr", has_text="周杰")
    found.get_by_role("button", name="Check in").click()
    result.filter(has_text="Welcome, 周杰 (+1).").wait_for()
    assert Registration.objects.get(pk=forgot_ticket.pk).state == RegistrationState.ATTENDED


def test_customer_service_registers_members_for_events_and_cancels(page, login_as, screenshot):
    member = MemberFactory(name="陈静", phone="+8613700137000")
    member_services.points_earn(member=member, amount=500, reason="Purchase")
    MemberFactory(name="周杰", phone="+8613700137001")
    drive = EventFactory(title="Owners' spring drive", points_price=200, max_companions=1)
    EventFactory(title="Charging workshop")
    login_as(CUSTOMER_SERVICE)

    page.goto(f"/admin/events/event/{drive.pk}/change/")
    page.get_by_role("link", name="Register a member").click()
    page.fill("input#member-search", "137 0013 7001")
    page.get_by_role("button", name="Search").click()
    page.get_by_test_id("member-matches").locator("tr", has_text="周杰").get_by_role("button", name="Register").click()
    page.get_by_test_id("register-error").filter(has_text="Not enough points: the balance is 0, 200 were asked for.").wait_for()
    assert not Registration.objects.exists()
    page.fill("input#member-search", "陈")
    page.get_by_role("button", name="Search").click()
    row = page.get_by_test_id("member-matches").locator("tr", has_text="陈静")
    row.locator("input[name=companions]").fill("1")
    row.get_by_role("button", name="Register").click()
    page.get_by_text("陈静 is registered for Owners' spring drive; 200 points were paid.").wait_for()
    assert Registration.objects.get(member=member, event=drive).companions == 1
    assert PointsAccount.objects.get(member=member).balance == 300

    page.goto(f"/admin/members/member/{member.pk}/change/")
    page.get_by_test_id("member-actions").get_by_role("link", name="Register for an event").click()
    events = page.get_by_test_id("open-events")
    events.locator("tr", has_text="Charging workshop").get_by_role("button", name="Register").click()
    page.get_by_text("陈静 is registered for Charging workshop.").wait_for()
    screenshot("member-events")

    # The member changed their mind about the drive: cancelled from the registration's page, points refunded.
    page.locator("a", has_text="Registered").first.wait_for()
    registration = Registration.objects.get(member=member, event=drive)
    page.goto(f"/admin/events/registration/{registration.pk}/change/")
    page.get_by_role("link", name="Cancel registration").click()
    page.fill("textarea[name=reason]", "Member phoned to cancel")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("Cancelled; 0 waitlisted registrations were seated.").wait_for()
    assert Registration.objects.get(pk=registration.pk).state == RegistrationState.CANCELLED
    assert PointsAccount.objects.get(member=member).balance == 500


def test_operations_manager_browses_the_points_mall_and_exchanges_for_a_member(page, login_as, screenshot):
    member = MemberFactory(name="陈静", phone="+8613700137000")
    member_services.points_earn(member=member, amount=1000, reason="Purchase")
    BenefitFactory(name="Free car wash", points_price=500, face_value="80.00", total_stock=10, validity_days=90)
    BenefitFactory(name="Brand umbrella", points_price=2000, face_value="120.00")
    login_as(OPERATIONS_MANAGER)

    page.goto("/admin/")
    page.locator("#nav-sidebar-inner").get_by_role("link", name="Points mall").click()
    offers = page.get_by_test_id("mall-offers")
    wash = offers.locator("tr", has_text="Free car wash")
    for shown in ("500", "80.00", "¥16.00 per 100 points", "10", "90 days from the exchange", "All tiers"):
        assert wash.get_by_text(shown, exact=True).count() or shown in wash.inner_text(), shown
    screenshot("points-mall")
    page.fill("input#member-search", "137 0013 7000")
    page.get_by_role("button", name="Search").click()
    page.get_by_test_id("member-matches").get_by_role("link", name="Choose").click()
    page.get_by_test_id("mall-member").filter(has_text="1,000 points to spend").wait_for()
    assert offers.locator("tr", has_text="Brand umbrella").get_by_text("Not enough points").is_visible()
    offers.locator("tr", has_text="Free car wash").get_by_role("button", name="Exchange").click()
    page.get_by_text(re.compile(r"陈静 exchanged 500 points for Free car wash; grant code [0-9A-Z-]+\.")).wait_for()
    page.get_by_test_id("mall-member").filter(has_text="500 points to spend").wait_for()
    assert Grant.objects.get(member=member).source == "points_mall"
    assert PointsAccount.objects.get(member=member).balance == 500
