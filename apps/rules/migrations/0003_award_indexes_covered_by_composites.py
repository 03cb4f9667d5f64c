import django.db.models.deletion
from django.db import migrations, models

# Only the two indexes are dropped (the foreign keys stay as they are, so the table is not scanned to revalidate them):
# the composite indexes leading with the rule and with the member answer every lookup these did.
DROP = [
    ("rules_ruleaward_member_id_62ceeb56", "member_id"),
    ("rules_ruleaward_rule_id_c3d495ad", "rule_id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0002_timeline_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX "{name}" ON "rules_ruleaward" ("{column}")',
                )
                for name, column in DROP
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="ruleaward",
                    name="member",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="rule_awards",
                        to="members.member",
                        verbose_name="member",
                    ),
                ),
                migrations.AlterField(
                    model_name="ruleaward",
                    name="rule",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="awards",
                        to="rules.earningrule",
                        verbose_name="rule",
                    ),
                ),
            ],
        ),
    ]
