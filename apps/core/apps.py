from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _sync_roles(sender: AppConfig, **kwargs: Any) -> None:
    from django.contrib.auth.models import Group, Permission

    from apps.core.roles import sync_roles

    sync_roles(Group, Permission)


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = _("Administration")
    # Evidence: the access log is written once, never changed (see create_app_db_role).
    append_only_models = ("AccessLogEntry",)

    def ready(self) -> None:
        # Permissions of every app exist only after migrate; keep the roles' grants in step with them.
        post_migrate.connect(_sync_roles, dispatch_uid="core.sync_roles")
        from apps.core import (
            checks,  # noqa: F401 - registers the deployment check of the shared cache
            lookups,  # noqa: F401 - registers the any_of lookup
        )
        from apps.core.api import schema  # noqa: F401 - registers the OpenAPI authentication schemes
        from apps.core.partitions import register_partitioned_table

        register_partitioned_table("core_accesslogentry")
