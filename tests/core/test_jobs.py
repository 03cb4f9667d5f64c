"""Jobs: bounded retries and failed tasks visible to staff, one campaign run per beat slot, tasks queued after commit."""

import re
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest
from celery import shared_task
from django.db import IntegrityError, transaction
from django.urls import reverse

from apps.campaigns import services as campaign_services
from apps.campaigns import tasks as campaign_tasks
from apps.campaigns.models import CampaignRun, ScheduleKind
from apps.core import services
from apps.core.errors import ApplicationError
from apps.core.models import FailedTask, FailedTaskState
from apps.core.roles import ANALYST, AUDITOR, OPERATIONS_MANAGER
from apps.members.models import PointsEntry
from tests.campaigns.factories import CampaignFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

ATTEMPTS: list[int] = []


@shared_task(name="tests.always_fails")
def always_fails(member_id: int) -> None:
    ATTEMPTS.append(member_id)
    raise RuntimeError(f"downstream system refused member {member_id}")


@shared_task(name="tests.refuses")
def refuses() -> None:
    ATTEMPTS.append(0)
    raise ApplicationError("refused", "a domain refusal is an answer")


def test_a_task_that_always_fails_stops_after_bounded_retries_and_is_kept_for_staff():
    ATTEMPTS.clear()
    result = always_fails.apply(args=[7])
    assert result.failed()
    assert len(ATTEMPTS) == always_fails.max_retries + 1 == 4
    failed = FailedTask.objects.get()
    assert (failed.task_name, failed.args, failed.state) == ("tests.always_fails", [7], FailedTaskState.FAILED)
    assert "downstream system refused member 7" in failed.exception and "RuntimeError" in failed.traceback


def test_domain_refusals_are_not_retried_nor_recorded():
    ATTEMPTS.clear()
    assert refuses.apply().failed()
    assert ATTEMPTS == [0] and not FailedTask.objects.exists()


def test_failed_task_is_queued_again_after_commit_once(staff, django_capture_on_commit_callbacks):
    failed = services.failed_task_record(task_id="t-1", task_name="members.expire_points", args=[], kwargs={}, exception="boom")
    with mock.patch("celery.current_app.send_task") as send:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.failed_task_retry(failed_task=failed, actor=staff(OPERATIONS_MANAGER))
        send.assert_not_called()  # nothing leaves before the commit
        for callback in callbacks:
            callback()
        send.assert_called_once()
        assert send.call_args.args == ("members.expire_points",)
    failed.refresh_from_db()
    assert failed.state == FailedTaskState.RETRIED and failed.retry_task_id == send.call_args.kwargs["task_id"]
    with pytest.raises(ApplicationError):
        services.failed_task_retry(failed_task=failed)


def test_failed_tasks_in_the_back_office(client, staff):
    failed = services.failed_task_record(task_id="t-2", task_name="members.expire_points", args=[], kwargs={}, exception="boom")
    changelist = reverse("admin:core_failedtask_changelist")
    client.force_login(staff(ANALYST))
    assert client.get(changelist).status_code == 403
    client.force_login(staff(AUDITOR))
    assert "members.expire_points" in client.get(changelist).content.decode()
    assert client.get(reverse("admin:core_failedtask_retry", args=[failed.pk])).status_code == 403
    assert client.post(reverse("admin:core_failedtask_retry", args=[failed.pk])).status_code == 403
    client.force_login(staff(OPERATIONS_MANAGER))
    retry_url = reverse("admin:core_failedtask_retry", args=[failed.pk])
    confirmation = client.get(retry_url)
    assert confirmation.status_code == 200 and "The task runs again with the same arguments." in confirmation.content.decode()
    assert FailedTask.objects.get(pk=failed.pk).state == FailedTaskState.FAILED
    with mock.patch("celery.current_app.send_task"):
        response = client.post(retry_url)
    assert response.status_code == 302
    assert FailedTask.objects.get(pk=failed.pk).state == FailedTaskState.RETRIED
    again = client.post(retry_url)
    assert again.status_code == 200 and FailedTask.objects.get(pk=failed.pk).state == FailedTaskState.RETRIED


SLOT_TIME = datetime(2026, 6, 1, 1, 0, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "second_tick"),
    [
        ({"schedule_kind": ScheduleKind.CRON, "cron": "0 9 * * *"}, datetime(2026, 6, 1, 1, 0, 50, tzinfo=UTC)),
        ({"schedule_kind": ScheduleKind.INTERVAL, "interval_minutes": 60}, datetime(2026, 6, 1, 1, 40, 0, tzinfo=UTC)),
    ],
)
def test_two_beats_ticking_for_the_same_slot_start_one_run(schedule, second_tick, django_capture_on_commit_callbacks):
    """The first run has even finished when the second beat's tick arrives: the slot is taken, nothing doubles."""
    MemberFactory.create_batch(3)
    campaign = CampaignFactory(points_amount=100, applies_frequency_cap=False, **schedule)
    campaign_services.campaign_schedule(campaign=campaign)
    with mock.patch("django.utils.timezone.now", return_value=SLOT_TIME), django_capture_on_commit_callbacks() as queued:
        first = campaign_tasks.launch.apply(kwargs={"campaign_id": campaign.pk}).get()
    assert len(queued) == 1
    assert campaign_services.campaign_run_execute(run_id=first).acted == 3  # what the queued execute_run does
    with mock.patch("django.utils.timezone.now", return_value=second_tick), django_capture_on_commit_callbacks() as queued:
        assert campaign_tasks.launch.apply(kwargs={"campaign_id": campaign.pk}).get() is None
    assert queued == []
    assert CampaignRun.objects.filter(campaign=campaign).count() == 1
    assert PointsEntry.objects.filter(source_ref=f"campaign-run:{first}").count() == 3
    # the next slot runs
    next_slot = datetime(2026, 6, 2, 1, 0, 5, tzinfo=UTC)
    with mock.patch("django.utils.timezone.now", return_value=next_slot), django_capture_on_commit_callbacks():
        assert campaign_tasks.launch.apply(kwargs={"campaign_id": campaign.pk}).get() not in (None, first)


def test_the_database_refuses_a_second_run_for_a_slot():
    campaign = CampaignFactory()
    CampaignRun.objects.create(campaign=campaign, scheduled_for=SLOT_TIME)
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignRun.objects.create(campaign=campaign, scheduled_for=SLOT_TIME)


def test_staff_launches_are_not_slot_bound():
    MemberFactory()
    campaign = CampaignFactory(schedule_kind=ScheduleKind.INTERVAL, interval_minutes=60, applies_frequency_cap=False)
    for _ in range(2):
        run = campaign_services.campaign_launch(campaign=campaign)
        campaign_services.campaign_run_execute(run_id=run.pk)
    assert CampaignRun.objects.filter(campaign=campaign, scheduled_for__isnull=True).count() == 2


QUEUEING = re.compile(r"\.(delay|apply_async|send_task)\(")


def test_tasks_are_queued_only_after_commit():
    """Every place that queues a task does it inside transaction.on_commit, so a worker never sees uncommitted rows."""
    root = Path(__file__).resolve().parents[2] / "apps"
    offenders = []
    for path in root.rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if QUEUEING.search(line) and "on_commit" not in line:
                offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert offenders == []
