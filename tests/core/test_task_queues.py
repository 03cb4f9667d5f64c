"""Queues by workload: every task has one, and a worker of one pool never takes another pool's work."""

import pytest
import redis

from apps.members.tasks import expire_points
from apps.messaging.tasks import send_due
from config.celery import app
from config.celery_routes import ANALYTICS, BULK, INTERACTIVE, QUEUES, queue_for
from tests.conftest import wait_for


def _our_tasks() -> list[str]:
    app.loader.import_default_modules()
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def test_every_task_is_routed_to_a_declared_queue_by_its_workload():
    routes = {name: queue_for(name) for name in _our_tasks()}
    assert set(routes.values()) <= set(QUEUES)
    assert {name for name, queue in routes.items() if queue == ANALYTICS} == {"analytics.rollup", "analytics.score_rfm"}
    for bulk in ("campaigns.execute_run", "campaigns.launch", "imports.run_import", "members.evaluate_tiers", "members.expire_points"):
        assert routes[bulk] == BULK, bulk
    for interactive in ("messaging.send_due", "events.send_reminders", "imports.purge_files"):
        assert routes[interactive] == INTERACTIVE, interactive
    assert queue_for("anything.new") == INTERACTIVE
    assert app.amqp.router.route({}, "campaigns.execute_run", args=(1,))["queue"].name == BULK


def _waiting(queue: str) -> int:
    return redis.Redis.from_url(app.conf.broker_url).llen(queue)


@pytest.mark.celery_worker
@pytest.mark.worker_queues(INTERACTIVE)
def test_an_interactive_worker_leaves_bulk_work_to_its_own_pool(celery_worker_process):
    expire_points.delay()
    send_due.delay()
    assert _waiting(BULK) == 1
    wait_for(lambda: _waiting(INTERACTIVE) == 0, timeout=60, what="the interactive worker to take the send task")
    assert _waiting(BULK) == 1, "the bulk task must wait for a bulk worker"
