"""The member list filters the city by its beginning, in any case (``city__istartswith``: ``UPPER(city) LIKE 'X%'``);
on PostgreSQL this index serves that range, so the filter reads the matching members, not the table. SQLite (the
embedded default, small programmes) has no pattern operator class and goes without."""

from django.db import migrations

INDEX = "member_city_upper_prefix_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON members_member ((UPPER(city::text)) text_pattern_ops)")


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("members", "0016_member_and_account_pages_keep_room_for_updates")]

    operations = [migrations.RunPython(create_index, drop_index)]
