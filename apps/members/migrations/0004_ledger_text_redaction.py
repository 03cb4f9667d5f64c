"""The ledger stays append-only, with one controlled exception: redacting personal data from its free text.

On PostgreSQL an UPDATE of a ledger row passes only inside a transaction that switched on
``userops.ledger_redaction`` (``members.services.ledger_text_redact`` does, during an anonymisation) and only
when nothing but ``reason`` and ``source_ref`` changes. DELETE is refused as before. SQLite (the laptop
setup) has no session settings: there the trigger lets only those two columns change.
"""

from django.db import migrations

LEDGER = "members_pointsentry"
FIXED_COLUMNS = [
    "id",
    "account_id",
    "kind",
    "amount",
    "balance_after",
    "actor_id",
    "client_id",
    "expires_at",
    "reverses_id",
    "created_at",
]


def allow_redaction(apps, schema_editor):
    guard_fixed_columns(schema_editor, FIXED_COLUMNS)


def guard_fixed_columns(schema_editor, fixed_columns):
    """The redaction guard over ``fixed_columns`` (a later migration that adds a fixed column calls it again)."""
    vendor = schema_editor.connection.vendor
    new = ", ".join(f"NEW.{column}" for column in fixed_columns)
    old = ", ".join(f"OLD.{column}" for column in fixed_columns)
    if vendor == "postgresql":
        schema_editor.execute(
            f"""
            CREATE OR REPLACE FUNCTION userops_guard_points_entry() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'UPDATE'
                   AND current_setting('userops.ledger_redaction', true) = 'on'
                   AND ROW({new}) IS NOT DISTINCT FROM ROW({old}) THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION 'the points ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'restrict_violation';
            END $$ LANGUAGE plpgsql;
            DROP TRIGGER IF EXISTS {LEDGER}_append_only ON {LEDGER};
            CREATE TRIGGER {LEDGER}_append_only BEFORE UPDATE OR DELETE ON {LEDGER}
                FOR EACH ROW EXECUTE FUNCTION userops_guard_points_entry();
            """,
            params=None,
        )
    elif vendor == "sqlite":
        changed = " OR ".join(f"NEW.{column} IS NOT OLD.{column}" for column in fixed_columns)
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {LEDGER}_no_update;")
        schema_editor.execute(
            f"CREATE TRIGGER {LEDGER}_no_update BEFORE UPDATE ON {LEDGER} WHEN {changed} "
            f"BEGIN SELECT RAISE(ABORT, 'the points ledger is append-only'); END;"
        )


def refuse_every_update(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"""
            DROP TRIGGER IF EXISTS {LEDGER}_append_only ON {LEDGER};
            CREATE TRIGGER {LEDGER}_append_only BEFORE UPDATE OR DELETE ON {LEDGER}
                FOR EACH ROW EXECUTE FUNCTION userops_refuse_ledger_change();
            DROP FUNCTION IF EXISTS userops_guard_points_entry();
            """,
            params=None,
        )
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {LEDGER}_no_update;")
        schema_editor.execute(
            f"CREATE TRIGGER {LEDGER}_no_update BEFORE UPDATE ON {LEDGER} "
            f"BEGIN SELECT RAISE(ABORT, 'the points ledger is append-only'); END;"
        )


class Migration(migrations.Migration):
    dependencies = [("members", "0003_pipl_rights")]

    operations = [migrations.RunPython(allow_redaction, refuse_every_update)]
