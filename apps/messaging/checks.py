"""``manage.py check``: a channel that is in use but whose provider is not configured (userops.W010).

In use: a provider is chosen for it, it is in a fallback order, or (when the check may read the database) it has
an active template. Its messages would be failed with ``provider_not_configured``.
"""

import contextlib
from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.db import DatabaseError


def _channels_in_use(databases: Any) -> set[str]:
    config = settings.USEROPS_MESSAGING
    channels = {channel for channel, name in (config.get("CHANNEL_PROVIDERS") or {}).items() if name}
    for order in (config.get("FALLBACK_ORDER") or {}).values():
        channels.update(order or [])
    if databases:
        from apps.messaging.models import MessageTemplate

        with contextlib.suppress(DatabaseError):  # not migrated yet
            channels.update(MessageTemplate.objects.filter(is_active=True).values_list("channel", flat=True).distinct())
    return channels


@register(Tags.compatibility)
def providers_configured_check(app_configs: Any, databases: Any = None, **kwargs: Any) -> list[Warning]:
    from apps.messaging.providers import provider_statuses

    in_use = _channels_in_use(databases)
    return [
        Warning(
            f"Messages on the {status.channel} channel cannot be sent: {status.problem}.",
            hint="Choose its provider in USEROPS_MESSAGE_CHANNEL_PROVIDERS and set that provider's settings (docs/messaging.md); "
            "until then its messages are marked failed (provider_not_configured).",
            obj=f"channel {status.channel}",
            id="userops.W010",
        )
        for status in provider_statuses(sorted(in_use))
        if not status.configured
    ]
