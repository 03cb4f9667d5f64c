"""Email through Django's email backend (``EMAIL_BACKEND``; SMTP settings from the environment in production)."""

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.html import format_html, format_html_join

from apps.messaging.providers.base import Provider, SendError, SendErrorKind
from apps.messaging.tracking import open_pixel_url

if TYPE_CHECKING:
    from apps.messaging.models import Message

DEVELOPMENT_BACKENDS = frozenset(
    {
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.locmem.EmailBackend",
        "django.core.mail.backends.filebased.EmailBackend",
        "django.core.mail.backends.dummy.EmailBackend",
    }
)


class EmailProvider(Provider):
    name = "email"
    channels = frozenset({"email"})

    @property
    def development_only(self) -> bool:  # type: ignore[override]
        return settings.EMAIL_BACKEND in DEVELOPMENT_BACKENDS

    def missing_settings(self) -> list[str]:
        missing = [] if settings.EMAIL_BACKEND else ["EMAIL_BACKEND"]
        if settings.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend" and not settings.EMAIL_HOST:
            missing.append("EMAIL_HOST")
        return missing

    def send(self, message: "Message") -> str:
        address = message.member.email
        if not address:
            raise SendError("the member has no email address", kind=SendErrorKind.INVALID_RECIPIENT, code="no_email")
        email = EmailMultiAlternatives(
            subject=message.subject, body=message.body, to=[address], headers={"X-UserOps-Message": str(message.pk)}
        )
        # The same text as HTML, with the open pixel: a mail client that shows images records the first open.
        pixel = format_html('<img src="{}" width="1" height="1" alt="">', open_pixel_url(message.pk))
        paragraphs = format_html_join("", "<p>{}</p>", ((line,) for line in message.body.splitlines()))
        email.attach_alternative(format_html("<div>{}</div>{}", paragraphs, pixel), "text/html")
        try:
            sent = email.send()
        except (OSError, ValueError) as exc:  # smtplib's errors are OSErrors; a refused recipient address too
            raise SendError(f"email: {exc}", code="smtp_error") from exc
        if not sent:
            raise SendError("the email backend sent nothing", code="not_sent")
        return f"email-{message.pk}"
