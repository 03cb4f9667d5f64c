import django.db.models.deletion
from django.db import migrations, models

# A growth award rewrote the member's row, which carries twenty indexes; the value now lives in a narrow row of its own
# (as a points balance lives in its account). Members who never earned any have no row: their growth value is 0.
MOVE_VALUES = "INSERT INTO members_growthvalue (member_id, value) SELECT id, growth_value FROM members_member WHERE growth_value <> 0"
MOVE_VALUES_BACK = (
    "UPDATE members_member SET growth_value = COALESCE("
    "(SELECT value FROM members_growthvalue WHERE members_growthvalue.member_id = members_member.id), 0)"
)


def keep_room(apps, schema_editor):
    # The value is rewritten on every award and is in no index: room on the page keeps the update on it (HOT).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE members_growthvalue SET (fillfactor = 80)")


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0017_member_city_prefix_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="GrowthValue",
            fields=[
                (
                    "member",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="growth",
                        serialize=False,
                        to="members.member",
                        verbose_name="member",
                    ),
                ),
                ("value", models.IntegerField(default=0, verbose_name="growth value")),
            ],
            options={
                "verbose_name": "growth value",
                "verbose_name_plural": "growth values",
            },
        ),
        migrations.RunPython(keep_room, migrations.RunPython.noop),
        migrations.RunSQL(MOVE_VALUES, MOVE_VALUES_BACK),
        migrations.RemoveField(
            model_name="historicalmember",
            name="growth_value",
        ),
        migrations.RemoveField(
            model_name="member",
            name="growth_value",
        ),
    ]
