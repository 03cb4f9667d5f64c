"""What a provider is: it sends one message and returns the provider's reference, or raises ``SendError``.

A ``SendError`` says what the outbox should do next: ``retry`` (a network error, a rate limit, the provider's
own fault: tried again with back-off), ``give_up`` (a refused template or sign name, no balance: trying again
sends nothing, so the next channel of the message's fallback order is tried), ``invalid_recipient`` (the
number or address itself is wrong: the same, and the staff see it on the message).
"""

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from apps.messaging.models import Message


class SendErrorKind(StrEnum):
    RETRY = "retry"
    GIVE_UP = "give_up"
    INVALID_RECIPIENT = "invalid_recipient"


class SendError(Exception):
    """The provider did not take the message. ``code`` is the provider's own error code (kept on the message)."""

    def __init__(self, message: str, *, kind: SendErrorKind = SendErrorKind.RETRY, code: str = "", permanent: bool | None = None) -> None:
        super().__init__(message)
        if permanent is not None:  # the older spelling: permanent=True is "give up"
            kind = SendErrorKind.GIVE_UP if permanent else SendErrorKind.RETRY
        self.kind = kind
        self.code = code

    @property
    def permanent(self) -> bool:
        return self.kind != SendErrorKind.RETRY


@dataclass(frozen=True)
class ProviderStatus:
    """Whether a channel can send: reported in the back office and by ``manage.py check``."""

    channel: str
    provider: str
    configured: bool
    problem: str = ""
    development_only: bool = False
    missing: tuple[str, ...] = ()  # the settings still to set, when that is what is wrong

    @property
    def channel_label(self) -> str:
        from apps.members.models import ConsentChannel

        return str(dict(ConsentChannel.choices).get(self.channel, self.channel))


class Provider:
    """One provider (Aliyun SMS, Tencent Cloud SMS, email …). Subclasses set ``name`` and ``channels``.

    ``config`` is the provider's entry of ``USEROPS_MESSAGE_PROVIDERS`` (settings, from the environment);
    ``required`` lists the keys that must be non-empty for the provider to count as configured.
    """

    name: ClassVar[str] = ""
    channels: ClassVar[frozenset[str]] = frozenset()
    required: ClassVar[tuple[str, ...]] = ()
    development_only: ClassVar[bool] = False
    # The only provider of its channels (WeChat's own): used for them unless settings choose another.
    native: ClassVar[bool] = False

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}

    def missing_settings(self) -> list[str]:
        return [key for key in self.required if not self.config.get(key)]

    @property
    def timeout(self) -> float:
        return float(self.config.get("TIMEOUT") or 10)

    def send(self, message: "Message") -> str:
        raise NotImplementedError


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, dict[str, Any]]:
    """POST and parse a JSON answer; network failures and non-JSON answers are ``retry`` errors."""
    # No body is sent as none (urllib would add a form Content-Type to an empty one, a header nobody signed).
    request = urllib.request.Request(url, data=body or None, headers=headers, method="POST")  # noqa: S310 - the URL is from settings
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the URL is from settings
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except TimeoutError as exc:
        raise SendError(f"timed out after {timeout:g} s", code="timeout") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise SendError(f"connection failed: {exc}", code="connection_error") from exc
    try:
        data = json.loads(raw or b"{}")
    except ValueError as exc:
        raise SendError(f"HTTP {status}: the answer is not JSON", code=f"http_{status}") from exc
    if not isinstance(data, dict):
        raise SendError(f"HTTP {status}: unexpected answer", code=f"http_{status}")
    return status, data
