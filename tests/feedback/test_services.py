from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.core.models import OutboxEvent
from apps.feedback import services
from apps.feedback.models import FeedbackItem, FeedbackPriority, FeedbackReply, FeedbackStatus, FeedbackStatusChange
from tests.feedback.factories import FeedbackCategoryFactory
from tests.members.factories import MemberFactory
from tests.webhooks.factories import WebhookEndpointFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(staff):
    return staff("Customer service")


def _item(**kwargs):
    defaults = {
        "member": MemberFactory(),
        "category": FeedbackCategoryFactory(sla_hours=48),
        "subject": "Charger broken",
        "body": "It stopped.",
    }
    return services.feedback_create(**{**defaults, **kwargs})


def test_due_time_is_the_category_sla_after_arrival():
    received = timezone.now().replace(microsecond=0)
    item = _item(category=FeedbackCategoryFactory(code="delivery", sla_hours=4), now=received)
    assert item.due_at == received + timedelta(hours=4)
    assert item.status == FeedbackStatus.OPEN
    assert list(item.status_changes.values_list("from_status", "to_status")) == [("", "open")]


def test_the_whole_way_to_closed_records_every_change_and_its_webhook_event(agent):
    WebhookEndpointFactory()
    item = _item()
    services.feedback_start(item=item, staff=agent)
    services.feedback_reply(item=item, staff=agent, body="Looking into it", internal=True)
    services.feedback_resolve(item=item, staff=agent, resolution="Replaced the charger.")
    services.feedback_close(item=item, staff=agent)
    item.refresh_from_db()
    assert item.status == FeedbackStatus.CLOSED and item.assignee == agent and item.closed_at and item.resolved_at
    changes = list(FeedbackStatusChange.objects.filter(item=item).values_list("from_status", "to_status"))
    assert changes == [("", "open"), ("open", "in_progress"), ("in_progress", "resolved"), ("resolved", "closed")]
    events = OutboxEvent.objects.filter(type="feedback.status_changed").order_by("pk")
    assert [e.payload["to_status"] for e in events] == ["open", "in_progress", "resolved", "closed"]
    assert events.last().payload["feedback_id"] == item.pk and "body" not in events.last().payload


@pytest.mark.parametrize(
    ("path", "forbidden"),
    [
        ([], "close"),
        ([], "reopen"),
        (["start"], "close"),
        (["start"], "start"),
        (["start", "resolve", "close"], "reopen"),
        (["start", "resolve", "close"], "resolve"),
    ],
)
def test_forbidden_transitions_are_refused_and_change_nothing(agent, path, forbidden):
    item = _item()
    steps = {
        "start": lambda: services.feedback_start(item=item, staff=agent),
        "resolve": lambda: services.feedback_resolve(item=item, staff=agent, resolution="done"),
        "close": lambda: services.feedback_close(item=item, staff=agent),
        "reopen": lambda: services.feedback_reopen(item=item, staff=agent, reason="again"),
    }
    for step in path:
        steps[step]()
    before = FeedbackStatusChange.objects.count()
    status = FeedbackItem.objects.get(pk=item.pk).status
    with pytest.raises(ApplicationError) as refused:
        steps[forbidden]()
    assert refused.value.code == "invalid_transition"
    assert FeedbackStatusChange.objects.count() == before
    assert FeedbackItem.objects.get(pk=item.pk).status == status


def test_a_member_reply_reopens_a_resolved_item_and_a_closed_item_takes_no_reply(agent):
    item = _item()
    services.feedback_resolve(item=item, staff=agent, resolution="Try restarting it.")
    services.feedback_reply(item=item, member=item.member, body="Still broken")
    item.refresh_from_db()
    assert item.status == FeedbackStatus.IN_PROGRESS and item.resolved_at is None
    services.feedback_resolve(item=item, staff=agent, resolution="Replaced.")
    services.feedback_close(item=item, staff=agent)
    with pytest.raises(ApplicationError) as refused:
        services.feedback_reply(item=item, member=item.member, body="thanks")
    assert refused.value.code == "feedback_closed"


def test_a_member_never_writes_an_internal_note_and_cannot_reply_to_another_members_item():
    item = _item()
    reply = services.feedback_reply(item=item, member=item.member, body="hello", internal=True)
    assert reply.internal is False
    with pytest.raises(ApplicationError) as refused:
        services.feedback_reply(item=item, member=MemberFactory(), body="not mine")
    assert refused.value.code == "not_found"
    assert FeedbackReply.objects.filter(item=item).count() == 1


def test_satisfaction_once_on_a_closed_item_from_its_member(agent):
    item = _item()
    with pytest.raises(ApplicationError) as early:
        services.feedback_rate(item=item, member=item.member, satisfaction=5)
    assert early.value.code == "not_closed"
    services.feedback_resolve(item=item, staff=agent, resolution="done")
    services.feedback_close(item=item, staff=agent)
    for bad in (0, 6, "5", True):
        with pytest.raises(ApplicationError) as invalid:
            services.feedback_rate(item=item, member=item.member, satisfaction=bad)
        assert invalid.value.code == "invalid_satisfaction"
    services.feedback_rate(item=item, member=item.member, satisfaction=4, comment="quick")
    with pytest.raises(ApplicationError) as twice:
        services.feedback_rate(item=item, member=item.member, satisfaction=1)
    assert twice.value.code == "already_rated"
    item.refresh_from_db()
    assert item.satisfaction == 4


def test_bad_input_names_the_field_and_writes_nothing():
    member, category = MemberFactory(), FeedbackCategoryFactory()
    cases = [
        ({"subject": "  "}, "subject"),
        ({"body": "x" * 5001}, "body"),
        ({"channel": "fax"}, "channel"),
        ({"priority": "asap"}, "priority"),
    ]
    for change, field in cases:
        with pytest.raises(ApplicationError) as refused:
            services.feedback_create(**{"member": member, "category": category, "subject": "s", "body": "b", **change})
        assert field in refused.value.fields
    category.is_active = False
    category.save()
    with pytest.raises(ApplicationError):
        services.feedback_create(member=member, category=category, subject="s", body="b")
    assert not FeedbackItem.objects.exists()


def test_only_staff_who_handle_feedback_may_be_assigned(agent, staff):
    item = _item()
    with pytest.raises(ApplicationError) as refused:
        services.feedback_assign(item=item, assignee=staff("Analyst"), staff=agent)
    assert refused.value.code == "assignee_cannot_handle"
    services.feedback_assign(item=item, assignee=agent, staff=agent)
    item.refresh_from_db()
    assert item.assignee == agent and item.status == FeedbackStatus.IN_PROGRESS


def test_escalation_makes_overdue_items_urgent_once(agent):
    now = timezone.now()
    overdue = _item(category=FeedbackCategoryFactory(code="fast", sla_hours=1), now=now - timedelta(hours=2))
    on_time = _item(now=now)
    done = _item(category=FeedbackCategoryFactory(code="fast", sla_hours=1), now=now - timedelta(hours=2))
    services.feedback_resolve(item=done, staff=agent, resolution="ok")
    assert services.feedback_escalate_overdue(now=now) == 1
    assert services.feedback_escalate_overdue(now=now) == 0
    assert FeedbackItem.objects.get(pk=overdue.pk).priority == FeedbackPriority.URGENT
    assert FeedbackItem.objects.get(pk=on_time.pk).escalated_at is None


def test_the_database_refuses_a_rating_on_an_unclosed_item():
    item = _item()
    with pytest.raises(Exception, match="feedback_rated_only_when_closed"), connection.cursor() as cursor:
        cursor.execute("UPDATE feedback_feedbackitem SET satisfaction = 5 WHERE id = %s", [item.pk])


def test_the_feedback_timeline_source_pages_by_cursor_newest_first(staff):
    from apps.members.timeline import TIMELINE_SOURCES, TimelineCursor

    member, agent = MemberFactory(), staff("Customer service")
    for subject in ("One", "Two"):
        item = services.feedback_create(member=member, category=FeedbackCategoryFactory(), subject=subject, body="b")
        services.feedback_start(item=item, staff=agent)
    source = next(source for source in TIMELINE_SOURCES if source.name == "feedback")
    everything = list(source.fetch(member, None, 10))
    assert [item.item_id for item in everything] == sorted(FeedbackStatusChange.objects.values_list("pk", flat=True), reverse=True)
    seen, cursor = [], None
    while page := list(source.fetch(member, cursor, 1)):
        seen += page
        cursor = TimelineCursor(at=page[-1].at, source="feedback", item_id=page[-1].item_id)
    assert seen == everything
