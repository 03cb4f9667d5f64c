"""The hand-off from services to the broker: by task name, after commit, never for a rolled-back transaction."""

import re
from pathlib import Path

import pytest
from celery.signals import before_task_publish
from django.db import transaction

from apps.core.queueing import enqueue_on_commit

pytestmark = pytest.mark.django_db


@pytest.fixture
def published():
    sent = []

    def record(sender=None, body=None, **_kwargs):
        sent.append((sender, list(body[0]), body[1]))

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)


def test_a_task_is_sent_by_name_once_the_transaction_commits(published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        enqueue_on_commit("campaigns.execute_run", 42)
        enqueue_on_commit("core.purge_idempotency_records", kwargs={"dry": True})
        assert published == []  # nothing leaves before the commit
    assert len(callbacks) == 2
    assert published == [("campaigns.execute_run", [42], {}), ("core.purge_idempotency_records", [], {"dry": True})]


@pytest.mark.django_db(transaction=True)
def test_nothing_is_sent_when_the_transaction_rolls_back(published):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit("imports.run_import", 7)
        raise RuntimeError("refused")
    assert published == []
    with transaction.atomic():
        enqueue_on_commit("imports.run_import", 7)
    assert published == [("imports.run_import", [7], {})]


def test_services_never_import_tasks():
    """Tasks call services; a service hands work over by task name, so no services module imports a tasks module."""
    root = Path(__file__).resolve().parents[2] / "apps"
    offenders = [
        f"{path.relative_to(root)}: {line.strip()}"
        for path in [*root.glob("*/services.py"), *root.glob("*/services/*.py")]
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.search(r"\bimport\b.*\btasks\b|\bfrom apps\.\w+\.tasks\b|\bfrom apps\.\w+ import .*\btasks\b", line)
    ]
    assert offenders == []
