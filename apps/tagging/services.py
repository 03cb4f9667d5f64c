"""Attributes and their values, tag jobs, auto-tag rules. Tags themselves are written by members' one tag write path."""

import contextlib
import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.campaigns.models import Segment
from apps.campaigns.selectors import segment_members
from apps.core.errors import ApplicationError
from apps.core.models import User
from apps.core.queueing import enqueue_on_commit
from apps.members.models import Member, Tag, TagChangeSource
from apps.members.phones import normalize_phone
from apps.members.services import tags_add, tags_by_name, tags_remove
from apps.tagging.models import (
    Attribute,
    AttributeImport,
    AttributeKind,
    AttributeValue,
    AutoTagMember,
    AutoTagRule,
    TagJob,
    TagJobAction,
    TagJobMember,
    TagJobStatus,
)

MAX_TEXT_LENGTH = 500
MAX_NUMBER = Decimal("99999999999999")
# How many unknown identifiers a job lists (all of them are counted).
UNKNOWN_LISTED = 1000
MAX_LIST_SIZE = 1_000_000
PII_PERMISSION = "members.view_member_pii"


def _chunk_size() -> int:
    return settings.USEROPS_TAGGING["CHUNK_SIZE"]


# --- attributes -------------------------------------------------------------------------------------------------


@transaction.atomic
def attribute_save(*, attribute: Attribute) -> Attribute:
    """Create or change an attribute definition; refuses rules that contradict each other or the values already kept."""
    if attribute.kind not in AttributeKind.values:
        raise ApplicationError("invalid_kind", _("Unknown attribute type."), fields={"kind": attribute.kind})
    if attribute.kind == AttributeKind.CHOICE:
        choices = attribute.choices
        if not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c.strip() for c in choices):
            raise ApplicationError("choices_required", _("A choice attribute needs a list of choices."), fields={"choices": choices})
        attribute.choices = [c.strip() for c in choices]
        if len(set(attribute.choices)) != len(attribute.choices):
            raise ApplicationError("duplicate_choices", _("Each choice may be listed once."), fields={"choices": choices})
    elif attribute.choices:
        raise ApplicationError("choices_not_allowed", _("Only a choice attribute has choices."), fields={"choices": attribute.choices})
    if attribute.min_value is not None and attribute.max_value is not None and attribute.min_value > attribute.max_value:
        raise ApplicationError("invalid_range", _("The minimum is above the maximum."), fields={"min_value": attribute.min_value})
    if attribute.min_date and attribute.max_date and attribute.min_date > attribute.max_date:
        raise ApplicationError("invalid_range", _("The earliest date is after the latest date."), fields={"min_date": attribute.min_date})
    if attribute.pattern:
        try:
            re.compile(attribute.pattern)
        except re.error as exc:
            message = _("The pattern is not a valid regular expression: %(error)s") % {"error": exc}
            raise ApplicationError("invalid_pattern", message, fields={"pattern": attribute.pattern}) from None
    if attribute.pk:
        before = Attribute.objects.select_for_update().get(pk=attribute.pk)
        if before.kind != attribute.kind and before.values.exists():
            raise ApplicationError(
                "kind_in_use", _("Members already have values of this attribute: its type cannot change."), fields={"kind": attribute.kind}
            )
        if attribute.kind == AttributeKind.CHOICE:
            dropped = set(before.choices) - set(attribute.choices)
            in_use = sorted(before.values.filter(value_text__in=dropped).values_list("value_text", flat=True).distinct())
            if in_use:
                message = _("Members still have these choices: %(choices)s") % {"choices": ", ".join(in_use)}
                raise ApplicationError("choice_in_use", message, fields={"choices": attribute.choices})
    attribute.save()
    return attribute


def attribute_parse(attribute: Attribute, raw: Any) -> str | Decimal | date | None:
    """The typed value of ``raw`` (text from a form or a file, or an already typed value), or None when empty.

    Every refusal names the attribute (``fields`` is its code), so a form puts it on the field and an import on the column.
    """

    def refuse(code: str, message: str) -> ApplicationError:
        return ApplicationError(code, f"{attribute.label}: {message}", fields={attribute.code: str(raw)[:100]})

    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if attribute.required:
            raise refuse("attribute_required", _("a value is required."))
        return None
    if attribute.kind == AttributeKind.NUMBER:
        try:
            number = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip().replace(",", ""))
        except InvalidOperation:
            raise refuse("invalid_number", _("“%(value)s” is not a number.") % {"value": str(raw)[:100]}) from None
        if not number.is_finite() or abs(number) > MAX_NUMBER:
            raise refuse("invalid_number", _("the number is too large."))
        if number != number.quantize(Decimal("0.0001")):
            raise refuse("invalid_number", _("at most four decimal places."))
        if attribute.min_value is not None and number < attribute.min_value:
            raise refuse("below_minimum", _("at least %(min)s.") % {"min": attribute.min_value.normalize()})
        if attribute.max_value is not None and number > attribute.max_value:
            raise refuse("above_maximum", _("at most %(max)s.") % {"max": attribute.max_value.normalize()})
        return number
    if attribute.kind == AttributeKind.DATE:
        if isinstance(raw, date):
            day = raw
        else:
            try:
                day = date.fromisoformat(str(raw).strip())
            except ValueError:
                raise refuse("invalid_date", _("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": str(raw)[:100]}) from None
        if attribute.min_date and day < attribute.min_date:
            raise refuse("before_earliest", _("on or after %(day)s.") % {"day": attribute.min_date.isoformat()})
        if attribute.max_date and day > attribute.max_date:
            raise refuse("after_latest", _("on or before %(day)s.") % {"day": attribute.max_date.isoformat()})
        return day
    text = str(raw).strip()
    if "\x00" in text:
        raise refuse("invalid_text", _("the text cannot contain the NUL character."))
    if attribute.kind == AttributeKind.CHOICE:
        if text not in attribute.choices:
            return_message = _("“%(value)s” is not one of %(choices)s.") % {"value": text[:100], "choices": ", ".join(attribute.choices)}
            raise refuse("invalid_choice", return_message)
        return text
    limit = min(attribute.max_length or MAX_TEXT_LENGTH, MAX_TEXT_LENGTH)
    if len(text) > limit:
        raise refuse("too_long", _("at most %(length)d characters.") % {"length": limit})
    if attribute.pattern and not re.fullmatch(attribute.pattern, text):
        raise refuse("pattern_mismatch", _("the text does not have the required form."))
    return text


def _column(attribute: Attribute) -> str:
    return {AttributeKind.NUMBER: "value_number", AttributeKind.DATE: "value_date"}.get(attribute.kind, "value_text")


def _value_row(attribute: Attribute, member_id: int, value: Any, actor: User | None, now: Any) -> AttributeValue:
    row = AttributeValue(member_id=member_id, attribute=attribute, updated_at=now, updated_by=actor)
    setattr(row, _column(attribute), value)
    return row


@transaction.atomic
def attribute_values_set(*, member: Member, values: dict[str, Any], actor: User | None = None) -> dict[str, Any]:
    """Set some of one member's attributes (by code; empty clears); all are checked before anything is written.

    Returns the typed values written (None for the cleared ones).
    """
    attributes = {attribute.code: attribute for attribute in Attribute.objects.filter(code__in=list(values))}
    unknown = sorted(set(values) - set(attributes))
    if unknown:
        message = _("Unknown attributes: %(codes)s") % {"codes": ", ".join(unknown)}
        raise ApplicationError("unknown_attribute", message, fields={unknown[0]: values[unknown[0]]})
    parsed = {code: attribute_parse(attributes[code], raw) for code, raw in values.items()}
    _write_values(member_ids_values={member.pk: parsed}, attributes=attributes, actor=actor)
    return parsed


def _write_values(*, member_ids_values: dict[int, dict[str, Any]], attributes: dict[str, Attribute], actor: User | None) -> None:
    now = timezone.now()
    for code, attribute in attributes.items():
        rows = [
            _value_row(attribute, member_id, values[code], actor, now)
            for member_id, values in member_ids_values.items()
            if code in values and values[code] is not None
        ]
        cleared = [member_id for member_id, values in member_ids_values.items() if code in values and values[code] is None]
        if cleared:
            AttributeValue.objects.filter(attribute=attribute, member_id__in=cleared).delete()
        if rows:
            AttributeValue.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["member", "attribute"],
                update_fields=["value_text", "value_number", "value_date", "updated_at", "updated_by"],
            )


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str


@dataclass(frozen=True)
class AttributeImportResult:
    rows: int
    members_updated: int
    errors: list[RowError]


def _import_columns(header: list[str]) -> tuple[list[str], str, list[str], dict[str, Attribute]]:
    """The file's columns, the identifying one, the attribute codes and their attributes; a bad header is refused."""
    columns = [name.strip().lstrip("\ufeff") for name in header]
    key = "external_id" if "external_id" in columns else "phone" if "phone" in columns else None
    if key is None:
        raise ApplicationError("missing_column", _("The file needs an external_id or a phone column."), fields={"file": ""})
    codes = [column for column in columns if column not in ("external_id", "phone")]
    attributes = {attribute.code: attribute for attribute in Attribute.objects.filter(code__in=codes)}
    unknown = [code for code in codes if code not in attributes]
    if unknown:
        message = _("Unknown attribute columns: %(codes)s") % {"codes": ", ".join(unknown)}
        raise ApplicationError("unknown_attribute", message, fields={"file": unknown[0]})
    if not codes:
        raise ApplicationError("missing_column", _("The file has no attribute columns."), fields={"file": ""})
    return columns, key, codes, attributes


def attribute_values_import(*, header: list[str], rows: Iterable[list[str]], actor: User | None = None) -> AttributeImportResult:
    """Set attribute values from a file: an ``external_id`` or ``phone`` column names the member, the others are codes.

    Each row is checked on its own: a row with an error (unknown member, a bad value) changes nothing and is
    reported with its number and column; the good rows are written a chunk per transaction.
    """
    columns, key, codes, attributes = _import_columns(header)
    errors: list[RowError] = []
    pending: dict[str, tuple[int, dict[str, Any]]] = {}
    count = updated = 0
    for number, row in enumerate(rows, start=2):
        count += 1
        cells = dict(zip(columns, [cell.strip() for cell in row], strict=False))
        identifier = cells.get(key, "")
        if key == "phone" and identifier:
            try:
                identifier = normalize_phone(identifier)
            except ApplicationError as exc:
                errors.append(RowError(number, key, exc.message))
                continue
        if not identifier:
            errors.append(RowError(number, key, _("The member's identifier is empty.")))
            continue
        parsed: dict[str, Any] = {}
        for code in codes:
            try:
                parsed[code] = attribute_parse(attributes[code], cells.get(code, ""))
            except ApplicationError as exc:
                errors.append(RowError(number, code, exc.message))
                break
        else:
            pending[identifier] = (number, parsed)
        if len(pending) >= _chunk_size():
            updated += _import_chunk(key=key, pending=pending, attributes=attributes, actor=actor, errors=errors)
            pending = {}
    updated += _import_chunk(key=key, pending=pending, attributes=attributes, actor=actor, errors=errors)
    return AttributeImportResult(rows=count, members_updated=updated, errors=sorted(errors, key=lambda error: error.row))


@transaction.atomic
def _import_chunk(
    *,
    key: str,
    pending: dict[str, tuple[int, dict[str, Any]]],
    attributes: dict[str, Attribute],
    actor: User | None,
    errors: list[RowError],
) -> int:
    if not pending:
        return 0
    ids = dict(Member.objects.filter(**{f"{key}__in": list(pending)}).values_list(key, "pk"))
    by_member = {}
    for identifier, (number, parsed) in pending.items():
        if identifier in ids:
            by_member[ids[identifier]] = parsed
        else:
            errors.append(RowError(number, key, _("No member has this %(column)s.") % {"column": key}))
    _write_values(member_ids_values=by_member, attributes=attributes, actor=actor)
    return len(by_member)


def attribute_values_anonymise(*, member: Member) -> int:
    """Clear the member's values of personal attributes (PIPL anonymisation); the others describe no one once the name is gone."""
    deleted, _by_model = AttributeValue.objects.filter(member=member, attribute__personal=True).delete()
    return deleted


# --- tag jobs ---------------------------------------------------------------------------------------------------


def _tag(name: str) -> Tag:
    if not name.strip():
        raise ApplicationError("tag_required", _("Name the tag."), fields={"tag": name})
    if len(name.strip()) > Tag._meta.get_field("name").max_length:
        raise ApplicationError("invalid_tag", _("A tag name has at most 50 characters."), fields={"tag": name[:60]})
    return tags_by_name([name])[0]


def _phone_form(text: str) -> str | None:
    with contextlib.suppress(ApplicationError):
        return normalize_phone(text)
    return None


def _resolve_identifiers(identifiers: Iterable[str], *, by_phone: bool = True) -> tuple[list[int], list[str]]:
    """Member ids named by phones or external ids (each looked up as both), and the identifiers that name no one.

    Without ``by_phone`` only external ids are looked up, and a line holding a phone number that is no external id is
    refused: the job's outcome (the member tagged, the line unknown) would confirm whose number it is to staff who see
    phone numbers masked and may not search by them.
    """
    lines = [(number, raw.strip()) for number, raw in enumerate(identifiers, start=1)]
    wanted: dict[str, set[str]] = {}
    for _number, text in lines:
        if not text:
            continue
        phone = _phone_form(text) if by_phone else None
        wanted[text] = {text, phone} if phone else {text}
    if len(wanted) > MAX_LIST_SIZE:
        raise ApplicationError(
            "list_too_long", _("A list holds at most %(count)d members.") % {"count": MAX_LIST_SIZE}, fields={"file": ""}
        )
    every_form = sorted(set().union(*wanted.values())) if wanted else []
    found: dict[str, int] = {}
    step = 10_000
    for start in range(0, len(every_form), step):
        forms = every_form[start : start + step]
        if by_phone:
            named = Member.objects.filter(Q(phone__in=forms) | Q(external_id__in=forms)).values_list("pk", "phone", "external_id")
        else:
            named = (
                (pk, None, external_id) for pk, external_id in Member.objects.filter(external_id__in=forms).values_list("pk", "external_id")
            )
        for pk, phone, external_id in named:
            for value in (phone, external_id):
                if value:
                    found[value] = pk
    ids, unknown = set(), []
    for text, forms in wanted.items():
        matched = [found[form] for form in forms if form in found]
        if matched:
            ids.update(matched)
        else:
            unknown.append(text)
    if not by_phone:
        named_no_one = set(unknown)
        refused = next((number for number, text in lines if text in named_no_one and _phone_form(text)), None)
        if refused is not None:
            raise ApplicationError(
                "phone_not_allowed",
                _("Line %(line)d holds a mobile phone number: your role sees phone numbers masked, so name members by external ID.")
                % {"line": refused},
                fields={"file": ""},
            )
    return sorted(ids), unknown


@transaction.atomic
def tag_job_create(
    *,
    tag_name: str,
    action: str = TagJobAction.ADD,
    segment: Segment | None = None,
    identifiers: Iterable[str] | None = None,
    actor: User | None = None,
) -> TagJob:
    """A job that adds or removes ``tag_name`` for a segment or for the members a list of phones/external ids names.

    The list is resolved at once (the unknown identifiers are counted and the first ones kept for the job page); the
    segment is read when the job starts. The work runs on the bulk queue.
    """
    if action not in TagJobAction.values:
        raise ApplicationError("invalid_action", _("Choose whether to add or remove the tag."), fields={"action": action})
    if (segment is None) == (identifiers is None):
        raise ApplicationError("target_required", _("Choose a segment or upload a list, not both."), fields={"segment": None})
    tag = _tag(tag_name) if action == TagJobAction.ADD else Tag.objects.filter(name=tag_name.strip()).first()
    if tag is None:
        raise ApplicationError("unknown_tag", _("No tag is called “%(name)s”.") % {"name": tag_name[:50]}, fields={"tag": tag_name})
    job = TagJob.objects.create(tag=tag, action=action, segment=segment, created_by=actor)
    if identifiers is not None:
        by_phone = actor is None or actor.has_perm(PII_PERMISSION)
        member_ids, unknown = _resolve_identifiers(identifiers, by_phone=by_phone)
        if not member_ids and not unknown:
            raise ApplicationError("empty_list", _("The list names no members."), fields={"file": ""})
        TagJobMember.objects.bulk_create([TagJobMember(job=job, member_id=pk) for pk in member_ids], batch_size=10_000)
        job.total, job.unknown_count, job.unknown = len(member_ids), len(unknown), unknown[:UNKNOWN_LISTED]
        job.save(update_fields=["total", "unknown_count", "unknown"])
    enqueue_on_commit("tagging.run_tag_job", job.pk)
    return job


@transaction.atomic
def _tag_job_start(*, job_id: int) -> TagJob | None:
    """Take the segment's members as the job's list (once) and mark it running; None when there is nothing to do."""
    job = TagJob.objects.select_for_update().get(pk=job_id)
    if job.status in (TagJobStatus.DONE, TagJobStatus.FAILED):
        return None
    if job.status == TagJobStatus.QUEUED:
        if job.segment_id is not None:
            members_sql, params = segment_members(segment=job.segment).values("pk").query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(
                    # "WHERE true" keeps SQLite's parser from reading ON CONFLICT as a join condition.
                    f"INSERT INTO {TagJobMember._meta.db_table} (job_id, member_id) SELECT %s, m.pk FROM ({members_sql}) m "  # noqa: S608 (our table)
                    "WHERE true ON CONFLICT DO NOTHING",
                    (job.pk, *params),
                )
            job.total = TagJobMember.objects.filter(job=job).count()
        job.status, job.started_at = TagJobStatus.RUNNING, timezone.now()
        job.save(update_fields=["status", "started_at", "total"])
    return job


@transaction.atomic
def _tag_job_chunk(*, job_id: int, size: int) -> bool:
    """Write the next chunk of the job and move its cursor in the same transaction; False once the job is done."""
    job = TagJob.objects.select_for_update().select_related("tag").get(pk=job_id)
    if job.status != TagJobStatus.RUNNING:
        return False
    ids = list(
        TagJobMember.objects.filter(job=job, member_id__gt=job.cursor).order_by("member_id").values_list("member_id", flat=True)[:size]
    )
    if not ids:
        job.status, job.finished_at = TagJobStatus.DONE, timezone.now()
        job.save(update_fields=["status", "finished_at"])
        return False
    write = tags_add if job.action == TagJobAction.ADD else tags_remove
    changed = write(tag=job.tag, member_ids=ids, source=TagChangeSource.JOB, actor=job.created_by, reference=f"job {job.pk}")
    job.cursor, job.done, job.changed = ids[-1], job.done + len(ids), job.changed + len(changed)
    job.save(update_fields=["cursor", "done", "changed"])
    return True


def tag_job_run(*, job_id: int, chunk_size: int | None = None) -> TagJob:
    """Run the job to the end, a chunk per transaction; safe to run again after a crash (it resumes at its cursor)."""
    if _tag_job_start(job_id=job_id) is not None:
        while _tag_job_chunk(job_id=job_id, size=chunk_size or _chunk_size()):
            pass
    return TagJob.objects.get(pk=job_id)


@transaction.atomic
def tag_job_fail(*, job_id: int, error: str) -> None:
    TagJob.objects.filter(pk=job_id).exclude(status=TagJobStatus.DONE).update(
        status=TagJobStatus.FAILED, error=error[:1000], finished_at=timezone.now()
    )


# --- auto-tag rules ---------------------------------------------------------------------------------------------


@transaction.atomic
def auto_tag_rule_save(*, rule: AutoTagRule) -> AutoTagRule:
    taken = AutoTagRule.objects.filter(tag=rule.tag, active=True).exclude(pk=rule.pk)
    if rule.active and taken.exists():
        message = _("Another active rule already keeps the tag “%(tag)s” in step.") % {"tag": rule.tag.name}
        raise ApplicationError("tag_taken", message, fields={"tag": rule.tag.pk})
    rule.save()
    return rule


@dataclass(frozen=True)
class AutoTagSync:
    added: int
    removed: int


def auto_tag_sync(*, rule_id: int, chunk_size: int | None = None) -> AutoTagSync:
    """Tag the segment's members who lack the tag, untag the members the rule tagged who left it; a chunk per transaction.

    Members who carried the tag before the rule (tagged by staff, a job or an import) are never untagged by it.
    """
    size = chunk_size or _chunk_size()
    rule = AutoTagRule.objects.select_related("tag", "segment").get(pk=rule_id)
    reference = f"rule {rule.pk}"
    matching = segment_members(segment=rule.segment)
    tagged = Member.tags.through.objects.filter(tag_id=rule.tag_id).values("member_id")
    added = removed = 0
    cursor = 0
    while True:
        with transaction.atomic():
            ids = list(matching.filter(pk__gt=cursor).exclude(pk__in=tagged).order_by("pk").values_list("pk", flat=True)[:size])
            if not ids:
                break
            new = tags_add(tag=rule.tag, member_ids=ids, source=TagChangeSource.AUTO_RULE, reference=reference)
            AutoTagMember.objects.bulk_create([AutoTagMember(rule=rule, member_id=pk) for pk in new], ignore_conflicts=True)
            added += len(new)
            cursor = ids[-1]
    while True:
        with transaction.atomic():
            left = AutoTagMember.objects.filter(rule=rule).exclude(member_id__in=matching.values("pk"))
            ids = list(left.order_by("member_id").values_list("member_id", flat=True)[:size])
            if not ids:
                break
            removed += len(tags_remove(tag=rule.tag, member_ids=ids, source=TagChangeSource.AUTO_RULE, reference=reference))
            AutoTagMember.objects.filter(rule=rule, member_id__in=ids).delete()
    AutoTagRule.objects.filter(pk=rule.pk).update(synced_at=timezone.now(), last_added=added, last_removed=removed)
    return AutoTagSync(added=added, removed=removed)


def auto_tags_sync_all() -> dict[int, AutoTagSync]:
    """Every active rule in step; a rule whose segment cannot be read is skipped (and logged by the caller's task)."""
    return {pk: auto_tag_sync(rule_id=pk) for pk in AutoTagRule.objects.filter(active=True).order_by("pk").values_list("pk", flat=True)}


# --- merging ----------------------------------------------------------------------------------------------------


@transaction.atomic
def member_tagging_merge(*, survivor: Member, merged: Member) -> dict[str, int]:
    """Attribute values the survivor lacks move over (equal ones are dropped); the rules' marks follow (members' own mover
    unites the tags themselves)."""
    held = AttributeValue.objects.filter(member=survivor).values("attribute_id")
    moved_values = AttributeValue.objects.filter(member=merged).exclude(attribute_id__in=held).update(member=survivor)
    AttributeValue.objects.filter(member=merged).delete()
    marked = AutoTagMember.objects.filter(member=survivor).values("rule_id")
    AutoTagMember.objects.filter(member=merged).exclude(rule_id__in=marked).update(member=survivor)
    AutoTagMember.objects.filter(member=merged).delete()
    return {"attribute_values": moved_values}


# --- attribute files --------------------------------------------------------------------------------------------

MAX_FILE_BYTES = 20 * 1024 * 1024
ERRORS_KEPT = 1000


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


@transaction.atomic
def attribute_import_create(*, name: str, data: bytes, actor: User | None = None) -> AttributeImport:
    """Keep an uploaded CSV of attribute values and queue its job; the header is checked at once."""
    if len(data) > MAX_FILE_BYTES:
        raise ApplicationError("file_too_large", _("The file is larger than 20 MB."), fields={"file": name})
    text = _decode(data)
    if "\x00" in text:
        # PostgreSQL text cannot hold it: keeping the file would fail with a server error.
        raise ApplicationError("unreadable_file", _("The file holds a NUL character: it is not CSV text."), fields={"file": name})
    try:
        header = next(csv.reader(io.StringIO(text)), [])
    except csv.Error as exc:
        raise ApplicationError(
            "unreadable_csv",
            _("The CSV file cannot be read: %(reason)s. Save it again as CSV from Excel.") % {"reason": exc},
            fields={"file": name},
        ) from exc
    _import_columns(header)
    job = AttributeImport.objects.create(original_name=name[:255], content=text, created_by=actor)
    enqueue_on_commit("tagging.import_attributes", job.pk)
    return job


def attribute_import_run(*, import_id: int) -> AttributeImport:
    """Apply the file (a chunk of rows per transaction), then keep the outcome and forget the file's text."""
    with transaction.atomic():
        job = AttributeImport.objects.select_for_update().get(pk=import_id)
        if job.status != TagJobStatus.QUEUED:
            return job
        job.status = TagJobStatus.RUNNING
        job.save(update_fields=["status"])
    reader = csv.reader(io.StringIO(job.content))
    try:
        header = next(reader, [])
        result = attribute_values_import(header=header, rows=reader, actor=job.created_by)
    except (ApplicationError, csv.Error) as exc:
        message = exc.message if isinstance(exc, ApplicationError) else str(exc)
        AttributeImport.objects.filter(pk=job.pk).update(
            status=TagJobStatus.FAILED, failure=message, content="", finished_at=timezone.now()
        )
        return AttributeImport.objects.get(pk=job.pk)
    errors = [{"row": e.row, "field": e.field, "message": str(e.message)} for e in result.errors[:ERRORS_KEPT]]
    AttributeImport.objects.filter(pk=job.pk).update(
        status=TagJobStatus.DONE,
        rows=result.rows,
        members_updated=result.members_updated,
        errors=errors,
        error_count=len(result.errors),
        content="",
        finished_at=timezone.now(),
    )
    return AttributeImport.objects.get(pk=job.pk)
