from collections.abc import Iterator

import pytest

from tests.webhooks.receiver import Receiver, running_receiver


@pytest.fixture(autouse=True)
def webhook_settings(settings: object) -> None:
    """Local receivers over http:// are allowed here (as in ``make run``); short timeouts keep failures quick."""
    settings.USEROPS_WEBHOOKS = {**settings.USEROPS_WEBHOOKS, "ALLOW_LOCAL_URLS": True, "TIMEOUT_SECONDS": 2.0, "CONCURRENCY": 4}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running
