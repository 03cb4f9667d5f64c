"""Seed the service-message templates events send (staff may edit them; a re-run never overwrites an edit)."""

from django.db import migrations

STARTS = "{{ starts_at }}"
TEMPLATES = {
    "event_promoted": {
        "subject": ("A seat is yours", "候补成功"),
        "body": (
            "{{ name }}, a seat opened up: you are now registered for {{ event_title }} on " + STARTS + ".",
            "{{ name }}，有空位了：您已从候补转为正式报名「{{ event_title }}」，时间 " + STARTS + "。",
        ),
    },
    "event_cancelled": {
        "subject": ("Event cancelled", "活动已取消"),
        "body": (
            "{{ name }}, we are sorry: {{ event_title }} on " + STARTS + " has been cancelled ({{ reason }})."
            "{% if refunded_points %} {{ refunded_points }} points are back in your account.{% endif %}",
            "{{ name }}，很抱歉，「{{ event_title }}」（" + STARTS + "）已取消：{{ reason }}。"
            "{% if refunded_points %}已退还 {{ refunded_points }} 积分。{% endif %}",
        ),
    },
    "event_reminder": {
        "subject": ("See you soon", "活动提醒"),
        "body": (
            "{{ name }}, see you at {{ event_title }} on "
            + STARTS
            + "{% if venue %}, {{ venue }}{% endif %}. Show your ticket at the door.",
            "{{ name }}，提醒您：「{{ event_title }}」将于 "
            + STARTS
            + " 开始{% if venue %}，地点：{{ venue }}{% endif %}。入场时请出示电子票。",
        ),
    },
}


def seed(apps, schema_editor):
    template_model = apps.get_model("messaging", "MessageTemplate")
    for code, texts in TEMPLATES.items():
        (subject_en, subject_zh), (body_en, body_zh) = texts["subject"], texts["body"]
        for channel in ("sms", "push"):
            template_model.objects.get_or_create(
                code=code,
                channel=channel,
                defaults={
                    "subject": subject_en if channel == "push" else "",
                    "subject_en": subject_en if channel == "push" else "",
                    "subject_zh_hans": subject_zh if channel == "push" else "",
                    "body": body_en,
                    "body_en": body_en,
                    "body_zh_hans": body_zh,
                },
            )


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial"), ("messaging", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
