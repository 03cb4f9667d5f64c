from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register

PER_PROCESS_CACHES = ("django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache")


@register(Tags.security, deploy=True)
def shared_cache_check(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """Throttles and sign-in lock-outs count in the default cache: one held in a process's memory limits nothing."""
    if settings.CACHES["default"]["BACKEND"] in PER_PROCESS_CACHES:
        return [
            Warning(
                "The default cache is not shared between processes, so API rate limits and sign-in lock-outs do not hold.",
                hint="Set CACHE_URL or REDIS_URL, or leave both unset for the database cache.",
                id="userops.W001",
            )
        ]
    return []
