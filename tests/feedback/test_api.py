import pytest

from apps.feedback import services
from apps.feedback.models import FeedbackItem, FeedbackReply
from tests.feedback.factories import FeedbackCategoryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def category():
    return FeedbackCategoryFactory(code="charging", name="Charging", sla_hours=24)


def test_member_creates_lists_and_reads_their_feedback(member_client, category):
    api, _member = member_client()
    created = api.post(
        "/api/v1/me/feedback/",
        {"category": "charging", "subject": "Slow charger", "body": "Only 7 kW"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="c1",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "open" and body["category"]["code"] == "charging" and body["channel"] == "member_app"
    assert api.get("/api/v1/me/feedback/").json()["results"][0]["id"] == body["id"]
    assert api.get(f"/api/v1/me/feedback/{body['id']}/").json()["subject"] == "Slow charger"


def test_bad_payloads_name_the_field(member_client, category):
    api, _member = member_client()
    unknown = api.post("/api/v1/me/feedback/", {"category": "nope", "subject": "s", "body": "b"}, format="json", HTTP_IDEMPOTENCY_KEY="b1")
    assert unknown.status_code == 400 and "category" in unknown.json()["error"]["fields"]
    missing = api.post("/api/v1/me/feedback/", {"category": "charging", "body": "b"}, format="json", HTTP_IDEMPOTENCY_KEY="b2")
    assert missing.status_code == 400 and "subject" in missing.json()["error"]["fields"]
    assert not FeedbackItem.objects.exists()


def test_another_members_item_is_unreachable(member_client, category, staff):
    _owner_api, owner = member_client()
    other_api, _other = member_client()
    item = services.feedback_create(member=owner, category=category, subject="Mine", body="private")
    assert other_api.get(f"/api/v1/me/feedback/{item.pk}/").status_code == 404
    assert (
        other_api.post(f"/api/v1/me/feedback/{item.pk}/reply/", {"body": "hi"}, format="json", HTTP_IDEMPOTENCY_KEY="p0").status_code == 404
    )
    assert (
        other_api.post(f"/api/v1/me/feedback/{item.pk}/rate/", {"satisfaction": 1}, format="json", HTTP_IDEMPOTENCY_KEY="r0").status_code
        == 404
    )
    assert other_api.get("/api/v1/me/feedback/").json()["results"] == []
    assert FeedbackReply.objects.count() == 0


def test_internal_notes_stay_hidden_and_the_member_rates_once(member_client, category, staff):
    api, member = member_client()
    agent = staff("Customer service")
    item = services.feedback_create(member=member, category=category, subject="Broken", body="Door")
    services.feedback_reply(item=item, staff=agent, body="VIP, handle with care", internal=True)
    services.feedback_resolve(item=item, staff=agent, resolution="Fixed at the store.")
    detail = api.get(f"/api/v1/me/feedback/{item.pk}/").json()
    assert [reply["body"] for reply in detail["replies"]] == ["Fixed at the store."]
    early = api.post(f"/api/v1/me/feedback/{item.pk}/rate/", {"satisfaction": 5}, format="json", HTTP_IDEMPOTENCY_KEY="rate-1")
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_closed"
    services.feedback_close(item=item, staff=agent)
    assert api.get(f"/api/v1/me/feedback/{item.pk}/").json()["satisfaction_asked"] is True
    out_of_range = api.post(f"/api/v1/me/feedback/{item.pk}/rate/", {"satisfaction": 9}, format="json", HTTP_IDEMPOTENCY_KEY="rate-2")
    assert out_of_range.status_code == 400 and "satisfaction" in out_of_range.json()["error"]["fields"]
    rated = api.post(
        f"/api/v1/me/feedback/{item.pk}/rate/", {"satisfaction": 5, "comment": "quick"}, format="json", HTTP_IDEMPOTENCY_KEY="rate-3"
    )
    assert rated.status_code == 200 and rated.json()["satisfaction"] == 5
    again = api.post(f"/api/v1/me/feedback/{item.pk}/rate/", {"satisfaction": 1}, format="json", HTTP_IDEMPOTENCY_KEY="rate-4")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_rated"


def test_a_member_reply_reopens_a_resolved_item(member_client, category, staff):
    api, member = member_client()
    item = services.feedback_create(member=member, category=category, subject="Broken", body="Door")
    services.feedback_resolve(item=item, staff=staff("Customer service"), resolution="Fixed.")
    replied = api.post(f"/api/v1/me/feedback/{item.pk}/reply/", {"body": "It is not"}, format="json", HTTP_IDEMPOTENCY_KEY="p1")
    assert replied.status_code == 201 and replied.json()["status"] == "in_progress"


def test_without_a_member_token_nothing_is_reachable(api):
    assert api.get("/api/v1/me/feedback/").status_code in (401, 403)


def test_a_retried_rating_replays_the_first_answer_and_a_missing_key_is_refused(member_client, category, staff):
    api, member = member_client()
    agent = staff("Customer service")
    item = services.feedback_create(member=member, category=category, subject="Broken", body="Door")
    services.feedback_resolve(item=item, staff=agent, resolution="Fixed.")
    services.feedback_close(item=item, staff=agent)
    url = f"/api/v1/me/feedback/{item.pk}/rate/"
    missing = api.post(url, {"satisfaction": 4}, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "idempotency_key_missing"
    first = api.post(url, {"satisfaction": 4}, format="json", HTTP_IDEMPOTENCY_KEY="rate-once")
    retry = api.post(url, {"satisfaction": 4}, format="json", HTTP_IDEMPOTENCY_KEY="rate-once")
    assert first.status_code == retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    changed = api.post(url, {"satisfaction": 1}, format="json", HTTP_IDEMPOTENCY_KEY="rate-once")
    assert changed.status_code == 422 and changed.json()["error"]["code"] == "idempotency_key_reused"
    item.refresh_from_db()
    assert item.satisfaction == 4


def test_a_retried_feedback_or_reply_is_stored_once(member_client, category):
    api, member = member_client()
    new = {"category": "charging", "subject": "Slow charger", "body": "Only 7 kW"}
    assert api.post("/api/v1/me/feedback/", new, format="json").json()["error"]["code"] == "idempotency_key_missing"
    first = api.post("/api/v1/me/feedback/", new, format="json", HTTP_IDEMPOTENCY_KEY="new-1")
    retry = api.post("/api/v1/me/feedback/", new, format="json", HTTP_IDEMPOTENCY_KEY="new-1")
    assert first.status_code == retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json() and FeedbackItem.objects.filter(member=member).count() == 1
    other = api.post("/api/v1/me/feedback/", {**new, "subject": "Another"}, format="json", HTTP_IDEMPOTENCY_KEY="new-1")
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"

    url = f"/api/v1/me/feedback/{first.json()['id']}/reply/"
    assert api.post(url, {"body": "Any news?"}, format="json").json()["error"]["code"] == "idempotency_key_missing"
    replied = api.post(url, {"body": "Any news?"}, format="json", HTTP_IDEMPOTENCY_KEY="reply-1")
    again = api.post(url, {"body": "Any news?"}, format="json", HTTP_IDEMPOTENCY_KEY="reply-1")
    assert replied.status_code == again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == replied.json()
    assert list(FeedbackReply.objects.values_list("body", flat=True)) == ["Any news?"]
