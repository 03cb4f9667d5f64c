"""Activity events partitioned by month of ``occurred_at`` on PostgreSQL (docs/operations.md, "Partitions").

Rebuilds the table under an ACCESS EXCLUSIVE lock, every row copied; the embedded SQLite database keeps its plain table.
"""

from django.db import migrations

from apps.core.partitions import convert_to_partitioned, convert_to_plain

TABLE = "analytics_activityevent"


def partition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        convert_to_partitioned(schema_editor, table=TABLE, column="occurred_at")


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        convert_to_plain(schema_editor, table=TABLE)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0007_activity_event_keys"),
        ("core", "0007_access_log_monthly_partitions"),
    ]

    operations = [migrations.RunPython(partition, unpartition, elidable=False)]
