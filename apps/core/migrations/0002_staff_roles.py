from django.db import migrations

ROLES = ["Operations manager", "Customer service", "Campaign manager", "Analyst"]


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    # Each role's permissions are granted after every migrate (apps.core.roles), once all permissions exist.
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
