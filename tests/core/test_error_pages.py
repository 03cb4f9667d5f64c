"""Error pages speak the operator's language; 400 and 500 render without a request context."""

import pytest
from django.template import loader
from django.urls import reverse
from django.utils import translation

from apps.core.roles import CUSTOMER_SERVICE

pytestmark = pytest.mark.django_db


def get(client, url: str, language: str):
    client.cookies["django_language"] = language
    return client.get(url, HTTP_ACCEPT_LANGUAGE=language)


@pytest.mark.parametrize(
    ("language", "heading", "explanation"),
    [("zh-hans", "页面不存在（404）", "请检查网址"), ("en", "Page not found (404)", "Check the address")],
)
def test_a_missing_page_says_so_in_the_operators_language(client, language, heading, explanation):
    response = get(client, "/no-such-page/", language)
    page = response.content.decode()
    assert response.status_code == 404
    assert heading in page and explanation in page and f'lang="{language}"' in page
    assert reverse("admin:index") in page


@pytest.mark.parametrize(("language", "heading"), [("zh-hans", "请求无效（400）"), ("en", "Bad request (400)")])
def test_a_refused_request_says_so_in_the_operators_language(client, staff, language, heading):
    client.force_login(staff(is_superuser=True))
    response = get(client, reverse("admin:members_member_changelist") + "?no_such_field__startswith=1", language)
    assert response.status_code == 400
    assert heading in response.content.decode()


def test_a_forbidden_page_says_so_in_chinese(client, staff):
    client.force_login(staff(CUSTOMER_SERVICE))
    response = get(client, reverse("admin:benefits_benefit_import"), "zh-hans")
    assert response.status_code == 403
    assert "无权访问（403）" in response.content.decode()


@pytest.mark.parametrize(("language", "heading"), [("zh-hans", "服务器错误（500）"), ("en", "Server error (500)")])
def test_the_server_error_page_needs_no_request(language, heading):
    with translation.override(language):
        page = loader.get_template("500.html").render()
    assert heading in page and "userops/error.css" in page


def test_a_server_error_is_shown_in_chinese(client, settings):
    from django.http import HttpRequest
    from django.views import defaults

    with translation.override("zh-hans"):
        response = defaults.server_error(HttpRequest())
    assert response.status_code == 500 and "服务器错误（500）" in response.content.decode()
