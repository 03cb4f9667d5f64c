from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from apps.abuse.config import CONFIG_KEY


@pytest.fixture(autouse=True)
def forget_screen_config(django_db_blocker: Any) -> Iterator[None]:
    """The screen's configuration lives in the shared cache, which outlives a test's rolled-back transaction."""
    with django_db_blocker.unblock():
        cache.delete(CONFIG_KEY)
    yield
    with django_db_blocker.unblock():
        cache.delete(CONFIG_KEY)
