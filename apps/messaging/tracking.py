"""A message's tracked link and open pixel: ``/t/<token>/`` and ``/t/<token>/o.gif``.

The token is the message's id signed with the secret key and the time it was made (Django's signing), so it cannot
be guessed or altered to reach another message, and it stops counting after ``TRACKING_DAYS``. The id is read only
once the signature holds; nothing is looked up for a token that does not.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "messaging.tracking"


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT, algorithm="sha256")


def tracking_token(message_id: int) -> str:
    return _signer().sign(str(message_id))


def message_id_from_token(token: str) -> int | None:
    """The message id a token was made for; None when the token is altered, not one of ours or expired."""
    try:
        value = _signer().unsign(token, max_age=timedelta(days=settings.USEROPS_MESSAGING["TRACKING_DAYS"]))
    except signing.BadSignature:  # SignatureExpired is one
        return None
    return int(value) if value.isdigit() else None


def _absolute(path: str) -> str:
    return settings.USEROPS_MESSAGING["PUBLIC_BASE_URL"].rstrip("/") + path


def tracked_url(message_id: int) -> str:
    """The link a message carries in place of its target: opening it records the click and redirects to the target."""
    return _absolute(reverse("message-link", kwargs={"token": tracking_token(message_id)}))


def open_pixel_url(message_id: int) -> str:
    return _absolute(reverse("message-open", kwargs={"token": tracking_token(message_id)}))
