"""The back office of earning rules: the pages per role, a rule built through the form, simulate and switch on,
refusals as form errors, explain, metrics, and the review queue's bulk release and reject with a confirmation page."""

import re
from datetime import timedelta

import pytest
from django.contrib.admin.utils import flatten
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from apps.analytics.models import ActivityEvent
from apps.core import awards
from apps.core.roles import ANALYST, AUDITOR, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members.models import PointsAccount
from apps.rules.admin import EarningRuleAdmin, EarningRuleForm
from apps.rules.api.serializers import RuleInputSerializer
from apps.rules.models import RULE_EDITABLE_FIELDS, RULE_EDITABLE_RELATIONS, AwardStatus, EarningRule, RuleAward, RuleStatus
from tests.analytics.factories import ActivityEventFactory
from tests.core.factories import ApiClientFactory
from tests.members.factories import MemberFactory, tier
from tests.rules.factories import EarningRuleFactory, event, ingest

pytestmark = pytest.mark.django_db

ADD = "/admin/rules/earningrule/add/"


def _form(**changes):
    data = {
        "name": "Test drive booked",
        "description": "",
        "kind": "test_drive_booked",
        "priority": "100",
        "days_of_week": "[]",
        "property_conditions": '[{"property": "model", "op": "in", "value": ["ET5", "ES6"]}]',
        "channels": "[]",
        "points": "200",
        "growth": "20",
        "unit_size": "1",
        "cap_lifetime_count": "1",
        "multipliers-TOTAL_FORMS": "1",
        "multipliers-INITIAL_FORMS": "0",
        "multipliers-MIN_NUM_FORMS": "0",
        "multipliers-MAX_NUM_FORMS": "1000",
        "multipliers-0-tier": str(tier("gold").pk),
        "multipliers-0-multiplier": "1.5",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("role", [OPERATIONS_MANAGER, CAMPAIGN_MANAGER, ANALYST])
def test_pages_load_per_role(client, staff, role):
    rule = EarningRuleFactory()
    member = MemberFactory()
    ingest(ApiClientFactory(), event(member, at=timezone.now() - timedelta(minutes=1), event_id="x"))
    activity = ActivityEvent.objects.get(event_id="x")
    client.force_login(staff(role))
    for url in [
        "/admin/rules/earningrule/",
        f"/admin/rules/earningrule/{rule.pk}/change/",
        f"/admin/rules/earningrule/{rule.pk}/simulation/",
        f"/admin/rules/earningrule/explain/?member={member.pk}&activity={activity.pk}",
        "/admin/rules/earningrule/metrics/",
        "/admin/rules/ruleaward/",
        "/admin/rules/ruleaward/?status__exact=held",
        "/admin/analytics/registeredactivitykind/",
    ]:
        assert client.get(url).status_code == 200, url


def test_customer_service_reads_awards_but_not_the_metrics_of_others(client, staff):
    client.force_login(staff(CUSTOMER_SERVICE))
    assert client.get("/admin/rules/ruleaward/").status_code == 200
    assert client.get(ADD).status_code == 403


def test_the_form_and_the_api_edit_the_same_fields_from_one_list():
    editable = {*RULE_EDITABLE_FIELDS, *RULE_EDITABLE_RELATIONS}
    assert set(EarningRuleForm().fields) == editable
    writable = {name for name, field in RuleInputSerializer().fields.items() if not field.read_only}
    assert writable == editable | {"multipliers"}
    laid_out = {name for _title, options in EarningRuleAdmin.fieldsets for row in options["fields"] for name in flatten([row])}
    assert editable <= laid_out and laid_out - editable == {"status", "budget_used"}
    assert not editable & {"status", "budget_used"}


def test_a_rule_built_in_the_form_is_a_draft_with_its_multiplier_and_audit(client, staff):
    user = staff(CAMPAIGN_MANAGER)
    client.force_login(user)
    response = client.post(ADD, _form())
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    rule = EarningRule.objects.get()
    assert rule.status == RuleStatus.DRAFT and rule.points == 200 and rule.cap_lifetime_count == 1
    assert rule.multipliers.get().tier.code == "gold"
    assert rule.history.first().history_user == user


def test_a_refused_rule_is_a_form_error_and_nothing_is_saved(client, staff):
    client.force_login(staff(CAMPAIGN_MANAGER))
    response = client.post(ADD, _form(property_conditions='[{"property": "model", "op": "like", "value": 1}]'))
    assert response.status_code == 200
    assert "property_conditions" in response.context["adminform"].form.errors
    response = client.post(ADD, _form(points="0", growth="0"))
    assert response.status_code == 200 and "points" in response.context["adminform"].form.errors
    assert not EarningRule.objects.exists()


def test_switch_on_shows_the_simulation_then_activates_on_post(client, staff):
    member = MemberFactory()
    ActivityEventFactory(member=member, kind="share", occurred_at=timezone.now() - timedelta(days=2))
    rule = EarningRule.objects.create(name="Share", kind="share", points=15)
    client.force_login(staff(OPERATIONS_MANAGER))
    url = f"/admin/rules/earningrule/{rule.pk}/activate/"
    page = client.get(url)
    assert page.status_code == 200 and "15 points" in page.content.decode()
    assert EarningRule.objects.get(pk=rule.pk).status == RuleStatus.DRAFT  # GET changes nothing
    assert client.post(url, {"confirm": "1"}).status_code == 302
    assert EarningRule.objects.get(pk=rule.pk).status == RuleStatus.ACTIVE
    assert client.post(f"/admin/rules/earningrule/{rule.pk}/pause/", {"confirm": "1"}).status_code == 302
    assert EarningRule.objects.get(pk=rule.pk).status == RuleStatus.PAUSED


def test_analyst_cannot_switch_a_rule_on(client, staff):
    rule = EarningRule.objects.create(name="Share", kind="share", points=15)
    client.force_login(staff(ANALYST))
    client.post(f"/admin/rules/earningrule/{rule.pk}/activate/", {"confirm": "1"})
    assert EarningRule.objects.get(pk=rule.pk).status == RuleStatus.DRAFT


def test_explain_reports_bad_ids_as_form_errors(client, staff):
    client.force_login(staff(ANALYST))
    response = client.get("/admin/rules/earningrule/explain/?member=999999&activity=1")
    assert response.status_code == 200 and "member" in response.context["form"].errors


@pytest.fixture
def held_awards():
    def screen(candidates):
        return dict.fromkeys(range(len(candidates)), "velocity: 3 in 1 minute")

    awards.register_award_screen(screen)
    EarningRuleFactory(kind="community_post", points=20)
    members = MemberFactory.create_batch(2)
    ingest(ApiClientFactory(), *[event(m, kind="community_post", at=timezone.now() - timedelta(minutes=1)) for m in members])
    awards.SCREENS.remove(screen)
    return members


def test_bulk_release_asks_for_confirmation_then_pays(client, staff, held_awards):
    client.force_login(staff(OPERATIONS_MANAGER))
    ids = [str(pk) for pk in RuleAward.objects.values_list("pk", flat=True)]
    page = client.post("/admin/rules/ruleaward/", {"action": "release_selected", "_selected_action": ids})
    assert page.status_code == 200 and "40 points" in page.content.decode()
    for member in held_awards:  # named and linked, not an id to look up
        assert f'{reverse("admin:members_member_change", args=[member.pk])}">{member.name}</a>' in page.content.decode()
    assert set(RuleAward.objects.values_list("status", flat=True)) == {AwardStatus.HELD}
    done = client.post("/admin/rules/ruleaward/", {"action": "release_selected", "_selected_action": ids, "confirm": "1", "note": "ok"})
    assert done.status_code == 302
    assert set(RuleAward.objects.values_list("status", flat=True)) == {AwardStatus.RELEASED}
    assert sorted(PointsAccount.objects.filter(member__in=held_awards).values_list("balance", flat=True)) == [20, 20]


def test_bulk_reject_needs_a_note_and_the_permission(client, staff, held_awards):
    ids = [str(pk) for pk in RuleAward.objects.values_list("pk", flat=True)]
    client.force_login(staff(CAMPAIGN_MANAGER))
    client.post("/admin/rules/ruleaward/", {"action": "reject_selected", "_selected_action": ids, "confirm": "1", "note": "farm"})
    assert set(RuleAward.objects.values_list("status", flat=True)) == {AwardStatus.HELD}
    client.force_login(staff(OPERATIONS_MANAGER))
    page = client.post("/admin/rules/ruleaward/", {"action": "reject_selected", "_selected_action": ids, "confirm": "1", "note": ""})
    assert page.status_code == 200 and "note" in page.context["form"].errors
    client.post("/admin/rules/ruleaward/", {"action": "reject_selected", "_selected_action": ids, "confirm": "1", "note": "farm"})
    assert set(RuleAward.objects.values_list("status", flat=True)) == {AwardStatus.REJECTED}
    assert sum(PointsAccount.objects.filter(member__in=held_awards).values_list("balance", flat=True)) == 0
    filtered = client.get("/admin/rules/ruleaward/?reason=velocity%3A+3+in+1+minute")
    assert filtered.status_code == 200 and filtered.context["cl"].result_count == 2


def test_held_awards_show_on_the_member_page_to_who_may_see_awards(client, staff, held_awards):
    member = held_awards[0]
    rule = EarningRule.objects.get()
    page = reverse("admin:members_member_change", args=[member.pk])
    client.force_login(staff(CUSTOMER_SERVICE))
    content = client.get(page).content.decode()
    assert "Awards held for review" in content and rule.name in content and "velocity: 3 in 1 minute" in content
    reader = staff()
    reader.user_permissions.add(Permission.objects.get(codename="view_member", content_type__app_label="members"))
    client.force_login(reader)  # may see the member, not rule awards
    content = client.get(page).content.decode()
    assert "Awards held for review" not in content and rule.name not in content


def test_the_member_page_says_when_nothing_is_held(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    content = client.get(reverse("admin:members_member_change", args=[MemberFactory().pk])).content.decode()
    assert "No award is held for review." in content


def test_rule_pages_name_the_activity_kind_not_its_code(client, staff, held_awards):
    """Staff read "售后到店" (Service visit), never the code ``service_visit``, on every page about rules."""
    rule = EarningRuleFactory(name="Workshop", kind="service_visit", points=10)
    member = MemberFactory()
    visit = ActivityEventFactory(member=member, kind="service_visit", occurred_at=timezone.now() - timedelta(days=1))
    client.force_login(staff(OPERATIONS_MANAGER, language="zh-hans"))
    pages = [
        reverse("admin:rules_earningrule_changelist"),
        reverse("admin:rules_earningrule_simulation", args=[rule.pk]),
        reverse("admin:rules_earningrule_explain") + f"?member={member.pk}&activity={visit.pk}",
    ]
    for url in pages:
        text = _visible_text(client.get(url).content.decode())
        assert "售后到店" in text and "service_visit" not in text, url
    queue = _visible_text(client.get(reverse("admin:rules_ruleaward_changelist")).content.decode())
    assert "社区发帖" in queue and "community_post" not in queue


def _visible_text(html: str) -> str:
    """What a reader sees: the page without its tags, attributes, scripts and styles."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_the_member_page_links_each_activity_a_rule_is_about_to_why_not(client, staff):
    EarningRuleFactory(kind="service_visit", points=10)
    member = MemberFactory()
    visit = ActivityEventFactory(member=member, kind="service_visit", occurred_at=timezone.now() - timedelta(days=1))
    ActivityEventFactory(member=member, kind="app_open", occurred_at=timezone.now() - timedelta(hours=1))  # no rule is about it
    client.force_login(staff(CUSTOMER_SERVICE, language="zh-hans"))
    content = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    explain = reverse("admin:rules_earningrule_explain") + f"?member={member.pk}&amp;activity={visit.pk}"
    assert explain in content and "为何（未）获得？" in content
    assert content.count("为何（未）获得？") == 1
    client.force_login(staff(AUDITOR))  # reads awards, not rules: no section
    assert (
        reverse("admin:rules_earningrule_explain")
        not in client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    )
