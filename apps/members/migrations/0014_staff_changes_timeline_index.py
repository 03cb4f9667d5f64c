from django.db import migrations


class Migration(migrations.Migration):
    """The member timeline's "staff changes" source pages through a member's history versions newest first.

    The history model is generated, so the index is plain SQL that the migration state does not track."""

    dependencies = [("members", "0013_member_merging")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS historicalmember_timeline_idx ON members_historicalmember (id, history_date, history_id)",
            "DROP INDEX IF EXISTS historicalmember_timeline_idx",
        )
    ]
