from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fixtures import demo


class Command(BaseCommand):
    help = "Load the demo data set (staff accounts always; members only into an empty database)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, default=2000)

    def handle(self, *args: Any, **options: Any) -> None:
        demo.load(members=options["members"])
        self.stdout.write("Demo data in place.")
