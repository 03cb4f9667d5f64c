"""Mobile numbers as people write them, stored as E.164."""

import re
import unicodedata
from functools import cache

import phonenumbers
from django.conf import settings
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError

_SEPARATORS = re.compile(r"[\s\-().·/]")


def normalize_phone(raw: str, *, region: str | None = None) -> str:
    """Return ``raw`` in E.164 or raise ``ApplicationError(code="invalid_phone")``.

    Accepts full-width digits, spaces, dashes and brackets, ``+86``/``0086``/``86`` prefixes; a number
    without a country prefix is read in the programme's default region (China).
    """
    region = region or settings.USEROPS["DEFAULT_REGION"]
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw or "").strip())
    if not text:
        raise ApplicationError("invalid_phone", _("The mobile phone number is empty."), fields={"phone": raw})
    if text.startswith("00"):
        text = "+" + text[2:]
    if (mobile := _plain_mobile(text, region)) is not None:
        return mobile
    candidates = [text]
    if text.isdigit() and text.startswith("86") and len(text) == 13:
        candidates.insert(0, "+" + text)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise ApplicationError("invalid_phone", _("“%(phone)s” is not a valid mobile phone number.") % {"phone": raw}, fields={"phone": raw})


@cache
def _mobile_rule(region: str) -> tuple[str, re.Pattern[str]] | None:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.mobile is None or metadata.mobile.national_number_pattern is None:
        return None
    return str(metadata.country_code), re.compile(metadata.mobile.national_number_pattern)


def _plain_mobile(text: str, region: str) -> str | None:
    """E.164 for the common case — a region mobile, with or without its country code — by the region's own
    mobile pattern from the phone-number metadata, without a full parse (imports read millions of these)."""
    rule = _mobile_rule(region)
    if rule is None:
        return None
    country_code, pattern = rule
    if text.startswith("+"):
        # After "+86" comes the national number itself: a second "86" is part of it (and makes it invalid).
        national = text.removeprefix("+" + country_code)
    elif text.isdigit() and text.startswith(country_code) and len(text) > 11 and pattern.fullmatch(text[len(country_code) :]):
        national = text[len(country_code) :]
    else:
        national = text
    if national.isascii() and national.isdigit() and pattern.fullmatch(national):
        return f"+{country_code}{national}"
    return None


def looks_like_phone(text: str) -> bool:
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", text))
    return 7 <= len(digits) <= 15 and not re.search(r"[A-Za-z@]", text)
