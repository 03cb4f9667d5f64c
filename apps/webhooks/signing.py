"""How a request is signed, and how a receiver checks it (docs/webhooks.md shows the same code).

``X-UserOps-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>`` where ``timestamp`` is the
``X-UserOps-Timestamp`` header (Unix seconds) and ``body`` the raw request body. A receiver recomputes it, compares in
constant time, and refuses a timestamp too far from its own clock (a replayed capture).
"""

import hashlib
import hmac
import time

SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def verify(
    *, secret: str, body: bytes, timestamp: str, signature: str, tolerance: int = DEFAULT_TOLERANCE_SECONDS, now: float | None = None
) -> bool:
    """Whether ``signature`` (the header's value) signs ``body`` at ``timestamp`` with ``secret``, recently enough.

    The header may carry several signatures separated by commas (during a secret rotation a receiver may hold both).
    """
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance:
        return False
    expected = sign(secret=secret, timestamp=sent_at, body=body)
    return any(hmac.compare_digest(expected, candidate.strip()) for candidate in (signature or "").split(","))
