from django.conf import settings
from django.db.models import QuerySet
from django.utils import translation
from django.utils.translation import gettext as _

from apps.members.models import Member
from apps.messaging.models import Message, MessageTemplate
from apps.messaging.rendering import compile_message_template, render_message_text


def members_with_consent(*, channel: str) -> QuerySet[Member]:
    return Member.objects.filter(consents__channel=channel, consents__granted=True)


def messages_opened(*, dedupe_prefix: str) -> int:
    """How many messages a sender queued under ``dedupe_prefix`` (``campaign-run:12:``) were opened, fallbacks included;
    read from the index of opened messages' keys."""
    return Message.objects.filter(dedupe_key__startswith=dedupe_prefix, opened_at__isnull=False).count()


def open_rate(*, opened: int, sent: int) -> str:
    """Opened of sent as the back office shows it: "12 (4.0 %)"; "0" when nothing was sent."""
    return f"{opened} ({opened / sent:.1%})".replace("%", " %") if sent else str(opened)


def active_templates() -> QuerySet[MessageTemplate]:
    return MessageTemplate.objects.filter(is_active=True).order_by("channel", "code")


def message_template_preview(*, code: str, channel: str) -> list[tuple[str, str, str]]:
    """The template rendered with sample values, per language: (language name, subject, body); empty if none is active."""
    template = active_templates().filter(code=code, channel=channel).first()
    if template is None:
        return []
    previews = []
    for language, name in settings.LANGUAGES:
        label = str(name)
        with translation.override(language):
            sample = {
                "name": _("Li Na"),
                "tier": _("Gold"),
                "points_balance": 1280,
                "campaign": _("Spring drive"),
                "points": 200,
                "benefit": _("Coffee voucher"),
                "benefit_code": "ABCD-EFGH-JKLM",
                "expires_at": "2026-12-31",
                "expiring_points": 300,
                "benefit_count": 2,
                "unsubscribe_url": "https://example.com/u/…",
                "tracked_url": "https://example.com/t/…",
            }
            previews.append(
                (
                    label,
                    render_message_text(compile_message_template(template.subject or "", field="subject"), sample),
                    render_message_text(compile_message_template(template.body, field="body"), sample),
                )
            )
    return previews
