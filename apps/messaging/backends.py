"""The names senders and custom providers used before the provider layer: see ``apps.messaging.providers``."""

from apps.messaging.providers.base import SendError, SendErrorKind
from apps.messaging.providers.email import EmailProvider as EmailBackend
from apps.messaging.providers.logging import LoggingProvider as LoggingBackend

__all__ = ["EmailBackend", "LoggingBackend", "SendError", "SendErrorKind"]
