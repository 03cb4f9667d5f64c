from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LifecycleConfig(AppConfig):
    name = "apps.lifecycle"
    label = "lifecycle"
    verbose_name = _("Journey and lifecycle stages")

    def ready(self) -> None:
        # Lower apps never import this one: it joins their registries (activity, segments, the member page, merge, PIPL),
        # and gives feedback's survey results their breakdown by journey stage.
        from apps.lifecycle import registrations, survey_results

        registrations.register()
        survey_results.register()
