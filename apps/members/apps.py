from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "apps.members"
    label = "members"
    verbose_name = _("Members")
    # The books: written once, never changed (the application's database role may not UPDATE or DELETE them).
    append_only_models = ("PointsEntry", "PointsLotUse", "GrowthEntry", "TierChange")
