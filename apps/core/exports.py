"""Every export goes through here: a formula-safe file, and a row in the access log with how many rows left."""

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse

from apps.core import services
from apps.core.models import AccessAction
from apps.core.spreadsheet import csv_response, xlsx_response


class CountedRows:
    """Iterates the rows once, counting them, so a streamed export knows its size afterwards."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self._rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[Sequence[Any]]:
        for row in self._rows:
            self.count += 1
            yield row


def export_record(request: HttpRequest, *, object_type: str, row_count: int | None, object_id: Any = "", detail: str = "") -> None:
    """Log an export made some other way (a stored file, a report) — what every export must do."""
    services.access_log_record(
        action=AccessAction.EXPORT, request=request, object_type=object_type, object_id=object_id, row_count=row_count, detail=detail
    )


def export_response(
    request: HttpRequest,
    *,
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    object_type: str,
    object_id: Any = "",
    file_format: str = "csv",
) -> HttpResponse:
    """A CSV or Excel download of ``rows`` (cells neutralised), logged with its row count."""
    counted = CountedRows(rows)
    render = xlsx_response if file_format == "xlsx" else csv_response
    response = render(filename, header, counted)
    export_record(request, object_type=object_type, object_id=object_id, row_count=counted.count, detail=filename)
    return response
