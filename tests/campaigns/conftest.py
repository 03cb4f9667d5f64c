from collections.abc import Iterator
from typing import Any

import pytest
from celery.signals import before_task_publish


@pytest.fixture
def published_tasks() -> Iterator[list[tuple[str, list[Any]]]]:
    """(task name, args) of every task sent to the broker while the test runs (the in-memory broker in tests)."""
    sent: list[tuple[str, list[Any]]] = []

    def record(sender: str | None = None, body: Any = None, **_kwargs: Any) -> None:
        sent.append((sender, list(body[0])))

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)
