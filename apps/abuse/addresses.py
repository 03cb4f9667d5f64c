"""Client addresses as comparable text: IPv4 and IPv6 in one 128-bit space, written as 32 hexadecimal digits.

An IPv4 address is placed where IPv6 maps it (``::ffff:a.b.c.d``), so ``::ffff:10.0.0.1`` and ``10.0.0.1`` are the
same key and an IPv4 network covers both spellings.
"""

import ipaddress
from dataclasses import dataclass

from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError

_MAPPED = 0xFFFF << 32
# Broader networks than these are refused: a typo such as 10.0.0.0/1 would hold half the internet's awards.
MIN_PREFIX = {4: 8, 6: 24}


def _key(number: int) -> str:
    return f"{number:032x}"


def address_key(text: str) -> str | None:
    """The comparable key of one address, or None when ``text`` is not an address."""
    try:
        address = ipaddress.ip_address(str(text).strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return _key(_MAPPED | int(address)) if address.version == 4 else _key(int(address))


def address_text(text: str) -> str:
    """One address in its usual written form (IPv4-mapped IPv6 as IPv4), the way activity rows are compared."""
    address = ipaddress.ip_address(str(text).strip())
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


@dataclass(frozen=True)
class AddressRange:
    network: str  # normalised: "10.1.0.0/16", "2001:db8::/32", "203.0.113.7"
    start: str
    end: str
    is_network: bool


def address_range(text: str, *, field: str = "network") -> AddressRange:
    """An address or a CIDR network as a range of keys; a clear error naming ``field`` when it is neither."""
    value = str(text).strip()
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ApplicationError(
            "invalid_address", _("“%(value)s” is not an IP address or a network in CIDR form.") % {"value": value}, fields={field: value}
        ) from None
    if network.version == 6 and network.network_address.ipv4_mapped is not None and network.prefixlen >= 96:
        network = ipaddress.ip_network(f"{network.network_address.ipv4_mapped}/{network.prefixlen - 96}")
    if network.prefixlen < MIN_PREFIX[network.version]:
        raise ApplicationError(
            "network_too_broad",
            _("“%(value)s” is too broad: an IPv%(version)s network may be at most /%(prefix)s.")
            % {"value": value, "version": network.version, "prefix": MIN_PREFIX[network.version]},
            fields={field: value},
        )
    first, last = int(network.network_address), int(network.broadcast_address)
    if network.version == 4:
        first, last = _MAPPED | first, _MAPPED | last
    single = network.num_addresses == 1
    return AddressRange(
        network=str(network.network_address) if single else str(network), start=_key(first), end=_key(last), is_network=not single
    )
