"""Personal data in the back office, as staff meet it: no probing through search or the address bar, no leaky templates."""

import pytest

from apps.core.models import AccessAction, AccessLogEntry
from apps.core.roles import ANALYST, CAMPAIGN_MANAGER, CUSTOMER_SERVICE
from apps.messaging.models import MessageTemplate
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def member():
    return MemberFactory(name="李娜", phone="+8613800138000", email="li.na@example.com", city="上海")


def search(page, term: str) -> None:
    page.goto("/admin/members/member/")
    page.fill("input[name=q]", term)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_analyst_cannot_confirm_a_phone_by_search_or_by_the_address_bar(page, login_as, member):
    login_as(ANALYST)
    page.goto("/admin/members/member/")
    assert "Name (beginning) or external ID" in page.content()
    search(page, "138-0013-8000")
    assert page.get_by_role("link", name="李娜").count() == 0
    search(page, "李")
    assert page.get_by_role("link", name="李娜").count() == 1
    hit = page.goto("/admin/members/member/?phone__startswith=%2B86138")
    miss = page.goto("/admin/members/member/?phone__startswith=%2B86150")
    assert (hit.status, miss.status) == (400, 400)
    assert "+8613800138000" not in page.content()


def test_customer_service_finds_by_phone_and_the_list_is_logged(page, login_as, member):
    login_as(CUSTOMER_SERVICE)
    search(page, "138-0013-8000")
    page.get_by_role("link", name="李娜").first.wait_for()
    assert "+8613800138000" in page.content()
    assert AccessLogEntry.objects.filter(action=AccessAction.VIEW_MEMBER_LIST, object_ids=str(member.pk)).exists()


def test_campaign_manager_is_told_in_chinese_why_a_template_is_refused(page, login_as):
    login_as(CAMPAIGN_MANAGER)
    page.goto("/admin/messaging/messagetemplate/")
    with page.expect_navigation():
        page.evaluate("document.querySelector('form input[name=language][value=\"zh-hans\"]').form.submit()")
    page.goto("/admin/messaging/messagetemplate/add/")
    page.fill("input[name=code]", "leak")
    page.select_option("select[name=channel]", "sms")
    page.fill("textarea[name=body_en]", "{% for g in benefit.grants.all %}{{ g.member.phone }}{% endfor %}")
    page.fill("textarea[name=body_zh_hans]", "{{ name }}，您好")
    page.locator("[name=_save]").first.click()
    page.get_by_text("消息模板中不允许使用标签 {% for %}").wait_for()
    page.fill("textarea[name=body_en]", "Hi {{ actor.password }}")
    page.locator("[name=_save]").first.click()
    page.get_by_text("消息模板不能使用变量 actor.password").wait_for()
    assert not MessageTemplate.objects.filter(code="leak").exists()
