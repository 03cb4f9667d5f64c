"""Mobile numbers as people write them, stored as E.164."""

import re
import unicodedata

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


def looks_like_phone(text: str) -> bool:
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", text))
    return 7 <= len(digits) <= 15 and not re.search(r"[A-Za-z@]", text)
