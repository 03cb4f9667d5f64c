from django.core.management import call_command
from django.db import migrations, models


def create_cache_table(apps, schema_editor):
    """The database cache (used when no Redis is configured) needs its table; the command skips tables that exist."""
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("core", "0004_access_log_list_views")]

    operations = [
        migrations.AlterField(
            model_name="accesslogentry",
            name="action",
            field=models.CharField(
                choices=[
                    ("view_member_detail", "Viewed a member's full details"),
                    ("view_member_list", "Viewed a list of members' full details"),
                    ("reveal", "Revealed personal data (history)"),
                    ("export", "Exported a file"),
                    ("data_export", "Exported a member's data (PIPL)"),
                    ("anonymise", "Anonymised a member (PIPL)"),
                    ("login_failed", "Failed staff sign-in"),
                    ("login_locked", "Staff sign-in locked after repeated failures"),
                    ("login_unlocked", "Staff sign-in unlocked"),
                ],
                db_index=True,
                max_length=20,
                verbose_name="action",
            ),
        ),
        migrations.RunPython(create_cache_table, migrations.RunPython.noop),
    ]
