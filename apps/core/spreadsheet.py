"""Spreadsheets in and out: uploads checked with bounded work before anything parses them; exports that a spreadsheet
cannot turn into formulas, and that our own importer reads back unchanged.

Each export format is neutralised the way it needs: an Excel file stores every text cell as text (a text cell is never
evaluated, so the value is written as it is); a CSV file has no cell types, so a text cell that a spreadsheet
would read as a formula gets the documented leading apostrophe, and ``unescape_csv_cell`` removes exactly that.
"""

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

import tablib
from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from import_export.formats import base_formats

from apps.core.errors import ApplicationError

XLSX_SUFFIXES = (".xlsx", ".xlsm")
# Only parts bigger than this are held to the compression ratio: tiny XML parts compress very well and harm no one.
RATIO_CHECKED_FROM_BYTES = 1 << 20


def unreadable_workbook() -> ApplicationError:
    return ApplicationError(
        "unreadable_spreadsheet",
        _("The file is not a readable Excel workbook (.xlsx). Open it in Excel and save it again, or save it as CSV."),
        fields={"file": "unreadable"},
    )


def xlsx_upload_check(upload: IO[bytes], *, name: str) -> None:
    """Refuse a workbook that would take unbounded work to open, reading only the zip's directory of parts.

    An .xlsx is a zip of XML parts. Its directory declares each part's compressed and uncompressed size, and Python's
    zipfile never inflates a part past its declared size, so bounding the declared sizes bounds what any parser does.
    Other file types pass untouched.
    """
    if Path(name).suffix.lower() not in XLSX_SUFFIXES:
        return
    limits = settings.USEROPS_SPREADSHEETS
    try:
        with zipfile.ZipFile(upload) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise unreadable_workbook() from exc
    finally:
        upload.seek(0)
    if "xl/workbook.xml" not in {part.filename for part in parts}:
        raise unreadable_workbook()
    if len(parts) > limits["MAX_PARTS"]:
        raise ApplicationError(
            "spreadsheet_too_complex",
            _("The workbook has %(parts)d parts; at most %(limit)d are accepted. Keep one sheet of data, or save it as CSV.")
            % {"parts": len(parts), "limit": limits["MAX_PARTS"]},
            fields={"file": "parts"},
        )
    unpacked = sum(part.file_size for part in parts)
    if unpacked > limits["MAX_UNPACKED_MB"] << 20:
        raise ApplicationError(
            "spreadsheet_too_large",
            _("Unpacked, the workbook holds %(size)d MB; at most %(limit)d MB are accepted. Split it, or save it as CSV.")
            % {"size": unpacked >> 20, "limit": limits["MAX_UNPACKED_MB"]},
            fields={"file": "size"},
        )
    for part in parts:
        if part.file_size > RATIO_CHECKED_FROM_BYTES and part.file_size > limits["MAX_COMPRESSION_RATIO"] * max(part.compress_size, 1):
            raise ApplicationError(
                "spreadsheet_suspicious",
                _("The workbook is compressed more than %(ratio)d times, which real spreadsheets never are; it was not opened.")
                % {"ratio": limits["MAX_COMPRESSION_RATIO"]},
                fields={"file": "ratio"},
            )


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


def xlsx_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
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
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def xlsx_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> HttpResponse:
    response = HttpResponse(xlsx_bytes(header, rows), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class NeutralisedCSV(base_formats.CSV):
    """django-import-export's CSV, neutralised like our own exports instead of by the library's escaping, which drops
    a leading ``=`` for good: a formula-like cell gets the apostrophe, and reading the file back removes exactly that."""

    def export_data(self, dataset: tablib.Dataset, **kwargs: Any) -> str:
        neutralised = tablib.Dataset(headers=[neutralise_cell(str(name)) for name in dataset.headers or []])
        for row in dataset:
            neutralised.append([neutralise_cell(cell) for cell in row])
        return neutralised.export("csv", **kwargs)

    def create_dataset(self, in_stream: Any, **kwargs: Any) -> tablib.Dataset:
        dataset = super().create_dataset(in_stream, **kwargs)
        unescaped = tablib.Dataset(headers=[unescape_csv_cell(name) for name in dataset.headers or []])
        for row in dataset:
            unescaped.append([unescape_csv_cell(cell) if isinstance(cell, str) else cell for cell in row])
        return unescaped


class TextCellXLSX(base_formats.XLSX):
    """django-import-export's XLSX, every text cell stored as text, so a value starting with ``=`` is kept as it is
    and never evaluated; the library's reader takes it back unchanged."""

    def export_data(self, dataset: tablib.Dataset, **kwargs: Any) -> bytes:
        return xlsx_bytes(dataset.headers or [], dataset)
