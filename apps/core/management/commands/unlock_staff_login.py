from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core import services
from apps.core.errors import ApplicationError


class Command(BaseCommand):
    help = "Lift a staff sign-in lock-out on an account (--username), a client address (--ip) or both; logged in the access log."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="")
        parser.add_argument("--ip", default="")

    def handle(self, *args: Any, username: str, ip: str, **options: Any) -> None:
        try:
            services.staff_login_unlock(username=username, ip=ip)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS("Unlocked."))
