from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImportsConfig(AppConfig):
    name = "apps.imports"
    label = "imports"
    verbose_name = _("Import and export")

    def ready(self) -> None:
        from apps.imports import member_data

        member_data.register()
