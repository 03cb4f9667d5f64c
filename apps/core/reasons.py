"""Reasons the system writes (into the points ledger, tier history, registrations …) stored as a code with
parameters and rendered in the reader's language; reasons staff type stay plain text.

A row keeps its ``reason`` text too (rendered in the programme's default language when written): old rows
written before codes existed, and rows staff wrote, show that text as it is.
"""

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import translation
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

# code → message (a msgid, translated when read); parameters are named in the message.
MESSAGES: dict[str, str] = {
    "enrolment": gettext_noop("Enrolment"),
    "imported": gettext_noop("Imported"),
    "imported_with_tier": gettext_noop("Imported with tier from the previous programme"),
    "tier_promoted": gettext_noop("Growth value %(value)d reached the %(tier)s threshold of %(threshold)d."),
    "tier_demoted": gettext_noop("Growth value %(value)d stayed below the %(tier)s threshold of %(threshold)d after the guarantee period."),
    "opening_balance_import": gettext_noop("Opening balance from import"),
    "points_expired": gettext_noop("Points expired"),
    "purchase": gettext_noop("Purchase"),
    "earning_rule": gettext_noop("Earning rule: %(rule)s"),
    "campaign": gettext_noop("Campaign: %(name)s"),
    "referral_reward": gettext_noop("Referral reward"),
    "points_mall": gettext_noop("Points mall: %(benefit)s"),
    "grant_refund": gettext_noop("Refund: %(reason)s"),
    "event": gettext_noop("Event: %(title)s"),
    "event_attended": gettext_noop("Attended: %(title)s"),
    "event_cancelled": gettext_noop("Event cancelled: %(reason)s"),
    "registration_cancelled_by_member": gettext_noop("Cancelled by the member"),
    "registration_not_seated": gettext_noop("Could not be seated: %(why)s"),
    "registration_no_free_seat": gettext_noop("The event took place without a free seat"),
    "tier_promoted_conditions": gettext_noop(
        "Growth value %(value)d reached the %(tier)s threshold of %(threshold)d and its other conditions held: %(met)s."
    ),
    "tier_demoted_conditions": gettext_noop("No longer met the %(tier)s conditions after the guarantee period: %(unmet)s."),
    "tier_assigned": gettext_noop("Assigned to %(tier)s by staff until %(until)s: %(reason)s"),
    "tier_assignment_ended": gettext_noop("The assignment to %(tier)s ended; the member moves to the tier they qualify for."),
    "member_merged_in": gettext_noop("Merged from duplicate member #%(member)s"),
    "member_merged_out": gettext_noop("Merged into member #%(member)s"),
    "tier_kept_on_merge": gettext_noop("%(tier)s kept from duplicate member #%(member)s"),
}


def translated_param(obj: Any, name: str) -> Any:
    """A parameter naming something with a name in each language (a tier, a benefit): every language's name,
    so the reader sees the one of their language. Plain text when the field is not translated."""
    values = {code: getattr(obj, f"{name}_{code.replace('-', '_')}", None) for code, _label in settings.LANGUAGES}
    if all(value is None for value in values.values()):
        return getattr(obj, name)
    fallback = getattr(obj, name)
    return {code: value or fallback for code, value in values.items()}


def _param_in(value: Any, language: str) -> Any:
    if isinstance(value, dict):
        return value.get(language) or value.get(settings.LANGUAGE_CODE) or next(iter(value.values()), "")
    return value


def render_reason(code: str, params: dict[str, Any] | None, fallback: str = "") -> str:
    """The reason in the active language; the stored text when there is no (known) code."""
    message = MESSAGES.get(code or "")
    if message is None:
        return fallback
    language = translation.get_language() or settings.LANGUAGE_CODE
    values = {key: _param_in(value, language) for key, value in (params or {}).items()}
    try:
        return gettext(message) % values if values else gettext(message)
    except (KeyError, TypeError, ValueError):
        return fallback


@dataclass(frozen=True)
class Reason:
    """A reason the system writes: its code and parameters (plain JSON values, or {language: text})."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in MESSAGES:
            raise ValueError(f"unknown reason code {self.code!r}")

    def __str__(self) -> str:
        return render_reason(self.code, self.params)

    def stored_text(self, max_length: int = 255) -> str:
        with translation.override(settings.LANGUAGE_CODE):
            return str(self)[:max_length]


def reason_fields(reason: "str | Reason", *, text_field: str = "reason", max_length: int = 255) -> dict[str, Any]:
    """The columns a row stores for ``reason``: its text, and its code and parameters when the system wrote it."""
    if isinstance(reason, Reason):
        return {text_field: reason.stored_text(max_length), "reason_code": reason.code, "reason_params": reason.params}
    return {text_field: (reason or "")[:max_length], "reason_code": "", "reason_params": {}}


class CodedReason(models.Model):
    """The code and parameters of a system-written reason, beside the row's plain text (``REASON_TEXT_FIELD``)."""

    REASON_TEXT_FIELD = "reason"

    reason_code = models.CharField(_("reason code"), max_length=64, blank=True, default="")
    reason_params = models.JSONField(_("reason parameters"), default=dict, blank=True)

    class Meta:
        abstract = True

    @property
    def reason_text(self) -> str:
        """The reason in the reader's language (the stored text for staff-typed and older rows)."""
        return render_reason(self.reason_code, self.reason_params, getattr(self, self.REASON_TEXT_FIELD))
