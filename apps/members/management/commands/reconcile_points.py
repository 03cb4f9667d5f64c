from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.members.selectors import points_discrepancies


class Command(BaseCommand):
    help = "Check, for every points account, that balance = sum of its ledger = sum of its open lots. Exits 1 on any difference."

    def handle(self, *args: Any, **options: Any) -> None:
        discrepancies = points_discrepancies()
        for row in discrepancies[:100]:
            self.stderr.write(f"account {row.account_id}: balance {row.balance}, ledger {row.ledger_sum}, lots {row.lot_sum}")
        if discrepancies:
            raise CommandError(f"{len(discrepancies)} points accounts do not reconcile")
        self.stdout.write("All points accounts reconcile: balance = ledger = open lots.")
