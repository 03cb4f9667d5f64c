"""Signed survey links: a member and a survey, with an expiry, signed with the project's secret key.

A link carries no state in the database: the signature proves we issued it, the payload names who may answer what
and until when. Tampering with any part breaks the signature; a link of another member is refused where it is used.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError

SALT = "feedback.survey-link"


@dataclass(frozen=True)
class SurveyLink:
    member_id: int
    survey_id: int
    expires_at: datetime


def survey_token(*, member_id: int, survey_id: int, valid_days: int, now: datetime | None = None) -> str:
    expires = (now or timezone.now()) + timedelta(days=valid_days)
    return signing.dumps({"m": member_id, "s": survey_id, "e": int(expires.timestamp())}, salt=SALT, compress=True)


def survey_url(token: str) -> str:
    base = settings.USEROPS_MESSAGING["PUBLIC_BASE_URL"].rstrip("/")
    return base + reverse("api-v1:me-survey", kwargs={"token": token})


def survey_link_read(*, token: str, now: datetime | None = None) -> SurveyLink:
    """The link's member and survey; refused when the signature does not match or the link has expired."""
    try:
        payload = signing.loads(token, salt=SALT)
        link = SurveyLink(
            member_id=int(payload["m"]),
            survey_id=int(payload["s"]),
            expires_at=datetime.fromtimestamp(int(payload["e"]), tz=UTC),
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise ApplicationError("invalid_survey_link", _("This survey link is not valid."), fields={"token": ""}, http_status=404) from None
    if link.expires_at <= (now or timezone.now()):
        raise ApplicationError("survey_link_expired", _("This survey link has expired."), fields={"token": ""}, http_status=410)
    return link
