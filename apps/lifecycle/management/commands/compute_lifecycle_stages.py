from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.analytics import services as analytics_services
from apps.lifecycle import services


class Command(BaseCommand):
    help = "Stage every enrolled member's lifecycle now (what the nightly job does), after rolling up activity."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-rollup", action="store_true", help="Stage from the roll-ups as they are.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["no_rollup"]:
            analytics_services.rollup_run()
        result = services.lifecycle_stages_compute()
        self.stdout.write(f"{result.created} stage rows created.")
        for stage, count in result.moved.items():
            self.stdout.write(f"{stage}: {count} moved")
