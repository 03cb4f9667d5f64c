"""Cancellations the system wrote before reasons had codes become codes, so they read in each reader's language;
other texts (staff reasons, reasons with details) stay as they are."""

from django.db import migrations

PLAIN = {
    "Cancelled by the member": "registration_cancelled_by_member",
    "会员自行取消": "registration_cancelled_by_member",
    "The event took place without a free seat": "registration_no_free_seat",
    "活动已举行，未能候补成功": "registration_no_free_seat",
}


def to_codes(apps, schema_editor):
    Registration = apps.get_model("events", "Registration")
    for text, code in PLAIN.items():
        Registration.objects.filter(cancel_reason=text, reason_code="").update(reason_code=code, reason_params={})


class Migration(migrations.Migration):
    dependencies = [("events", "0003_coded_reasons")]

    operations = [migrations.RunPython(to_codes, migrations.RunPython.noop)]
