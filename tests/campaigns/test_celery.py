"""A real Celery worker (and beat) on Redis, against the test database."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from apps.benefits.models import Grant
from apps.campaigns import services
from apps.campaigns.models import CampaignRun, CampaignStatus, RunStatus, ScheduleKind
from apps.members.models import PointsEntry
from config.celery import app as celery_app
from tests.benefits.factories import BenefitFactory
from tests.campaigns.factories import CampaignFactory, SegmentFactory
from tests.conftest import reset_celery_connections
from tests.members.factories import MemberFactory

BROKER = os.environ.get("USEROPS_TEST_CELERY_BROKER", "redis://127.0.0.1:6379/2")
ROOT = Path(settings.BASE_DIR)
pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def _env(**extra: str) -> dict[str, str]:
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": BROKER,
        "DATABASE_CONN_MAX_AGE": "0",
        **extra,
    }


@pytest.fixture
def celery(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts celery processes (worker, beat) from the project's own entry point; stops them after the test.

    Tasks queued by the test process itself go to the same Redis database.
    """
    redis.Redis.from_url(BROKER).flushdb()
    previous = {"broker_url": celery_app.conf.broker_url, "broker_transport_options": celery_app.conf.broker_transport_options}
    celery_app.conf.update(broker_url=BROKER, broker_transport_options={"visibility_timeout": 3600})
    reset_celery_connections()
    started: list[subprocess.Popen] = []

    def start(*args: str, **env: str) -> subprocess.Popen:
        log = (tmp_path / f"celery-{len(started)}.log").open("w")
        process = subprocess.Popen(  # noqa: S603 — fixed argv
            [sys.executable, "-m", "celery", "-A", "config", *args], cwd=ROOT, env=_env(**env), stdout=log, stderr=subprocess.STDOUT
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    celery_app.conf.update(previous)
    reset_celery_connections()
    redis.Redis.from_url(BROKER).flushdb()


def wait_for(condition: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the worker")
        time.sleep(0.3)


def finished_run(campaign) -> CampaignRun | None:
    return CampaignRun.objects.filter(campaign=campaign, status=RunStatus.COMPLETED).first()


def test_a_scheduled_campaign_fires_through_beat_grants_and_awards(celery, tmp_path):
    members = MemberFactory.create_batch(7)
    benefit = BenefitFactory()
    campaign = CampaignFactory(
        points_amount=300, benefit=benefit, schedule_kind=ScheduleKind.ONCE, run_at=timezone.now() + timedelta(seconds=3)
    )
    services.campaign_save(campaign=campaign)
    services.campaign_schedule(campaign=campaign)
    celery("worker", "--pool=solo", "--concurrency=1", "--without-heartbeat", "--without-gossip", "--without-mingle")
    beat_state = str(tmp_path / "beat")
    celery("beat", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler", "--schedule", beat_state, "--max-interval", "1")
    wait_for(lambda: finished_run(campaign) is not None)
    run = finished_run(campaign)
    assert (run.acted, run.points_awarded, run.benefits_granted) == (7, 2100, 7)
    assert Grant.objects.filter(benefit=benefit, member__in=members, source_ref=f"campaign-run:{run.pk}").count() == 7
    assert PointsEntry.objects.filter(account__member__in=members, source_ref=f"campaign-run:{run.pk}").count() == 7
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    assert not campaign.periodic_task.enabled


def test_killed_worker_the_run_is_resumed_by_another_without_double_awards(celery):
    segment = SegmentFactory()
    with connection.cursor() as cursor:
        # Enough members that the run is still going when the worker is killed.
        cursor.execute(
            """
            INSERT INTO members_member (name, phone, email, gender, city, source_channel, status, status_reason, joined_at, tier_id,
                                        tier_achieved_at, created_at, updated_at)
            SELECT 'Member ' || i, '+86139' || lpad(i::text, 8, '0'), '', 'unknown', '上海', 'app', 'active', '', now(),
                   (SELECT id FROM members_tier ORDER BY rank LIMIT 1), now(), now(), now()
            FROM generate_series(1, 4000) AS i
            """
        )
        cursor.execute("INSERT INTO members_pointsaccount (member_id, balance, updated_at) SELECT id, 0, now() FROM members_member")
    campaign = CampaignFactory(segment=segment, points_amount=10)
    worker_env = {"USEROPS_CAMPAIGN_CHUNK_SIZE": "20"}
    first = celery("worker", "--pool=solo", "--without-heartbeat", "--without-gossip", "--without-mingle", **worker_env)
    run = services.campaign_launch(campaign=campaign)
    wait_for(lambda: CampaignRun.objects.get(pk=run.pk).processed >= 200)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = CampaignRun.objects.get(pk=run.pk)
    assert killed_at.status == RunStatus.RUNNING and killed_at.processed < 4000

    celery("worker", "--pool=solo", "--without-heartbeat", "--without-gossip", "--without-mingle", **worker_env)
    assert services.campaign_runs_resume_stalled(stalled_for=timedelta(0)) == [run.pk]
    wait_for(lambda: CampaignRun.objects.get(pk=run.pk).status == RunStatus.COMPLETED, timeout=180)

    run.refresh_from_db()
    assert (run.targeted, run.processed, run.acted, run.points_awarded) == (4000, 4000, 4000, 40000)
    entries = PointsEntry.objects.filter(source_ref=f"campaign-run:{run.pk}")
    assert entries.count() == 4000
    assert not entries.values("account").annotate(n=Count("id")).filter(n__gt=1).exists()


def test_two_beat_processes_by_mistake_run_a_scheduled_campaign_once_per_slot(celery, tmp_path):
    """Two beats fire the same every-minute campaign at the same moment: one run per minute, each member once."""
    from apps.core.models import FailedTask

    members = MemberFactory.create_batch(3)
    campaign = CampaignFactory(points_amount=100, schedule_kind=ScheduleKind.CRON, cron="* * * * *", applies_frequency_cap=False)
    services.campaign_save(campaign=campaign)
    services.campaign_schedule(campaign=campaign)
    celery("worker", "--pool=solo", "--concurrency=1", "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=INFO")
    for name in ("first", "second"):
        beat_state = str(tmp_path / f"beat-{name}")
        celery("beat", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler", "--schedule", beat_state, "--max-interval", "1")
    log_file = tmp_path / "celery-0.log"

    def turned_away() -> bool:
        log = log_file.read_text() if log_file.exists() else ""
        return "not launched: slot_already_run" in log or "not launched: run_in_progress" in log

    wait_for(lambda: finished_run(campaign) is not None, timeout=120)
    # Both beats fire every minute, but a busy machine can start one of them a minute late: wait for the minute in
    # which both fired and the second launch was turned away.
    wait_for(turned_away, timeout=150)
    runs = list(CampaignRun.objects.filter(campaign=campaign).order_by("pk"))
    slots = [run.scheduled_for for run in runs]
    assert runs and None not in slots and len(slots) == len(set(slots)), slots
    assert not FailedTask.objects.exists()
    worker_log = log_file.read_text()
    launches = [line for line in worker_log.splitlines() if "campaigns.launch[" in line and line.endswith("received")]
    assert len(launches) >= 2, worker_log  # both beats fired
    for run in runs:
        if run.status == RunStatus.COMPLETED:
            assert PointsEntry.objects.filter(account__member__in=members, source_ref=f"campaign-run:{run.pk}").count() == 3
