"""Batch handlers declare which stores concern them: a store that concerns none writes only its own rows, and a handler
is never skipped when a rule, task or journey stage it serves names one of the store's kinds, however recently made."""

from collections.abc import Callable

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.analytics.models import ActivityEvent, ActivityKind
from apps.analytics.services import activity_record
from apps.core import activity
from apps.core.models import ApiScope
from apps.engagement import services as engagement_services
from apps.engagement.models import TaskProgress
from apps.lifecycle.services import journey_stages_concern
from apps.members.models import PointsAccount
from apps.rules.models import RuleAward
from tests.benefits.factories import GrantFactory
from tests.core.factories import ApiClientFactory
from tests.engagement.factories import TaskFactory
from tests.members.factories import MemberFactory
from tests.rules.factories import EarningRuleFactory, ingest

pytestmark = pytest.mark.django_db

SHARED_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "reaction-concerns"}}


@pytest.fixture
def shared_cache(settings):
    """A cache outside the test's transaction, as Redis is: emptied after the test, whose rows it may name are gone."""
    settings.CACHES = SHARED_CACHE
    yield
    cache.clear()


def _record(member, kind: str, event_id: str) -> bool:
    return activity_record(member_id=member.pk, kind=kind, event_id=event_id, occurred_at=timezone.now())


@pytest.fixture
def login_handler():
    seen: list[list[tuple[str, bool]]] = []

    def handler(events):
        seen.append([(event.event_id, event.first_of_kind) for event in events])
        return {}

    activity.register_activity_batch_handler(handler, concerns=lambda kinds: ActivityKind.LOGIN in kinds)
    yield seen
    activity.BATCH_HANDLERS.remove(handler)


def test_a_batch_handler_runs_for_a_store_that_concerns_it_and_for_no_other(login_handler, shared_cache):
    member = MemberFactory()
    with CaptureQueriesContext(connection) as queries:
        assert _record(member, ActivityKind.APP_OPEN, "open-1")
    assert login_handler == []
    # No reaction ran: no savepoint was opened and no earlier event was looked for.
    assert not [query["sql"] for query in queries.captured_queries if "SAVEPOINT" in query["sql"]]
    assert _record(member, ActivityKind.LOGIN, "login-1")
    assert _record(member, ActivityKind.LOGIN, "login-2")
    assert login_handler == [[("login-1", True)], [("login-2", False)]]


def test_a_batch_is_stored_in_its_order_by_one_statement(login_handler, shared_cache):
    member, client = MemberFactory(), ApiClientFactory()
    at = "2026-03-02T10:00:00+08:00"
    items = [{"event_id": f"l{n}", "member_id": member.pk, "kind": ActivityKind.LOGIN, "occurred_at": at} for n in range(3)]
    assert ingest(client, *items)["created"] == 3
    assert ingest(client, *items, {**items[0], "event_id": "l3"})["created"] == 1
    assert login_handler == [[("l0", True), ("l1", False), ("l2", False)], [("l3", False)]]
    stored = list(ActivityEvent.objects.filter(member=member).order_by("pk").values_list("event_id", flat=True))
    assert stored == ["l0", "l1", "l2", "l3"]


def test_a_redemption_no_reaction_concerns_stores_its_activity_and_nothing_else(
    trusted_client, shared_cache, django_capture_on_commit_callbacks
):
    api, _client = trusted_client(scopes=[ApiScope.BENEFITS_REDEEM])
    first, grant = GrantFactory(), GrantFactory()

    def redeem(code: str) -> list[Callable[[], None]]:
        with django_capture_on_commit_callbacks() as callbacks:
            response = api.post(reverse("api-v1:grant-redeem"), {"code": code, "channel": "pos"}, HTTP_IDEMPOTENCY_KEY=code)
        assert response.status_code == 201
        return callbacks

    # The first redemption reads the configuration the reactions cache (rules, tasks, abuse limits).
    for callback in redeem(first.code):
        callback()
    callbacks = redeem(grant.code)
    with CaptureQueriesContext(connection) as queries:
        for callback in callbacks:
            callback()
    statements = [query["sql"] for query in queries.captured_queries if "SAVEPOINT" not in query["sql"]]
    # The event's key and the event, in one statement; the recorder's own transaction is the one savepoint of a test.
    assert len(statements) == 1, statements
    assert ActivityEvent.objects.filter(member_id=grant.member_id, kind=ActivityKind.BENEFIT_REDEMPTION).count() == 1


def test_a_rule_made_after_the_rules_were_read_pays_the_next_event_of_its_kind(shared_cache):
    member = MemberFactory()
    assert _record(member, ActivityKind.BENEFIT_REDEMPTION, "redemption:1")
    rule = EarningRuleFactory(kind=ActivityKind.BENEFIT_REDEMPTION, points=7)
    assert _record(member, ActivityKind.BENEFIT_REDEMPTION, "redemption:2")
    assert RuleAward.objects.get(rule=rule).member_id == member.pk
    assert PointsAccount.objects.get(member=member).balance == 7


def test_a_task_saved_paused_or_activated_after_the_kinds_were_read_counts_from_the_next_event(shared_cache):
    member = MemberFactory()
    assert _record(member, ActivityKind.BENEFIT_REDEMPTION, "redemption:1")
    task = engagement_services.task_save(task=TaskFactory.build(activity_kind=ActivityKind.BENEFIT_REDEMPTION, target=5))
    assert _record(member, ActivityKind.BENEFIT_REDEMPTION, "redemption:2")
    assert TaskProgress.objects.get(task=task, member=member).value == 1
    engagement_services.task_pause(task=task)
    assert _record(member, ActivityKind.BENEFIT_REDEMPTION, "redemption:3")
    assert TaskProgress.objects.get(task=task, member=member).value == 1
    engagement_services.task_activate(task=task)
    assert _record(member, ActivityKind.BENEFIT_REDEMPTION, "redemption:4")
    assert TaskProgress.objects.get(task=task, member=member).value == 2


def test_a_task_made_past_the_services_counts_once_the_kinds_are_told(shared_cache):
    member = MemberFactory()
    assert engagement_services.active_task_kinds() == frozenset()
    task = TaskFactory(activity_kind=ActivityKind.LOGIN, target=5)
    assert engagement_services.active_task_kinds() == frozenset({ActivityKind.LOGIN})
    assert _record(member, ActivityKind.LOGIN, "login-1")
    assert TaskProgress.objects.get(task=task, member=member).value == 1


def test_journey_stages_are_concerned_by_journey_events_only():
    assert journey_stages_concern(frozenset({ActivityKind.BENEFIT_REDEMPTION, ActivityKind.TEST_DRIVE_BOOKED}))
    assert not journey_stages_concern(frozenset({ActivityKind.BENEFIT_REDEMPTION, ActivityKind.LOGIN}))
