"""Ingest idempotency moves from ``UNIQUE (source, event_id)`` on the events to a plain key table (``ActivityEventKey``),
which a partitioned events table needs (its unique keys would have to include the event time). Every stored event's
key is copied before the events' constraint goes, in this one transaction."""

from django.db import migrations, models

BACKFILL = """
    INSERT INTO analytics_activityeventkey (source, event_id)
    SELECT source, event_id FROM analytics_activityevent ORDER BY id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0006_registered_activity_kinds"),
    ]

    operations = [
        migrations.CreateModel(
            name="ActivityEventKey",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("source", models.CharField(max_length=64)),
                ("event_id", models.CharField(max_length=128)),
            ],
        ),
        migrations.AddConstraint(
            model_name="activityeventkey",
            constraint=models.UniqueConstraint(fields=("source", "event_id"), name="activity_key_unique_source_event"),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop, elidable=False),
        migrations.RemoveConstraint(
            model_name="activityevent",
            name="activity_unique_source_event",
        ),
    ]
