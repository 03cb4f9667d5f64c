"""Seed the reminder templates in both languages on SMS, email and push (a re-run never overwrites an edit)."""

from django.db import migrations

TEMPLATES = {
    "points_expiring": {
        "subject": ("Your points expire soon", "积分即将过期"),
        "body": (
            "{{ name }}, {{ expiring_points }} of your points expire on {{ expires_at }}. Use them in the points mall before then.",
            "{{ name }}，您有 {{ expiring_points }} 积分将于 {{ expires_at }} 过期，请尽快在积分商城使用。",
        ),
    },
    "benefit_expiring": {
        "subject": ("Your benefits expire soon", "权益即将到期"),
        "body": (
            "{{ name }}, {% if benefit_count > 1 %}{{ benefit_count }} of your benefits expire soon, the first{% else %}your benefit{% endif %}"
            " – {{ benefit }} – on {{ expires_at }}. Use it in the member app before then.",
            "{{ name }}，{% if benefit_count > 1 %}您有 {{ benefit_count }} 项权益即将到期，最早的{% else %}您的权益{% endif %}"
            "「{{ benefit }}」将于 {{ expires_at }} 到期，请尽快在会员 App 中使用。",
        ),
    },
}


def seed(apps, schema_editor):
    template_model = apps.get_model("messaging", "MessageTemplate")
    for code, texts in TEMPLATES.items():
        (subject_en, subject_zh), (body_en, body_zh) = texts["subject"], texts["body"]
        for channel in ("sms", "email", "push"):
            with_subject = channel != "sms"
            template_model.objects.get_or_create(
                code=code,
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
    dependencies = [("messaging", "0003_provider_templates_receipts_and_fallback")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
