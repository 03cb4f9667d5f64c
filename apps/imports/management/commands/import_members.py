import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.errors import ApplicationError
from apps.imports.services import error_report_csv, import_file


class Command(BaseCommand):
    help = "Import members from a CSV (UTF-8 or GBK) or .xlsx file; exits non-zero when rows were rejected."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="Check and count, write nothing.")
        parser.add_argument("--all-or-nothing", action="store_true", help="Import nothing if any row is invalid.")
        parser.add_argument(
            "--welcome-rewards",
            action="store_true",
            help="The file's new members are new enrolments: earning rules and tasks reward their enrolment (default: recorded only).",
        )
        parser.add_argument("--report", type=Path, help="Write the rejected rows (row, column, reason) to this CSV.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.exists():
            raise CommandError(f"No such file: {path}")
        try:
            summary = import_file(
                path=path, dry_run=options["dry_run"], all_or_nothing=options["all_or_nothing"], welcome_rewards=options["welcome_rewards"]
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        label = "would be " if options["dry_run"] else ""
        self.stdout.write(
            f"rows {summary.total}: {label}created {summary.created}, {label}updated {summary.updated}, "
            f"unchanged {summary.unchanged}, duplicate {summary.duplicate}, invalid {summary.invalid}"
        )
        for header in summary.unknown_columns:
            self.stdout.write(f"column {header!r} is unknown: its values were not imported")
        if summary.rejected:
            self.stdout.write("nothing imported: the file has invalid rows and --all-or-nothing was given")
        for error in summary.errors[:20]:
            self.stderr.write(f"row {error.row_number}, {error.column}: {error.reason}")
        if len(summary.errors) > 20:
            self.stderr.write(f"… and {len(summary.errors) - 20} more")
        if options["report"]:
            options["report"].write_bytes(error_report_csv(summary.errors, path=path))
        if summary.rejected_rows:
            sys.exit(1)
