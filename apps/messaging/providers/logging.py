"""Writes the message to the log instead of sending it. Only when chosen for a channel (development, demos)."""

import logging
import uuid
from typing import TYPE_CHECKING

from apps.messaging.providers.base import Provider

if TYPE_CHECKING:
    from apps.messaging.models import Message

logger = logging.getLogger("userops.messaging")


class LoggingProvider(Provider):
    name = "log"
    channels = frozenset()  # any channel
    development_only = True

    def send(self, message: "Message") -> str:
        logger.info("message %s via %s to member %s: %s", message.pk, message.channel, message.member_id, message.body)
        return f"log-{uuid.uuid4().hex}"
