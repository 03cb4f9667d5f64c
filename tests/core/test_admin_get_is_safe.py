"""GET never changes state: every back-office URL, fetched with GET by a superuser, leaves the database as it was.

The walk covers every URL the admin site and its model admins declare, so a new action that acts on a GET fails here.
Reads are still recorded in the access log (that is its purpose), so the log is the one table left out of the comparison.
"""

import itertools
import re
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.urls import URLPattern, reverse
from django.utils import timezone

from apps.campaigns.models import CAMPAIGN_TRANSITION_FROM
from apps.core import services as core_services
from apps.core.models import AccessLogEntry, ApiClient, FailedTask, FailedTaskState, hash_secret
from apps.events import services as event_services
from apps.events.models import Event, EventStatus
from apps.imports.models import ImportJob, ImportStatus
from apps.members import services as member_services
from apps.members.models import Member
from tests.benefits.factories import BenefitFactory, GrantFactory
from tests.campaigns.factories import CampaignFactory, SegmentFactory
from tests.core.factories import ApiClientFactory, UserFactory
from tests.events.factories import ClubFactory, EventFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

UNCHANGED_BY_READS = {AccessLogEntry, Session}
PLACEHOLDER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def database_state() -> dict[str, list[dict[str, Any]]]:
    return {
        model._meta.label: list(model._base_manager.order_by("pk").values())
        for model in apps.get_models()
        if model not in UNCHANGED_BY_READS
    }


def programme_with_one_of_everything() -> None:
    member = MemberFactory()
    member_services.points_earn(member=member, amount=100, reason="welcome")
    benefit = BenefitFactory()
    GrantFactory(benefit=benefit, member=member)
    draft = EventFactory(status=EventStatus.DRAFT, club=ClubFactory())
    event_services.registration_create(event=EventFactory(), member=member)
    assert draft.status == EventStatus.DRAFT
    CampaignFactory(segment=SegmentFactory())
    ApiClientFactory()
    core_services.failed_task_record(task_id="t-get", task_name="members.expire_points", args=[], kwargs={}, exception="boom")
    ImportJob.objects.create(original_name="members.csv", status=ImportStatus.PREVIEWED, total_rows=1)


def history_ids(model_admin: admin.ModelAdmin, pk: Any) -> list[Any]:
    history = getattr(model_admin.model, "history", None)
    return list(history.filter(pk=pk).values_list("history_id", flat=True)) if history is not None else []


def model_admin_paths(model_admin: admin.ModelAdmin) -> list[str]:
    opts = model_admin.model._meta
    base = f"/admin/{opts.app_label}/{opts.model_name}/"
    pks = list(model_admin.model._base_manager.order_by("pk").values_list("pk", flat=True)[:5])
    # A mistyped link is a 404 or a message, never a server error.
    values: dict[str, list[Any]] = {"object_id": [*pks, "not-an-id"], "id": pks, "job_id": pks, "language": ["en", "zh-hans"]}
    values["name"] = ["daily", *CAMPAIGN_TRANSITION_FROM]
    values["member_id"] = list(Member.objects.order_by("pk").values_list("pk", flat=True)[:5])
    paths = []
    for pattern in model_admin.get_urls():
        assert isinstance(pattern, URLPattern), pattern
        route = str(pattern.pattern)
        if route == r"^([^/]+)/history/([^/]+)/$":
            paths += [f"{base}{pk}/history/{version}/" for pk in pks for version in history_ids(model_admin, pk)]
            continue
        names = {match["name"] for match in PLACEHOLDER.finditer(route)}
        assert names <= values.keys(), f"teach this walk the parameters of {route}"
        if not names:
            paths.append(base + route)
            continue
        for combination in itertools.product(*(values[name] for name in sorted(names))):
            chosen = dict(zip(sorted(names), combination, strict=True))
            paths.append(base + PLACEHOLDER.sub(lambda match, chosen=chosen: str(chosen[match["name"]]), route))
    return paths


def site_paths() -> list[str]:
    member = Member.objects.first()
    member_type = ContentType.objects.get_for_model(Member)
    labels = sorted({model._meta.app_label for model in admin.site._registry})
    return [
        reverse("admin:index"),
        reverse("admin:login"),
        reverse("admin:logout"),
        reverse("admin:password_change"),
        reverse("admin:password_change_done"),
        reverse("admin:autocomplete") + "?app_label=members&model_name=member&field_name=referred_by&term=a",
        reverse("admin:jsi18n"),
        reverse("admin:view_on_site", args=[member_type.pk, member.pk]),
        "/admin/search/?s=a",
        *[reverse("admin:app_list", args=[label]) for label in labels],
    ]


def test_every_back_office_url_fetched_with_get_changes_nothing(client):
    programme_with_one_of_everything()
    superuser = UserFactory(username="root", is_superuser=True)
    client.force_login(superuser)
    paths = site_paths()
    for model_admin in admin.site._registry.values():
        paths += model_admin_paths(model_admin)
    actions = [path for path in paths if path.rstrip("/").rsplit("/", 1)[-1] in {"rotate-key", "retry", "publish", "close", "cancel"}]
    assert len(actions) >= 5, "the walk must reach the custom actions"
    before = database_state()
    answered = {}
    for path in paths:
        answered[path] = client.get(path).status_code
    assert database_state() == before
    assert all(status < 500 for status in answered.values()), {p: s for p, s in answered.items() if s >= 500}


def test_rotating_a_key_asks_first_and_rotates_only_on_post(client):
    api_client = ApiClientFactory()
    client.force_login(UserFactory(username="root", is_superuser=True))
    url = reverse("admin:core_apiclient_rotate_key", args=[api_client.pk])
    page = client.get(url)
    assert page.status_code == 200 and "stops working at once" in page.content.decode()
    assert ApiClient.objects.get(pk=api_client.pk).key_hash == api_client.key_hash
    response = client.post(url, follow=True)
    rotated = ApiClient.objects.get(pk=api_client.pk)
    assert rotated.key_hash != api_client.key_hash
    shown = re.search(r"is (\S+\.\S+) — copy it now", response.content.decode())
    assert shown and hash_secret(shown.group(1)) == rotated.key_hash


@pytest.mark.parametrize(
    ("action", "start", "end"),
    [("publish", EventStatus.DRAFT, EventStatus.PUBLISHED), ("close_registration", EventStatus.PUBLISHED, EventStatus.CLOSED)],
)
def test_event_transitions_ask_first_and_act_only_on_post(client, action, start, end):
    event = EventFactory(status=start)
    client.force_login(UserFactory(username="root", is_superuser=True))
    url = reverse(f"admin:events_event_{action}", args=[event.pk])
    assert client.get(url).status_code == 200
    assert Event.objects.get(pk=event.pk).status == start
    assert client.post(url).status_code == 302
    assert Event.objects.get(pk=event.pk).status == end


def test_an_event_transition_refused_by_its_service_is_shown_on_the_page(client):
    event = EventFactory(status=EventStatus.CANCELLED, starts_at=timezone.now() + timedelta(days=7))
    client.force_login(UserFactory(username="root", is_superuser=True))
    response = client.post(reverse("admin:events_event_publish", args=[event.pk]))
    assert response.status_code == 200 and Event.objects.get(pk=event.pk).status == EventStatus.CANCELLED


def test_a_failed_task_is_not_queued_again_by_a_get(client):
    failed = core_services.failed_task_record(task_id="t-g", task_name="members.expire_points", args=[], kwargs={}, exception="boom")
    client.force_login(UserFactory(username="root", is_superuser=True))
    assert client.get(reverse("admin:core_failedtask_retry", args=[failed.pk])).status_code == 200
    assert FailedTask.objects.get(pk=failed.pk).state == FailedTaskState.FAILED
