from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TaggingConfig(AppConfig):
    name = "apps.tagging"
    label = "tagging"
    verbose_name = _("Tags and attributes")

    def ready(self) -> None:
        # Segments gain the attribute condition; the member's profile, timeline, merge and PIPL data gain what this app
        # keeps about a member. Lower apps never import this one.
        from apps.tagging import conditions, member_data  # noqa: F401

        member_data.register()
