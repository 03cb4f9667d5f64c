"""Channel backends: how a message leaves the building.

A backend is any class with ``send(message) -> str`` returning the provider's reference, raising
``SendError`` when the provider refuses (the outbox retries with back-off). SMS and push use the class named
by ``USEROPS_SMS_BACKEND`` / ``USEROPS_PUSH_BACKEND``; email goes through Django's email backend
(``EMAIL_BACKEND``). docs/messaging.md shows how to plug in a real provider.
"""

import logging
import uuid
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils.module_loading import import_string

from apps.members.models import ConsentChannel

if TYPE_CHECKING:
    from apps.messaging.models import Message

logger = logging.getLogger("userops.messaging")


class SendError(Exception):
    """The provider did not accept the message; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class MessageBackend(Protocol):
    def send(self, message: "Message") -> str: ...


class LoggingBackend:
    """Writes the message to the log instead of sending it: the default until a provider is configured."""

    def send(self, message: "Message") -> str:
        logger.info("message %s via %s to member %s: %s", message.pk, message.channel, message.member_id, message.body)
        return f"log-{uuid.uuid4().hex}"


class EmailBackend:
    """Sends through Django's configured email backend."""

    def send(self, message: "Message") -> str:
        address = message.member.email
        if not address:
            raise SendError("member has no email address", permanent=True)
        email = EmailMessage(subject=message.subject, body=message.body, to=[address], headers={"X-UserOps-Message": str(message.pk)})
        if not email.send():
            raise SendError("email backend sent nothing")
        return f"email-{message.pk}"


# WeChat and WeCom backends live in their own modules (they import the identities app and this module's SendError).
WECHAT_BACKENDS = {
    ConsentChannel.OFFICIAL_ACCOUNT: "apps.messaging.wechat.OfficialAccountBackend",
    ConsentChannel.MINI_PROGRAM: "apps.messaging.wechat.MiniProgramBackend",
    ConsentChannel.WECOM: "apps.messaging.wecom.WeComBackend",
}


def backend_for(channel: str) -> MessageBackend:
    if channel in WECHAT_BACKENDS:
        return import_string(WECHAT_BACKENDS[channel])()
    if channel == ConsentChannel.EMAIL:
        return EmailBackend()
    path = {ConsentChannel.SMS: settings.USEROPS_SMS_BACKEND, ConsentChannel.PUSH: settings.USEROPS_PUSH_BACKEND}[channel]
    return import_string(path)()
