"""A ledger row may carry an idempotency key (one row per key, ever): a caller that may repeat a credit — a journey's
points step redone after a crash — cannot pay twice. The key is as fixed as the amount: the redaction guard refuses
an UPDATE that changes it.

On SQLite an earlier column added to the ledger rebuilt its table and dropped its triggers; the guard is made again
here, and the refusal of DELETE with it."""

from importlib import import_module

from django.conf import settings
from django.db import migrations, models

redaction = import_module("apps.members.migrations.0004_ledger_text_redaction")


def guard_the_key(apps, schema_editor):
    redaction.guard_fixed_columns(schema_editor, [*redaction.FIXED_COLUMNS, "idempotency_key"])
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            f"CREATE TRIGGER IF NOT EXISTS {redaction.LEDGER}_no_delete BEFORE DELETE ON {redaction.LEDGER} "
            "BEGIN SELECT RAISE(ABORT, 'the points ledger is append-only'); END;"
        )


def unguard_the_key(apps, schema_editor):
    redaction.guard_fixed_columns(schema_editor, redaction.FIXED_COLUMNS)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0006_outbox_event"),
        ("members", "0014_staff_changes_timeline_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="pointsentry",
            name="idempotency_key",
            field=models.CharField(blank=True, default="", max_length=128, verbose_name="idempotency key"),
        ),
        migrations.AddConstraint(
            model_name="pointsentry",
            constraint=models.UniqueConstraint(
                condition=models.Q(("idempotency_key", ""), _negated=True), fields=("idempotency_key",), name="points_entry_once_per_key"
            ),
        ),
        migrations.RunPython(guard_the_key, unguard_the_key),
    ]
