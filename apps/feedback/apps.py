from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FeedbackConfig(AppConfig):
    name = "apps.feedback"
    label = "feedback"
    verbose_name = _("Feedback and surveys")

    def ready(self) -> None:
        # The member's timeline, profile, merge, PIPL data, segment conditions and the survey link in messages.
        from apps.feedback import registrations

        registrations.register()
