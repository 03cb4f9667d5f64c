from django.db import migrations

# Rows rewritten often, in columns no index covers: the points account's balance on every credit or debit, the
# member's growth value on every growth award. With room left on a page the new row version stays on its page and no
# index gets a new entry (a HOT update); on a full page (the default) it moves, and every index of the table (twenty
# on the member) gets an entry. Pages written from now on keep this much free; a row on a full page moves to such a
# page on its next update.
FILLFACTOR = {"members_pointsaccount": 80, "members_member": 90}


def keep_room(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table, fillfactor in FILLFACTOR.items():
            schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")


def fill_pages(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table in FILLFACTOR:
            schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0015_points_entry_idempotency_key"),
    ]

    operations = [migrations.RunPython(keep_room, fill_pages)]
