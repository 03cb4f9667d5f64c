from django.db import migrations

from apps.members.seed import seed_default_tiers

APPEND_ONLY_TABLES = ["members_pointsentry", "members_pointslotuse"]


def seed_tiers(apps, schema_editor):
    seed_default_tiers(apps.get_model("members", "Tier"))


def append_only(apps, schema_editor):
    """The database itself refuses to change or delete a ledger row.

    TRUNCATE stays possible: it is an administrator's whole-table operation (and how test databases are reset).
    """
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
        elif vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update;")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete;")


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]

    operations = [
        migrations.RunPython(seed_tiers, migrations.RunPython.noop),
        migrations.RunPython(append_only, drop_append_only),
    ]
