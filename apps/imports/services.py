"""Importing customer files: streaming, chunked, set-based, idempotent, resumable."""

import csv
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.activity import AnnouncedActivity, activities_announce
from apps.core.errors import ApplicationError
from apps.core.models import User
from apps.core.queueing import enqueue_on_commit
from apps.core.spreadsheet import neutralise_cell, xlsx_upload_check
from apps.imports.identities import SeenIdentities
from apps.imports.models import ImportJob, ImportStatus
from apps.imports.parsing import RowError, file_column_names, file_unknown_columns, parse_file, records
from apps.members.bulk import MemberRecord, members_bulk_upsert
from apps.members.models import Member
from apps.members.personal_data import personal_values


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
    unknown_columns: list[str] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return self.invalid + self.duplicate


def count_rows(path: Path, *, limit: int | None = None) -> int:
    """Data rows in the file (the header and empty lines aside); with ``limit``, stop counting once past it."""
    filled = (record for record in records(path) if any(str(cell or "").strip() for cell in record))
    return max(sum(1 for _record in islice(filled, None if limit is None else limit + 2)) - 1, 0)


def _identities(member: MemberRecord) -> list[str]:
    """What makes two rows of a file the same person: the external ID and the phone, either one."""
    return [
        identity for identity in (member.external_id and f"ext:{member.external_id}", member.phone and f"phone:{member.phone}") if identity
    ]


def _validate_only(path: Path) -> ImportSummary:
    summary = ImportSummary(unknown_columns=file_unknown_columns(path))
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
    welcome_rewards: bool = False,
) -> ImportSummary:
    """Import what is valid and report what is not (row, column, reason).

    Every member created is announced as enrolled on their enrolment date (the file's, else today), in the chunk's
    transaction with one insert per chunk: with ``welcome_rewards`` as a new enrolment that earning rules and tasks
    reward, otherwise recorded for the timeline, journey stage and lifecycle but not rewarded (members migrated from
    another system, who were welcomed there). A member that already exists is not announced again.

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
    summary = ImportSummary(unknown_columns=file_unknown_columns(path))
    seen = SeenIdentities()
    chunk: list[MemberRecord] = []

    def flush(last_row: int) -> None:
        with transaction.atomic():
            result = members_bulk_upsert(records=chunk)
            if not dry_run:
                announce_enrolments(joined=result.joined, rewards=welcome_rewards)
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
        if member is None:
            if parsed.row_number > start_after_row:
                summary.invalid += 1
                summary.errors.extend(parsed.errors)
            continue
        first = seen.claim(_identities(member), parsed.row_number)
        if parsed.row_number <= start_after_row:
            continue
        if first is not None:
            summary.duplicate += 1
            summary.errors.append(
                RowError(parsed.row_number, "phone" if member.phone else "external_id", _("duplicate of row %(row)d") % {"row": first})
            )
            continue
        chunk.append(member)
        if len(chunk) >= chunk_size:
            flush(last_row)
    if chunk:
        flush(last_row)
    elif on_chunk is not None and not dry_run:
        on_chunk(summary, last_row)
    return summary


def announce_enrolments(*, joined: list[tuple[int, datetime]], rewards: bool) -> int:
    """Announce members created by an import as enrolled, set-based; the event ids are member_enrol's, so a member is
    announced once whatever path enrolled them. ``joined`` are members created in the caller's transaction."""
    return activities_announce(
        events=[
            AnnouncedActivity(member_id=member_id, kind="enrolment", event_id=f"enrolment:{member_id}", occurred_at=at, channel="import")
            for member_id, at in joined
        ],
        rewards=rewards,
        new_members=True,
    )


def unknown_column_reason() -> str:
    return _("unknown column: its values are not imported")


def error_report_csv(errors: list[RowError], *, path: Path) -> bytes:
    """The columns not imported and the rejected rows of the file at ``path``, named by the file's own headers."""
    column_names = file_column_names(path)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_("row"), _("column"), _("reason")])
    for header in file_unknown_columns(path):
        writer.writerow([1, neutralise_cell(header), unknown_column_reason()])
    for error in sorted(errors, key=lambda e: e.row_number):
        writer.writerow([error.row_number, neutralise_cell(column_names.get(error.column, error.column)), neutralise_cell(error.reason)])
    return ("\ufeff" + buffer.getvalue()).encode()


# Jobs -------------------------------------------------------------------------------------------


def import_job_create(*, upload: UploadedFile, all_or_nothing: bool, actor: User | None, welcome_rewards: bool = False) -> ImportJob:
    """Check and store the file, reading no more than the background threshold of rows.

    ``total_rows`` is exact for a file small enough to preview; a larger file shows threshold + 1 until its background job
    counts it, so a request never reads a whole large file. A file that cannot be read leaves nothing behind: no job
    and no stored upload.
    """
    xlsx_upload_check(upload, name=upload.name)
    job = ImportJob(
        original_name=upload.name[:255],
        all_or_nothing=all_or_nothing,
        welcome_rewards=welcome_rewards,
        created_by=actor,
        status=ImportStatus.PREVIEWED,
    )
    job.file.save(upload.name, upload, save=False)
    try:
        job.total_rows = count_rows(Path(job.file.path), limit=background_threshold_rows())
        job.save()
    except ApplicationError:
        job.file.delete(save=False)
        raise
    # Whatever the parser trips on (a broken zip, a bad encoding …), the upload is someone's personal data.
    except Exception as exc:
        job.file.delete(save=False)
        raise ApplicationError("unreadable_file", _("The file could not be read as CSV or Excel."), fields={"file": upload.name}) from exc
    return job


def import_job_in_background(*, job: ImportJob) -> bool:
    return job.total_rows > background_threshold_rows()


def _delete_files(job: ImportJob) -> None:
    for stored in (job.file, job.report):
        if stored:
            stored.delete(save=False)


@transaction.atomic
def import_job_delete(*, job: ImportJob) -> None:
    """Delete a job with its upload and error report; refused while the job is being imported."""
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status in (ImportStatus.QUEUED, ImportStatus.RUNNING):
        raise ApplicationError("import_running", _("The import is still running; delete it once it has finished."), http_status=409)
    _delete_files(job)
    job.delete()


def import_files_purge(*, now: datetime | None = None) -> int:
    """Delete uploads and error reports older than the retention, and stored files no job refers to.

    The jobs stay (counts, who, when) with their files gone. Returns how many files were deleted.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.USEROPS_IMPORTS["FILE_RETENTION_DAYS"])
    deleted = 0
    old_jobs = ImportJob.objects.filter(created_at__lt=cutoff).exclude(status__in=[ImportStatus.QUEUED, ImportStatus.RUNNING])
    for job in old_jobs.exclude(file="", report="").order_by("pk"):
        deleted += bool(job.file) + bool(job.report)
        _delete_files(job)
        ImportJob.objects.filter(pk=job.pk).update(file="", report="")
    return deleted + _orphan_files_purge(cutoff=cutoff)


def _orphan_files_purge(*, cutoff: datetime) -> int:
    storage = ImportJob._meta.get_field("file").storage
    referenced = {name for pair in ImportJob.objects.values_list("file", "report") for name in pair if name}
    deleted = 0
    for folder in ("imports", "imports/reports"):
        if not storage.exists(folder):
            continue
        for name in storage.listdir(folder)[1]:
            path = f"{folder}/{name}"
            if path not in referenced and storage.get_modified_time(path) < cutoff:
                storage.delete(path)
                deleted += 1
    return deleted


def _mentions(job: ImportJob, needles: list[str], digits: str) -> bool:
    for stored in (job.file, job.report):
        if not stored or not stored.storage.exists(stored.name):
            continue
        with stored.open("rb") as handle:
            text = _readable_text(handle.read())
        folded = text.casefold()
        if any(needle.casefold() in folded for needle in needles) or (digits and digits in re.sub(r"\D", "", text)):
            return True
    return False


def _readable_text(data: bytes) -> str:
    """The text of a CSV (UTF-8 or GBK) or of every part of an Excel workbook."""
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as workbook:
            return "\n".join(workbook.read(part).decode("utf-8", "ignore") for part in workbook.namelist())
    return data.decode("utf-8", "ignore") + "\n" + data.decode("gbk", "ignore")


def import_files_forget_member(*, member: Member) -> int:
    """A member is being anonymised: delete every stored upload or report that names them. Returns how many jobs.

    Files are searched for the email and name as written and for the phone's digits in any written form.
    """
    values = personal_values(member)
    needles = [value for value in (values.email, values.name) if value]
    national = values.national_phone
    forgotten = 0
    for job in ImportJob.objects.exclude(file="", report="").exclude(status__in=[ImportStatus.QUEUED, ImportStatus.RUNNING]):
        if _mentions(job, needles, national):
            _delete_files(job)
            ImportJob.objects.filter(pk=job.pk).update(file="", report="")
            forgotten += 1
    return forgotten


def import_job_queue(*, job: ImportJob) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status not in (ImportStatus.PREVIEWED, ImportStatus.FAILED):
            return job
        job.status = ImportStatus.QUEUED
        job.save(update_fields=["status"])
        enqueue_on_commit("imports.run_import", job.pk)
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
            welcome_rewards=job.welcome_rewards,
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
    if summary.errors or summary.unknown_columns:
        job.report.save(f"import-{job.pk}-errors.csv", ContentFile(error_report_csv(summary.errors, path=Path(job.file.path))), save=False)
    job.save()
    return job
