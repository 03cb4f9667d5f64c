"""The access log partitioned by month of ``at`` on PostgreSQL (docs/operations.md, "Partitions").

Rebuilds the table under an ACCESS EXCLUSIVE lock, every row copied; the embedded SQLite database keeps its plain table.
"""

from django.db import migrations

from apps.core.partitions import convert_to_partitioned, convert_to_plain, install_functions

TABLE = "core_accesslogentry"


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    install_functions(schema_editor)
    convert_to_partitioned(schema_editor, table=TABLE, column="at")


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    convert_to_plain(schema_editor, table=TABLE)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0006_outbox_event"),
    ]

    operations = [migrations.RunPython(partition, unpartition, elidable=False)]
