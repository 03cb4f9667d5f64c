"""Exports that a spreadsheet cannot turn into formulas, and that our own importer reads back unchanged.

Each format is neutralised the way it needs: an Excel file stores every text cell as text (a text cell is never
evaluated, so the value is written as it is); a CSV file has no cell types, so a text cell that a spreadsheet
would read as a formula gets the documented leading apostrophe, and ``unescape_csv_cell`` removes exactly that.
"""

import csv
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from django.http import HttpResponse
from django.utils import timezone

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CSV_ESCAPE = "'"
# A value that itself starts with the escape character is escaped too, so reading back is exact.
_CSV_ESCAPED_STARTS = (*FORMULA_TRIGGERS, CSV_ESCAPE)
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def export_value(value: Any) -> Any:
    """Timestamps in the programme's time zone, to the second; dates as ISO dates; everything else unchanged."""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.strftime(TIMESTAMP_FORMAT)
    if isinstance(value, date):
        return value.isoformat()
    return value


def neutralise_cell(value: Any) -> Any:
    """A CSV text cell that a spreadsheet would read as a formula (= + - @, tab, CR) gets a leading apostrophe."""
    value = export_value(value)
    if isinstance(value, str) and value.startswith(_CSV_ESCAPED_STARTS):
        return CSV_ESCAPE + value
    return value


def unescape_csv_cell(value: str) -> str:
    """The inverse of ``neutralise_cell``: drop the apostrophe it added, and nothing else."""
    if value.startswith(CSV_ESCAPE) and value[1:].startswith(_CSV_ESCAPED_STARTS):
        return value[1:]
    return value


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write("\ufeff")  # a BOM, so Excel opens UTF-8 Chinese text correctly
    writer = csv.writer(response)
    writer.writerow([neutralise_cell(str(cell)) for cell in header])
    for row in rows:
        writer.writerow([neutralise_cell(cell) for cell in row])
    return response


def xlsx_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> HttpResponse:
    """An Excel file written in constant memory (openpyxl's write-only mode), every text cell typed as text."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()

    def cell(value: Any) -> Any:
        value = export_value(value)
        if not isinstance(value, str):
            return value
        text_cell = WriteOnlyCell(sheet, value=value)
        text_cell.data_type = "s"  # openpyxl would otherwise store "=…" as a formula
        return text_cell

    sheet.append([cell(str(value)) for value in header])
    for row in rows:
        sheet.append([cell(value) for value in row])
    response = HttpResponse(content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    workbook.save(response)
    return response
