from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "apps.members"
    label = "members"
    verbose_name = _("Members")
    # The books: written once, never changed (the application's database role may not UPDATE or DELETE them).
    append_only_models = ("PointsEntry", "PointsLotUse", "GrowthEntry", "TierChange")
    # The one exception: anonymisation replaces a member's identifiers in these free-text columns (the ledger's
    # trigger also demands its redaction switch); amounts, balances and dates stay unchangeable.
    redactable_columns = {"PointsEntry": ("reason", "source_ref"), "GrowthEntry": ("reason", "source_ref"), "TierChange": ("reason",)}

    def ready(self) -> None:
        # A newly stored purchase earns points here, where the points are kept; analytics only stores the event.
        from apps.core.activity import register_activity_handler, register_activity_member_locker
        from apps.members.api import schema  # noqa: F401 - registers the OpenAPI member-token scheme
        from apps.members.earning import purchase_earn
        from apps.members.locks import lock_members_to_pay

        register_activity_handler("purchase", purchase_earn)
        register_activity_member_locker(lock_members_to_pay)

        # Members' own rows move first when duplicates merge; every other app registers its mover the same way.
        from apps.members.merging import register_member_merger
        from apps.members.personal_data import register_member_anonymiser
        from apps.members.services.merge import merge_records_anonymise, move_member_rows

        register_member_merger(name="members", move=move_member_rows)
        register_member_anonymiser(merge_records_anonymise)
        # Its own timeline sources and profile sections; later apps add theirs from their own ready().
        from apps.members import customer_profile

        customer_profile.register()
