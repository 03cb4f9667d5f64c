from django.db import migrations

TIERS = [
    ("basic", "Basic", "普通会员", 0, 0, "1.00"),
    ("silver", "Silver", "银卡会员", 1, 1000, "1.20"),
    ("gold", "Gold", "金卡会员", 2, 5000, "1.50"),
    ("vip", "VIP", "黑卡会员", 3, 20000, "2.00"),
]

APPEND_ONLY_TABLES = ["members_pointsentry", "members_pointslotuse"]


def seed_tiers(apps, schema_editor):
    Tier = apps.get_model("members", "Tier")
    for code, name_en, name_zh, rank, threshold, multiplier in TIERS:
        Tier.objects.get_or_create(
            code=code,
            defaults={
                "name": name_en,
                "name_en": name_en,
                "name_zh_hans": name_zh,
                "rank": rank,
                "threshold": threshold,
                "points_multiplier": multiplier,
            },
        )


def append_only(apps, schema_editor):
    """The database itself refuses to change or delete a ledger row."""
    vendor = schema_editor.connection.vendor
    for table in APPEND_ONLY_TABLES:
        if vendor == "postgresql":
            schema_editor.execute(
                f"""
                CREATE OR REPLACE FUNCTION userops_refuse_ledger_change() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION 'the points ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
                        USING ERRCODE = 'restrict_violation';
                END $$ LANGUAGE plpgsql;
                CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                    FOR EACH ROW EXECUTE FUNCTION userops_refuse_ledger_change();
                CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                    FOR EACH STATEMENT EXECUTE FUNCTION userops_refuse_ledger_change();
                """,
                params=None,
            )
        elif vendor == "sqlite":
            for operation in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'the points ledger is append-only'); END;"
                )


def drop_append_only(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in APPEND_ONLY_TABLES:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};")
        elif vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update;")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete;")


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]

    operations = [
        migrations.RunPython(seed_tiers, migrations.RunPython.noop),
        migrations.RunPython(append_only, drop_append_only),
    ]
