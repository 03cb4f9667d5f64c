"""Providers: who takes a message out of the building, per channel.

``USEROPS_MESSAGING["CHANNEL_PROVIDERS"]`` names the provider of each channel (``sms=aliyun_sms``); each provider
reads its own entry of ``USEROPS_MESSAGING["PROVIDERS"]``. A provider is a registered name (``register_provider``,
called from an app's ``ready()`` for channels added later) or the dotted path of a class with
``send(message) -> str``. A channel with no provider, or whose provider lacks a required setting, is not
configured: ``provider_for`` raises ``ProviderNotConfiguredError`` and the outbox fails the message with
``provider_not_configured`` (and tries the next channel of its fallback order).
"""

from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from apps.messaging.providers.aliyun import AliyunSmsProvider
from apps.messaging.providers.base import Provider, ProviderStatus, SendError, SendErrorKind
from apps.messaging.providers.email import EmailProvider
from apps.messaging.providers.logging import LoggingProvider
from apps.messaging.providers.tencent import TencentSmsProvider

__all__ = [
    "Provider",
    "ProviderNotConfiguredError",
    "ProviderStatus",
    "SendError",
    "SendErrorKind",
    "provider_for",
    "provider_statuses",
    "register_provider",
]

PROVIDER_NOT_CONFIGURED = "provider_not_configured"

_registry: dict[str, type[Provider]] = {}


class ProviderNotConfiguredError(Exception):
    def __init__(self, channel: str, detail: str, *, missing: tuple[str, ...] = ()) -> None:
        super().__init__(f"{PROVIDER_NOT_CONFIGURED}: {detail}")
        self.channel = channel
        self.detail = detail
        self.missing = missing


def register_provider(provider: type[Provider]) -> type[Provider]:
    _registry[provider.name] = provider
    return provider


for _provider in (AliyunSmsProvider, TencentSmsProvider, EmailProvider, LoggingProvider):
    register_provider(_provider)


def _settings() -> dict[str, Any]:
    return settings.USEROPS_MESSAGING


def chosen_provider(channel: str) -> str:
    """The provider chosen for a channel in settings, else the one registered as the channel's own (WeChat's)."""
    chosen = (_settings().get("CHANNEL_PROVIDERS") or {}).get(channel, "")
    if chosen:
        return chosen
    return next((cls.name for cls in _registry.values() if cls.native and channel in cls.channels), "")


def _build(channel: str) -> tuple[str, Any]:
    """(provider name, provider) for the channel; raises ProviderNotConfiguredError."""
    name = chosen_provider(channel)
    if not name:
        raise ProviderNotConfiguredError(channel, f"no provider is chosen for the channel {channel}")
    if name in _registry:
        cls = _registry[name]
        if cls.channels and channel not in cls.channels:
            raise ProviderNotConfiguredError(channel, f"{name} does not send {channel} messages")
        provider = cls((_settings().get("PROVIDERS") or {}).get(name) or {})
        if missing := provider.missing_settings():
            raise ProviderNotConfiguredError(channel, f"{name} lacks {', '.join(missing)}", missing=tuple(missing))
        return name, provider
    if "." in name:
        try:
            cls = import_string(name)
        except ImportError as exc:
            raise ProviderNotConfiguredError(channel, f"{name} cannot be imported: {exc}") from exc
        return name, cls((_settings().get("PROVIDERS") or {}).get(name) or {}) if issubclass(cls, Provider) else cls()
    raise ProviderNotConfiguredError(channel, f"unknown provider {name}")


def provider_for(channel: str) -> tuple[str, Any]:
    """The configured provider of a channel as (name, provider with ``send(message) -> str``)."""
    return _build(channel)


def provider_statuses(channels: list[str] | None = None) -> list[ProviderStatus]:
    """Every channel's provider and whether it can send (back-office panel, system check)."""
    from apps.messaging.policy import known_channels

    statuses = []
    for channel in channels or known_channels():
        name = chosen_provider(channel)
        try:
            name, provider = _build(channel)
        except ProviderNotConfiguredError as exc:
            statuses.append(ProviderStatus(channel=channel, provider=name, configured=False, problem=exc.detail, missing=exc.missing))
            continue
        statuses.append(
            ProviderStatus(
                channel=channel, provider=name, configured=True, development_only=bool(getattr(provider, "development_only", False))
            )
        )
    return statuses
