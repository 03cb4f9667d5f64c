from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LifecycleConfig(AppConfig):
    name = "apps.lifecycle"
    label = "lifecycle"
    verbose_name = _("Journey and lifecycle stages")

    def ready(self) -> None:
        # Survey results by journey stage (feedback sits below lifecycle and reads stages through this).
        from apps.lifecycle import survey_results

        survey_results.register()
