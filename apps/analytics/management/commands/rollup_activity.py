from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.analytics import services


class Command(BaseCommand):
    help = "Roll up activity (incrementally, or every day with --full) and optionally score RFM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--full", action="store_true", help="Rebuild every day, not only the touched ones.")
        parser.add_argument("--rfm", action="store_true", help="Score every member (RFM) afterwards.")

    def handle(self, *args: Any, **options: Any) -> None:
        result = services.rollup_run(full=options["full"])
        self.stdout.write(f"{len(result.days)} days rolled up.")
        if options["rfm"]:
            self.stdout.write(f"{services.rfm_score_members()} members scored.")
