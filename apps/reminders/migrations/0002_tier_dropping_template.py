"""Seed the "tier about to drop" reminder in both languages on SMS, email and push (a re-run never overwrites an edit)."""

from django.db import migrations

SUBJECT = ("Your tier is about to drop", "您的会员等级即将下调")
BODY = (
    "{{ name }}, your {{ tier }} tier is due for review on {{ drops_on }} and would move down as things stand."
    "{% if growth_needed %} Earn {{ growth_needed }} more growth value before then to keep it.{% endif %}",
    "{{ name }}，您的会员等级「{{ tier }}」将于 {{ drops_on }} 复核，按目前情况将会下调。"
    "{% if growth_needed %}在此之前再获得 {{ growth_needed }} 成长值即可保级。{% endif %}",
)


def seed(apps, schema_editor):
    template_model = apps.get_model("messaging", "MessageTemplate")
    (subject_en, subject_zh), (body_en, body_zh) = SUBJECT, BODY
    for channel in ("sms", "email", "push"):
        with_subject = channel != "sms"
        template_model.objects.get_or_create(
            code="tier_dropping",
            channel=channel,
            defaults={
                "subject": subject_en if with_subject else "",
                "subject_en": subject_en if with_subject else "",
                "subject_zh_hans": subject_zh if with_subject else "",
                "body": body_en,
                "body_en": body_en,
                "body_zh_hans": body_zh,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("reminders", "0001_reminder_templates")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
