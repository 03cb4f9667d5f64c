"""Staff who switch the back office to 中文 see no English left on the main pages.

The walk collects the text a person can see (visible text nodes, placeholders, button values, selected options,
the window title), removes what is not UI language (brand names, codes, numbers, emails, the data the test made,
what staff type as it is: text in <code> and the contents of text areas) and fails listing every English word that
is left, page by page.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone, translation

from apps.benefits import services as benefit_services
from apps.core.reasons import Reason
from apps.core.roles import CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.events import services as event_services
from apps.members import services as member_services
from apps.members.models import Tier
from apps.messaging.models import Message, MessageState
from tests.benefits.factories import BenefitFactory
from tests.campaigns.factories import CampaignFactory, SegmentFactory
from tests.core.factories import UserFactory
from tests.events.factories import ClubFactory, EventFactory
from tests.imports.files import CHINESE_HEADER, write_csv
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VISIBLE_TEXT = """() => {
    const out = [];
    const visible = (el) => el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const el = walker.currentNode.parentElement;
        const text = walker.currentNode.textContent.trim();
        if (!text || !el || ["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "OPTION", "TEXTAREA"].includes(el.tagName)) continue;
        if (el.closest(".material-symbols-outlined, code") || !visible(el)) continue;  // icon ligatures are not words
        out.push(text);
    }
    for (const el of document.querySelectorAll("input[placeholder], textarea[placeholder]")) {
        if (visible(el)) out.push(el.placeholder);
    }
    for (const el of document.querySelectorAll("input[type=submit], input[type=button]")) {
        if (visible(el)) out.push(el.value);
    }
    for (const el of document.querySelectorAll("select")) {
        if (visible(el) && el.selectedOptions.length) out.push(el.selectedOptions[0].textContent.trim());
    }
    out.push(document.title);
    return out;
}"""

# Words that are the same in both languages: brand and product names, abbreviations and loanwords staff use as
# they are, key names (Django's own "按住 Control 键或 Mac 上的 Command 键"), the language codes on translation tabs.
ALLOWED = {"userops", "vip", "rfm", "csv", "excel", "xlsx", "qr", "api", "id", "utf", "gbk", "cny", "sms", "url", "cron", "app"}
ALLOWED |= {"control", "mac", "command", "en", "zh", "hans", "nps", "ltv", "vin"}
NOT_WORDS = [
    re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"),  # emails
    re.compile(r"https?://\S+"),  # links
    re.compile(r"\b[A-Z][a-z]+/[A-Z][A-Za-z_]+\b"),  # time zone names (Asia/Shanghai)
    re.compile(r"\bdocs/[\w./-]+\.md\b"),  # the documentation's file names
    re.compile(r"\b[a-z]+(_[a-z]+)+\b"),  # codes staff give things (message templates' event_reminder …)
    re.compile(r"\b[0-9A-Z]{4}(-[0-9A-Z]{4})+\b"),  # grant codes
    re.compile(r"\b[a-z-]+(:[\w-]+)+"),  # source references of ledger rows (event:12, campaign-run:3, import:row:7)
    re.compile(r"\b[2-9A-Z]{10}\b"),  # ticket codes
    re.compile(r"\b\w*\d\w*\b"),  # numbers and identifiers with digits (phones, external IDs, e2e usernames)
]
ENGLISH_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*[A-Za-z]")


def english_left(texts: list[str], data: set[str]) -> list[str]:
    """Each visible text that still carries an English word, with the words."""
    found = []
    for text in texts:
        rest = text
        for value in sorted(data, key=len, reverse=True):
            rest = rest.replace(value, " ")
        for pattern in NOT_WORDS:
            rest = pattern.sub(" ", rest)
        words = [w for w in ENGLISH_WORD.findall(rest) if w.lower() not in ALLOWED]
        if words:
            found.append(f"{' '.join(words)}    ← {text[:120]!r}")
    return found


@pytest.fixture
def programme() -> dict[str, object]:
    """A little of everything the main pages show, made in Chinese as a Chinese programme's data is."""
    with translation.override("zh-hans"):
        return _make_programme()


def _make_programme() -> dict[str, object]:
    gold = Tier.objects.get(code="gold")
    member = MemberFactory(
        name="李娜",
        phone="+8613800138000",
        email="li.na@example.com",
        city="上海",
        tier=gold,
        external_id="CRM0001",
        initial_tier__reason="入会",
    )
    member_services.points_earn(member=member, amount=1200, reason="订单 20261125001")
    benefit = BenefitFactory(name_en="Service voucher", name_zh_hans="保养代金券", description_zh_hans="到店保养抵扣 50 元")
    BenefitFactory(name_en="Umbrella", name_zh_hans="品牌雨伞", points_price=1000, total_stock=0)  # in the points mall, sold out
    BenefitFactory(name_en="Car wash", name_zh_hans="洗车券", points_price=300)
    grant = benefit_services.grant_issue(benefit=benefit, member=member, source="staff", source_ref="门店补偿")
    segment = SegmentFactory(name="上海金卡会员", rules={"op": "and", "conditions": [{"field": "tier", "value": ["gold"]}]})
    campaign = CampaignFactory(
        name="春季保养周",
        segment=segment,
        benefit=benefit,
        points_amount=200,
        schedule_kind="once",
        run_at=timezone.now() + timedelta(days=3),
    )
    club = ClubFactory(name="上海车友会")
    event = EventFactory(
        title_en="Spring drive", title_zh_hans="春季自驾", venue="UserOps 之家，静安", attendance_points=50, club=club, about_to_start=True
    )
    next_week = EventFactory(title_en="Autumn drive", title_zh_hans="秋季自驾", venue="UserOps 之家，静安", club=club)
    other_event = EventFactory(title_en="Charging workshop", title_zh_hans="充电讲座", venue="UserOps 之家，静安", points_price=100)
    registration = event_services.registration_create(event=event, member=member)
    # A member whose history the system wrote: enrolment, a promotion, an opening balance, a paid registration
    # the member cancelled (its refund) — each reason must read in Chinese.
    enrolled = member_services.member_enrol(name="王强", phone="+8613700137000", city="杭州")
    member_services.growth_add(member=enrolled, amount=1123, reason=Reason("purchase"))
    member_services.points_earn(member=enrolled, amount=500, reason=Reason("opening_balance_import"))
    paid = EventFactory(title_en="Track day", title_zh_hans="赛道日", points_price=100, club=club)
    event_services.registration_cancel(registration=event_services.registration_create(event=paid, member=enrolled))
    for state in MessageState.values:
        Message.objects.create(
            member=member,
            channel="sms",
            template_code="event_reminder",
            body="明天见",
            language="zh-hans",
            state=state,
            next_attempt_at=timezone.now(),
            dedupe_key=f"e2e:{state}",
        )
    return {
        "member": member,
        "benefit": benefit,
        "grant": grant,
        "segment": segment,
        "campaign": campaign,
        "event": event,
        "club": club,
        "ticket": registration.ticket_code,
        "enrolled": enrolled,
        "next_week": next_week,
        "other_event": other_event,
        "early_ticket": event_services.registration_create(event=next_week, member=member).ticket_code,
    }


def test_main_pages_have_no_english_left_in_chinese(page, login_as, screenshot, programme, tmp_path):
    user = login_as(OPERATIONS_MANAGER)
    page.goto("/admin/")
    # Switch the way staff do: the account menu at the foot of the sidebar, then 简体中文.
    page.get_by_text(user.username, exact=True).click()
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("简体中文")).click()
    page.get_by_role("link", name=re.compile("会员")).first.wait_for()

    member, event = programme["member"], programme["event"]
    agent = UserFactory(role=CUSTOMER_SERVICE)
    pending = member_services.points_adjust(member=member, amount=900, reason="补发积分", actor=agent)
    pages = {
        "dashboard": "/admin/",
        "member list": "/admin/members/member/",
        "member page": f"/admin/members/member/{member.pk}/change/",
        "adjust points": f"/admin/members/member/{member.pk}/adjust-points/",
        "points ledger": "/admin/members/pointsentry/",
        "pending adjustment": f"/admin/members/pointsadjustment/{pending.pk}/change/",
        "approve adjustment": f"/admin/members/pointsadjustment/{pending.pk}/approve/",
        "tiers": "/admin/members/tier/",
        "benefits": "/admin/benefits/benefit/",
        "benefit page": f"/admin/benefits/benefit/{programme['benefit'].pk}/change/",
        "new benefit": "/admin/benefits/benefit/add/",
        "grant to members": f"/admin/benefits/benefit/{programme['benefit'].pk}/grant/",
        "grants": "/admin/benefits/grant/",
        "grant page": f"/admin/benefits/grant/{programme['grant'].pk}/change/",
        "revoke grant": f"/admin/benefits/grant/{programme['grant'].pk}/revoke/",
        "segments": "/admin/campaigns/segment/",
        "segment editor": f"/admin/campaigns/segment/{programme['segment'].pk}/change/",
        "campaigns": "/admin/campaigns/campaign/",
        "campaign editor": f"/admin/campaigns/campaign/{programme['campaign'].pk}/change/",
        "new campaign": "/admin/campaigns/campaign/add/",
        "campaign runs": "/admin/campaigns/campaignrun/",
        "events": "/admin/events/event/",
        "event page": f"/admin/events/event/{event.pk}/change/",
        "new event": "/admin/events/event/add/",
        "check-in": f"/admin/events/event/{event.pk}/check-in/",
        "close registration": f"/admin/events/event/{event.pk}/close/",
        "register a member": f"/admin/events/event/{event.pk}/register/?q=李",
        "register for an event": f"/admin/events/event/register-member/{member.pk}/",
        "points mall": "/admin/benefits/benefit/mall/?q=李",
        "points mall for a member": f"/admin/benefits/benefit/mall/?member={member.pk}",
        "freeze member": f"/admin/members/member/{member.pk}/freeze/",
        "close membership": f"/admin/members/member/{member.pk}/close/",
        "clubs": "/admin/events/club/",
        "club page": f"/admin/events/club/{programme['club'].pk}/change/",
        "imports": "/admin/imports/importjob/",
        "import upload": "/admin/imports/importjob/add/",
        "member page with system reasons": f"/admin/members/member/{programme['enrolled'].pk}/change/",
        "tier history": "/admin/members/tierchange/",
        "registrations": "/admin/events/registration/",
        "outbox": "/admin/messaging/message/",
        "benefit export": "/admin/benefits/benefit/export/",
        "analytics": "/admin/analytics/dailymetric/",
    }
    # And every list the sidebar offers the role (pages other apps add, such as analytics, join the walk by themselves).
    sidebar = page.eval_on_selector_all("#nav-sidebar-inner a[href^='/admin/']", "links => links.map(a => a.getAttribute('href'))")
    for href in sidebar:
        if href.split("?")[0] not in pages.values():
            pages[f"sidebar {href.strip('/').replace('/', ' ')}"] = href
    data = {user.username, agent.username, user.email, member.name, member.email, "Service voucher", "Umbrella", "Car wash"}
    data |= {"Spring drive", "Autumn drive", "Charging workshop", "Track day"}
    data |= set(Tier.objects.values_list("code", flat=True))  # codes, shown beside the names
    report = []

    def check(name: str) -> None:
        left = english_left(page.evaluate(VISIBLE_TEXT), data)
        if left:
            report.append(f"{name} ({page.url}):\n    " + "\n    ".join(left))
        screenshot(f"zh-hans-{name.replace(' ', '-')}")

    def submit(button: object) -> None:
        with page.expect_navigation():
            button.click()

    for name, url in pages.items():
        response = page.goto(url)
        assert response.status == 200, f"{name}: {response.status}"
        if name == "segment editor":  # its live count arrives by fetch after the page has loaded
            page.locator("#segment-preview [data-count]").filter(has_text=re.compile(r"^\d+$")).wait_for()
        check(name)
    # Words that are Chinese but the wrong ones: a person's name is 姓名, an active member in the funnel 活跃.
    page.goto("/admin/analytics/dailymetric/")
    funnel_steps = page.get_by_test_id("funnel").inner_text()
    assert "活跃" in funnel_steps and "启用" not in funnel_steps
    # "Close" is two things: leaving a read-only page (关闭) and closing a membership (注销).
    page.goto(f"/admin/benefits/grant/{programme['grant'].pk}/change/")
    page.get_by_role("link", name="关闭", exact=True).wait_for()
    page.goto(f"/admin/members/member/{member.pk}/change/")
    page.locator(f"a[href$='/member/{member.pk}/close/']", has_text="注销").wait_for()
    page.get_by_text("编辑资料").click()  # the folded edit form, opened
    page.locator("input[name=name]").wait_for()
    page.locator("label[for=id_name]", has_text="姓名").wait_for()
    check("member page editing")

    # What staff read after acting: confirmations, refusals, the door's answers.
    page.goto(f"/admin/members/member/{member.pk}/adjust-points/")
    page.fill("input[name=amount]", "100")
    page.fill("textarea[name=reason]", "服务补偿")
    submit(page.locator("button[name=confirm]"))
    check("points adjusted")
    page.goto(f"/admin/benefits/grant/{programme['grant'].pk}/revoke/")
    submit(page.locator("button[name=confirm]"))  # no reason: refused
    check("revoke refused")
    page.fill("textarea[name=reason]", "发错会员")
    submit(page.locator("button[name=confirm]"))
    check("grant revoked")
    page.goto(f"/admin/benefits/grant/{programme['grant'].pk}/redeem/")
    check("redeem link of a revoked grant")
    page.goto(f"/admin/members/member/{member.pk}/adjust-points/")
    page.fill("input[name=amount]", "5000")
    page.fill("textarea[name=reason]", "数据迁移修正")
    submit(page.locator("button[name=confirm]"))
    page.get_by_test_id("confirmation").wait_for()
    check("large adjustment confirmation")
    page.goto(f"/admin/campaigns/campaign/{programme['campaign'].pk}/change/")
    submit(page.get_by_test_id("campaign-transitions").locator("button[value=launch]"))
    page.get_by_test_id("confirmation").wait_for()
    check("campaign launch confirmation")
    page.goto("/admin/imports/importjob/add/")
    rows = [
        CHINESE_HEADER,
        ["CRM0002", "王芳", "13900139000", "", "杭州", "", "银卡", "100", "女", ""],
        ["CRM0003", "", "", "", "", "", "", "", "", ""],
    ]
    page.set_input_files("input[name=file]", str(write_csv(tmp_path / "会员.csv", rows)))
    submit(page.locator("form.userops-form button[type=submit]"))
    page.get_by_test_id("import-preview").wait_for()
    check("import preview")
    submit(page.locator("[data-testid=import-preview] button[type=submit]"))
    page.get_by_test_id("import-job").wait_for()
    check("import job")
    page.goto(f"/admin/events/event/register-member/{member.pk}/")
    submit(page.get_by_test_id("open-events").locator("tr", has_text="秋季自驾").get_by_role("button"))
    check("registered twice refused")
    page.goto(f"/admin/events/event/{programme['other_event'].pk}/register/?q=李")
    submit(page.get_by_test_id("member-matches").get_by_role("button"))
    check("member registered")
    page.goto(f"/admin/benefits/benefit/mall/?member={member.pk}")
    submit(page.get_by_test_id("mall-offers").locator("tr", has_text="品牌雨伞").get_by_role("button"))
    check("mall exchange refused")
    submit(page.get_by_test_id("mall-offers").locator("tr", has_text="洗车券").get_by_role("button"))
    check("mall exchange done")
    page.goto(f"/admin/events/event/{event.pk}/check-in/")
    for attempt in ("first scan", "second scan"):
        page.fill("input#ticket", programme["ticket"])
        submit(page.locator("#check-in-form button[type=submit]"))
        page.get_by_test_id("check-in-result").wait_for()
        check(f"check-in {attempt}")
    page.fill("input#ticket", "NOSUCHCODE")
    submit(page.locator("#check-in-form button[type=submit]"))
    page.get_by_test_id("check-in-error").wait_for()
    check("check-in unknown ticket")
    page.goto(f"/admin/events/event/{programme['next_week'].pk}/check-in/")
    page.fill("input#ticket", programme["early_ticket"])
    submit(page.locator("#check-in-form button[type=submit]"))
    page.get_by_test_id("check-in-error").filter(has_text="签到").wait_for()
    check("check-in too early")
    assert not report, "English left in the zh-hans back office:\n" + "\n".join(report)


TIER_PICKER_TEXT = """() => {
    const row = document.querySelector('select[name=eligible_tiers]').closest('.field-eligible_tiers');
    const texts = row.innerText.split('\\n').map((line) => line.trim()).filter(Boolean);
    for (const el of row.querySelectorAll('[title], [placeholder], [aria-label]')) {
        texts.push(...['title', 'placeholder', 'aria-label'].map((name) => el.getAttribute(name)).filter(Boolean));
    }
    return texts;
}"""


@pytest.mark.parametrize("url", ["/admin/benefits/benefit/add/", "/admin/events/event/add/"])
def test_the_tier_picker_reads_in_chinese(page, login_as, url):
    """The chooser is built by Django's script from its label, our help text and Django's and Unfold's own words."""
    login_as(superuser=True)
    page.context.add_cookies([{"name": "django_language", "value": "zh-hans", "url": page.url}])
    page.goto(url)
    page.locator(".field-eligible_tiers .selector-chooseall").wait_for()  # the script has built the chooser
    texts = page.evaluate(TIER_PICKER_TEXT)
    joined = " ".join(texts)
    assert "适用等级" in joined and "留空表示所有等级。" in joined and "过滤" in joined, texts
    assert english_left(texts, set(Tier.objects.values_list("name", flat=True))) == []


def test_error_pages_read_in_chinese(page, login_as, screenshot):
    login_as(OPERATIONS_MANAGER)
    page.context.add_cookies([{"name": "django_language", "value": "zh-hans", "url": page.url}])
    for status, url in [(404, "/admin/no-such-page/"), (400, "/admin/members/member/?no_such_field=1")]:
        response = page.goto(url)
        assert response.status == status
        assert page.get_by_test_id("error-page").get_by_role("heading").inner_text().endswith(f"（{status}）")
        assert english_left(page.evaluate(VISIBLE_TEXT), set()) == []
        screenshot(f"zh-hans-error-{status}")
    page.get_by_role("link", name="返回后台首页").click()
    page.wait_for_url("**/admin/")
