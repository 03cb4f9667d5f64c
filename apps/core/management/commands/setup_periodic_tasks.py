import json

from django.conf import settings
from django.core.management.base import BaseCommand
from django_celery_beat.models import CrontabSchedule, PeriodicTask


class Command(BaseCommand):
    help = "Create or update the beat entries declared in settings.USEROPS_PERIODIC_TASKS (safe to re-run)."

    def handle(self, *args: object, **options: object) -> None:
        for name, spec in settings.USEROPS_PERIODIC_TASKS.items():
            minute, hour, day_of_month, month_of_year, day_of_week = spec["crontab"].split()
            schedule, _created = CrontabSchedule.objects.get_or_create(
                minute=minute,
                hour=hour,
                day_of_month=day_of_month,
                month_of_year=month_of_year,
                day_of_week=day_of_week,
                timezone=settings.TIME_ZONE,
            )
            PeriodicTask.objects.update_or_create(
                name=name,
                defaults={
                    "task": spec["task"],
                    "crontab": schedule,
                    "interval": None,
                    "kwargs": json.dumps(spec.get("kwargs", {})),
                    "enabled": True,
                },
            )
        self.stdout.write(f"{len(settings.USEROPS_PERIODIC_TASKS)} periodic tasks in place.")
