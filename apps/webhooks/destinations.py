"""Where an endpoint may point: HTTPS to a public address. Not our own network (SSRF).

Plain HTTP and loopback addresses (``localhost``, ``127.0.0.1``, ``::1``) are accepted only when
``USEROPS_WEBHOOKS["ALLOW_LOCAL_URLS"]`` is on (tests, ``make run``). The address is checked when the endpoint is
saved and again before every request, since a name can resolve elsewhere later.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError

LOCAL_NAMES = {"localhost", "127.0.0.1", "::1"}


def _refuse(message: str, url: str) -> ApplicationError:
    return ApplicationError("invalid_url", message, fields={"url": url})


def _allow_local() -> bool:
    return bool(settings.USEROPS_WEBHOOKS["ALLOW_LOCAL_URLS"])


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def destination_check(url: str, *, resolve: bool = True) -> str:
    """The URL, cleaned, or an ``invalid_url`` refusal naming why."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refuse(_("Enter a valid URL."), url) from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise _refuse(_("Enter a full https:// URL."), url)
    if parts.username or parts.password:
        raise _refuse(_("The URL must not contain a user name or password; the signature authenticates us."), url)
    local = host in LOCAL_NAMES
    if local and not _allow_local():
        raise _refuse(_("Local addresses are not allowed."), url)
    if parts.scheme != "https" and not local:
        raise _refuse(_("The URL must use https://."), url)
    if local or not resolve:
        return url
    try:
        addresses = _addresses(host, port or 443)
    except OSError:
        raise _refuse(_("The host name %(host)s cannot be resolved.") % {"host": host}, url) from None
    for address in addresses:
        if not address.is_global or address.is_multicast:
            raise _refuse(_("The URL points into a private or reserved network (%(address)s).") % {"address": address}, url)
    return url
