"""Importing customer files: streaming, chunked, set-based, idempotent, resumable."""

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.core.models import User
from apps.core.spreadsheet import neutralise_cell, xlsx_upload_check
from apps.imports.models import ImportJob, ImportStatus
from apps.imports.parsing import RowError, file_column_names, parse_file, records
from apps.members.bulk import MemberRecord, members_bulk_upsert


def background_threshold_rows() -> int:
    """Files with more data rows than this are imported by a Celery job with a progress page."""
    return settings.USEROPS_IMPORTS["BACKGROUND_THRESHOLD_ROWS"]


@dataclass
class ImportSummary:
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicate: int = 0
    invalid: int = 0
    rejected: bool = False
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return self.invalid + self.duplicate


def count_rows(path: Path, *, limit: int | None = None) -> int:
    """Data rows in the file (the header and empty lines aside); with ``limit``, stop counting once past it."""
    filled = (record for record in records(path) if any(str(cell or "").strip() for cell in record))
    return max(sum(1 for _record in islice(filled, None if limit is None else limit + 2)) - 1, 0)


def _validate_only(path: Path) -> ImportSummary:
    summary = ImportSummary()
    for parsed in parse_file(path):
        summary.total += 1
        if parsed.errors:
            summary.invalid += 1
            summary.errors.extend(parsed.errors)
    return summary


def import_file(
    *,
    path: Path,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    start_after_row: int = 0,
    chunk_size: int | None = None,
    on_chunk: Callable[[ImportSummary, int], None] | None = None,
) -> ImportSummary:
    """Import what is valid and report what is not (row, column, reason).

    With ``all_or_nothing`` a first pass validates the whole file and nothing is written if any row is
    invalid. Each chunk commits on its own together with ``on_chunk`` (the job's progress), so a killed
    run resumes after ``start_after_row`` and a re-run of the whole file changes nothing.
    """
    chunk_size = chunk_size or settings.USEROPS_IMPORTS["CHUNK_SIZE"]
    if all_or_nothing:
        checked = _validate_only(path)
        if checked.invalid:
            checked.rejected = True
            return checked
    summary = ImportSummary()
    seen: dict[str, int] = {}
    chunk: list[MemberRecord] = []

    def flush(last_row: int) -> None:
        with transaction.atomic():
            result = members_bulk_upsert(records=chunk)
            summary.created += result.created
            summary.updated += result.updated
            summary.unchanged += result.unchanged
            summary.invalid += len(result.conflicts)
            summary.errors.extend(RowError(row, column, reason) for row, column, reason in result.conflicts)
            if dry_run:
                transaction.set_rollback(True)
            elif on_chunk is not None:
                on_chunk(summary, last_row)
        chunk.clear()

    last_row = start_after_row
    for parsed in parse_file(path):
        summary.total += 1
        last_row = parsed.row_number
        member = parsed.member
        keys = (
            []
            if member is None
            else [
                k for k in (f"ext:{member.external_id}" if member.external_id else "", f"phone:{member.phone}" if member.phone else "") if k
            ]
        )
        if parsed.row_number <= start_after_row:
            seen.update(dict.fromkeys(keys, parsed.row_number))
            continue
        if member is None:
            summary.invalid += 1
            summary.errors.extend(parsed.errors)
            continue
        first = next((seen[key] for key in keys if key in seen), None)
        if first is not None:
            summary.duplicate += 1
            summary.errors.append(
                RowError(parsed.row_number, "phone" if member.phone else "external_id", _("duplicate of row %(row)d") % {"row": first})
            )
            continue
        seen.update(dict.fromkeys(keys, parsed.row_number))
        chunk.append(member)
        if len(chunk) >= chunk_size:
            flush(last_row)
    if chunk:
        flush(last_row)
    elif on_chunk is not None and not dry_run:
        on_chunk(summary, last_row)
    return summary


def error_report_csv(errors: list[RowError], *, path: Path) -> bytes:
    """The rejected rows of the file at ``path``, each column named by the file's own header."""
    column_names = file_column_names(path)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_("row"), _("column"), _("reason")])
    for error in sorted(errors, key=lambda e: e.row_number):
        writer.writerow([error.row_number, neutralise_cell(column_names.get(error.column, error.column)), neutralise_cell(error.reason)])
    return ("\ufeff" + buffer.getvalue()).encode()


# Jobs -------------------------------------------------------------------------------------------


def import_job_create(*, upload: UploadedFile, all_or_nothing: bool, actor: User | None) -> ImportJob:
    """Check and store the file, reading no more than the background threshold of rows.

    ``total_rows`` is exact for a file small enough to preview; a larger file shows threshold + 1 until its background job
    counts it, so a request never reads a whole large file.
    """
    xlsx_upload_check(upload, name=upload.name)
    job = ImportJob(original_name=upload.name[:255], all_or_nothing=all_or_nothing, created_by=actor, status=ImportStatus.PREVIEWED)
    job.file.save(upload.name, upload, save=False)
    try:
        job.total_rows = count_rows(Path(job.file.path), limit=background_threshold_rows())
    except ApplicationError:
        job.file.delete(save=False)
        raise
    job.save()
    return job


def import_job_in_background(*, job: ImportJob) -> bool:
    return job.total_rows > background_threshold_rows()


def import_job_queue(*, job: ImportJob) -> ImportJob:
    from apps.imports.tasks import run_import

    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status not in (ImportStatus.PREVIEWED, ImportStatus.FAILED):
            return job
        job.status = ImportStatus.QUEUED
        job.save(update_fields=["status"])
        transaction.on_commit(lambda: run_import.delay(job.pk))
    return job


def import_job_run(*, job_id: int) -> ImportJob:
    """Run (or resume) a job; counts and progress are saved with every chunk."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.status in (ImportStatus.DONE, ImportStatus.REJECTED):
            return job
        job.status = ImportStatus.RUNNING
        job.save(update_fields=["status"])
    base = {name: getattr(job, name) for name in ("created", "updated", "unchanged", "duplicate", "invalid")}

    def progress(summary: ImportSummary, last_row: int) -> None:
        ImportJob.objects.filter(pk=job.pk).update(
            processed_rows=max(last_row - 1, 0),
            created=base["created"] + summary.created,
            updated=base["updated"] + summary.updated,
            unchanged=base["unchanged"] + summary.unchanged,
            duplicate=base["duplicate"] + summary.duplicate,
            invalid=base["invalid"] + summary.invalid,
        )

    try:
        if not job.processed_rows:
            ImportJob.objects.filter(pk=job.pk).update(total_rows=count_rows(Path(job.file.path)))
        summary = import_file(
            path=Path(job.file.path),
            all_or_nothing=job.all_or_nothing,
            start_after_row=job.processed_rows + 1 if job.processed_rows else 0,
            on_chunk=progress,
        )
    except Exception as exc:
        ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now())
        raise
    job.refresh_from_db()
    if summary.rejected:
        job.invalid = summary.invalid
    job.status = ImportStatus.REJECTED if summary.rejected else ImportStatus.DONE
    job.processed_rows = job.total_rows
    job.finished_at = timezone.now()
    if summary.errors:
        job.report.save(f"import-{job.pk}-errors.csv", ContentFile(error_report_csv(summary.errors, path=Path(job.file.path))), save=False)
    job.save()
    return job
