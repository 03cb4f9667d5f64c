"""One import in a process of its own: ``python -m bench.import_child userops|copy-tables|import-export FILE``;
prints JSON (rows, seconds, peak RSS, and the RSS once Django is loaded, before the import)."""

import json
import os
import resource
import sys
import time
from pathlib import Path


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    mode, path = sys.argv[1], Path(sys.argv[2])
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from apps.imports import services
    from bench.member_import import copy_into_import_tables

    setup_rss_mb = _rss_mb()
    started = time.perf_counter()
    if mode == "userops":
        summary = services.import_file(path=path)
        rows = summary.created + summary.updated + summary.unchanged
    elif mode == "copy-tables":
        rows = copy_into_import_tables(path)
    else:
        rows = _import_export(path)
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows, "seconds": seconds, "max_rss_mb": _rss_mb(), "setup_rss_mb": setup_rss_mb}))


def _import_export(path: Path) -> int:
    """django-import-export's default path: a ModelResource saving one model instance per row."""
    import tablib
    from import_export import fields, resources

    from apps.members.models import Member, Tier

    lowest = Tier.objects.order_by("rank").first()

    class MemberResource(resources.ModelResource):
        external_id = fields.Field(attribute="external_id", column_name="外部编号")
        name = fields.Field(attribute="name", column_name="姓名")
        phone = fields.Field(attribute="phone", column_name="手机号")
        city = fields.Field(attribute="city", column_name="城市")

        class Meta:
            model = Member
            fields = ("external_id", "name", "phone", "city")
            import_id_fields = ("external_id",)

        def before_save_instance(self, instance: Member, row: object, **kwargs: object) -> None:
            instance.tier = lowest
            instance.phone = "+86" + instance.phone.replace(" ", "")

    dataset = tablib.Dataset().load(path.read_text(encoding="utf-8"), format="csv")
    result = MemberResource().import_data(dataset, dry_run=False, raise_errors=True)
    return result.total_rows


if __name__ == "__main__":
    main()
