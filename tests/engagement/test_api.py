"""The member API: /me/tasks/, /me/badges/, /me/sign-in/ and its calendar — own data only, clear refusals."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from apps.benefits import services as benefit_services
from apps.benefits.models import GrantSource
from apps.engagement import services
from apps.engagement.models import SignIn, TaskGoal, TaskWindow
from apps.engagement.windows import local_day
from tests.benefits.factories import BenefitFactory
from tests.engagement.factories import BadgeFactory, TaskFactory, activity
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


def test_sign_in_is_idempotent_per_day_and_announces_one_activity(member_client, django_capture_on_commit_callbacks):
    api, member = member_client()
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post("/api/v1/me/sign-in/")
    with django_capture_on_commit_callbacks(execute=True):
        again = api.post("/api/v1/me/sign-in/")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["streak"] == 1 and first.json()["longest_streak"] == 1
    assert first.json()["day"] == local_day(timezone.now()).isoformat()
    assert SignIn.objects.filter(member=member).count() == 1


def test_sign_in_needs_a_member_token(api, member_client):
    assert api.post("/api/v1/me/sign-in/").status_code in (401, 403)
    assert api.get("/api/v1/me/tasks/").status_code in (401, 403)
    assert not SignIn.objects.exists()


def test_a_get_of_the_sign_in_endpoint_changes_nothing(member_client):
    api, _member = member_client()
    assert api.get("/api/v1/me/sign-in/").status_code == 405
    assert not SignIn.objects.exists()


def test_calendar_lists_the_month_and_the_next_streak_reward(member_client, django_capture_on_commit_callbacks):
    api, member = member_client()
    today = local_day(timezone.now())
    TaskFactory(code="sign-7", title="Sign in 7 days in a row", goal=TaskGoal.STREAK, activity_kind="sign_in", target=7, reward_points=70)
    TaskFactory(code="sign-30", goal=TaskGoal.STREAK, activity_kind="sign_in", target=30, reward_points=300)
    with django_capture_on_commit_callbacks(execute=True):
        services.sign_in(member=member)
    other = MemberFactory()
    services.sign_in(member=other, now=timezone.now() - timedelta(days=1))
    services.sign_in(member=other)
    body = api.get("/api/v1/me/sign-in/calendar/", {"month": today.strftime("%Y-%m")}).json()
    assert body["days"] == [today.isoformat()] and body["signed_in_today"] is True
    assert body["streak"] == 1 and body["longest_streak"] == 1
    assert body["next_reward"]["task"] == "sign-7" and body["next_reward"]["days_to_go"] == 6
    assert body["next_reward"]["reward"]["points"] == 70
    empty = api.get("/api/v1/me/sign-in/calendar/", {"month": "2020-01"}).json()
    assert empty["days"] == [] and empty["month"] == "2020-01"


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "december", "2026-12-01", "1999-12", "2026-1 ", "2026- 1", "２０２６-12"])
def test_a_bad_month_is_a_clear_400(member_client, month):
    api, _member = member_client()
    answer = api.get("/api/v1/me/sign-in/calendar/", {"month": month})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_month" and "month" in answer.json()["error"]["fields"]


def test_my_tasks_show_progress_window_and_reward_of_my_tasks_only(member_client):
    api, member = member_client()
    badge = BadgeFactory(name="活跃车主")
    attend = TaskFactory(code="attend-3", target=3, window=TaskWindow.QUARTER, reward_points=300, reward_badge=badge)
    gold_only = TaskFactory(code="gold-only", target=1)
    gold_only.tiers.set([tier("gold")])
    TaskFactory(code="paused", status="paused")
    services.task_progress_record([activity(member, at=timezone.now()), activity(MemberFactory(), at=timezone.now())])
    rows = api.get("/api/v1/me/tasks/").json()
    assert [row["code"] for row in rows] == ["attend-3"]
    row = rows[0]
    today = local_day(timezone.now())
    quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    assert (row["progress"], row["target"], row["completed_at"]) == (1, 3, None)
    assert row["window_start"] == quarter_start.isoformat() and row["window_end"] is not None
    assert row["reward"] == {"points": 300, "growth": 0, "benefit": None, "badge": "活跃车主"}
    assert attend.pk


def test_my_badges_list_my_badges_and_titles_with_earn_date_only(member_client):
    api, member = member_client()
    star = BadgeFactory(name="社区之星")
    title = BadgeFactory(name="早鸟", kind="title")
    coupon = BenefitFactory()
    for benefit in (star, title, coupon):
        benefit_services.grant_issue(benefit=benefit, member=member, source=GrantSource.STAFF)
    benefit_services.grant_issue(benefit=star, member=MemberFactory(), source=GrantSource.STAFF)
    rows = api.get("/api/v1/me/badges/").json()
    assert sorted((row["name"], row["kind"]) for row in rows) == [("早鸟", "title"), ("社区之星", "badge")]
    assert all(row["earned_at"] and row["expires_at"] is None for row in rows)


def test_refusals_read_in_chinese(member_client):
    api, _member = member_client()
    answer = api.get("/api/v1/me/sign-in/calendar/", {"month": "12-2026"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert answer.json()["error"]["message"] == "月份格式为 YYYY-MM，例如 2026-12。"


def test_an_ingested_batch_completes_a_task_once_and_answers_its_points(trusted_client):
    from apps.core.models import ApiScope

    api, _client = trusted_client([ApiScope.ACTIVITY_WRITE])
    TaskFactory(code="refer-2", activity_kind="referral", target=2, reward_points=500)
    member = MemberFactory()
    items = [
        {"event_id": f"ref-{n}", "member_id": member.pk, "kind": "referral", "occurred_at": "2026-11-02T10:00:00+08:00"} for n in range(3)
    ]
    body = api.post("/api/v1/activity/batch/", {"events": items}, format="json", HTTP_IDEMPOTENCY_KEY="batch-1").json()
    assert body["created"] == 3 and body["points_awarded"] == 500
    assert [item.get("points") for item in body["items"]].count(500) == 1
    again = api.post("/api/v1/activity/batch/", {"events": items}, format="json", HTTP_IDEMPOTENCY_KEY="batch-2").json()
    assert again["duplicates"] == 3 and again["points_awarded"] == 0
