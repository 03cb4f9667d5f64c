"""A real worker: a task that always fails is retried a bounded number of times, then kept for staff."""

import pytest

from apps.campaigns.tasks import execute_run
from apps.core.models import FailedTask, FailedTaskState
from tests.conftest import wait_for


@pytest.mark.celery_worker
def test_always_failing_task_stops_after_bounded_retries_on_a_real_worker(celery_worker_process):
    result = execute_run.delay(987_654)  # no such run: fails every time
    wait_for(lambda: FailedTask.objects.filter(task_id=result.id).exists(), timeout=90, what="the failed task record")
    failed = FailedTask.objects.get(task_id=result.id)
    assert (failed.task_name, failed.args, failed.state) == ("campaigns.execute_run", [987_654], FailedTaskState.FAILED)
    assert failed.retries == execute_run.max_retries == 3
    assert "DoesNotExist" in failed.exception
