"""Every change abuse control makes: velocity limits and blocklist entries, each save audited and each forgetting the
screen's cached configuration so every process screens with the new state."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.abuse import locks
from apps.abuse.addresses import address_range
from apps.abuse.config import active_blocks_q, screen_config_forget
from apps.abuse.models import MAX_WINDOW_MINUTES, BlockEntry, BlockKind, Scope, VelocityLimit
from apps.analytics.models import ActivityKind
from apps.core.errors import ApplicationError
from apps.members.models import Member
from apps.members.personal_data import refuse_personal_data_in_text

MAX_BULK_LINES = 5000


def _check_limit(limit: VelocityLimit) -> None:
    if not (limit.name or "").strip():
        raise ApplicationError("name_required", _("A velocity limit needs a name."), fields={"name": ""})
    if limit.scope not in Scope.values:
        raise ApplicationError("invalid_scope", _("Choose what the limit counts per."), fields={"scope": limit.scope})
    if limit.kind and limit.kind not in ActivityKind.values:
        raise ApplicationError("invalid_kind", _("Unknown activity kind “%(kind)s”.") % {"kind": limit.kind}, fields={"kind": limit.kind})
    if limit.max_events is None or limit.max_events < 1:
        raise ApplicationError("invalid_max_events", _("At least one event must be allowed."), fields={"max_events": limit.max_events})
    if limit.window_minutes is None or not 1 <= limit.window_minutes <= MAX_WINDOW_MINUTES:
        raise ApplicationError(
            "invalid_window",
            _("The window must be between 1 and %(max)s minutes (a week).") % {"max": MAX_WINDOW_MINUTES},
            fields={"window_minutes": limit.window_minutes},
        )
    same_name = VelocityLimit.objects.filter(name=limit.name.strip()).exclude(pk=limit.pk)
    if same_name.exists():
        raise ApplicationError("duplicate_name", _("Another velocity limit has this name."), fields={"name": limit.name})


@transaction.atomic
def limit_save(*, limit: VelocityLimit, actor: Any = None) -> VelocityLimit:
    """Create or edit a velocity limit (the form's fields only); the screen uses it from the next batch on."""
    limit.name = (limit.name or "").strip()
    _check_limit(limit)
    if limit.pk:
        locks.lock_limit(limit_id=limit.pk)
    limit._history_user = actor
    limit.save()
    screen_config_forget()
    return limit


@transaction.atomic
def limit_set_active(*, limit: VelocityLimit, active: bool, actor: Any = None) -> VelocityLimit:
    locked = locks.lock_limit(limit_id=limit.pk)
    if locked.active != active:
        locked.active = active
        locked._history_user = actor
        locked.save(update_fields=["active", "updated_at"])
        screen_config_forget()
    return locked


def _check_until(until: datetime | None, now: datetime) -> None:
    if until is not None and until <= now:
        raise ApplicationError("until_in_past", _("“Blocked until” must be later than now."), fields={"until": until.isoformat()})


def _check_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            "reason_required", _("Give the reason for the block: it is shown on every award it holds."), fields={"reason": ""}
        )
    if len(reason) > 200:
        raise ApplicationError("reason_too_long", _("The reason may be at most 200 characters."), fields={"reason": reason[:20]})
    return reason


def _shape(entry: BlockEntry) -> None:
    """Fill the entry's target from its kind, refusing a missing or malformed one (named by its form field)."""
    if entry.kind == BlockKind.MEMBER:
        if entry.member_id is None:
            raise ApplicationError("member_required", _("Choose the member to block."), fields={"member": ""})
        entry.device_id, entry.network, entry.range_start, entry.range_end, entry.is_network = "", "", "", "", False
    elif entry.kind == BlockKind.DEVICE:
        entry.device_id = (entry.device_id or "").strip()
        if not entry.device_id:
            raise ApplicationError("device_required", _("Give the device ID to block."), fields={"device_id": ""})
        if len(entry.device_id) > 64:
            raise ApplicationError(
                "device_too_long", _("A device ID has at most 64 characters."), fields={"device_id": entry.device_id[:20]}
            )
        entry.member, entry.network, entry.range_start, entry.range_end, entry.is_network = None, "", "", "", False
    elif entry.kind == BlockKind.ADDRESS:
        found = address_range(entry.network or "", field="network")
        entry.network, entry.range_start, entry.range_end, entry.is_network = found.network, found.start, found.end, found.is_network
        entry.member, entry.device_id = None, ""
    else:
        raise ApplicationError("invalid_kind", _("Choose what to block: a member, a device or an address."), fields={"kind": entry.kind})


def _same_target(entry: BlockEntry) -> dict[str, Any]:
    if entry.kind == BlockKind.MEMBER:
        return {"kind": entry.kind, "member_id": entry.member_id}
    if entry.kind == BlockKind.DEVICE:
        return {"kind": entry.kind, "device_id": entry.device_id}
    return {"kind": entry.kind, "range_start": entry.range_start, "range_end": entry.range_end}


@transaction.atomic
def block_save(*, entry: BlockEntry, actor: Any = None) -> BlockEntry:
    """Add a blocklist entry, or edit one (its reason, its end); an entry already in force for the same target is refused."""
    now = timezone.now()
    entry.reason = _check_reason(entry.reason)
    _shape(entry)
    if entry.kind == BlockKind.MEMBER:
        refuse_personal_data_in_text(entry.member, reason=entry.reason)
    if entry.pk:
        locks.lock_block(block_id=entry.pk)
    else:
        _check_until(entry.until, now)
        entry.created_by = actor if getattr(actor, "pk", None) else None
    twin = BlockEntry.objects.filter(active_blocks_q(now), **_same_target(entry)).exclude(pk=entry.pk).first()
    if twin is not None:
        raise ApplicationError(
            "already_blocked",
            _("%(target)s is already on the blocklist (%(reason)s).") % {"target": twin.target, "reason": twin.reason},
            fields={"member" if entry.kind == BlockKind.MEMBER else "device_id" if entry.kind == BlockKind.DEVICE else "network": ""},
            http_status=409,
        )
    entry._history_user = actor
    entry.save()
    screen_config_forget()
    return entry


def block_add(
    *,
    kind: str,
    reason: str,
    member: Member | None = None,
    device_id: str = "",
    network: str = "",
    until: datetime | None = None,
    actor: Any = None,
) -> BlockEntry:
    return block_save(
        entry=BlockEntry(kind=kind, member=member, device_id=device_id, network=network, reason=reason, until=until), actor=actor
    )


@transaction.atomic
def block_lift(*, entry: BlockEntry, actor: Any = None) -> BlockEntry:
    """End a block now (the entry stays, with its history)."""
    locked = locks.lock_block(block_id=entry.pk)
    now = timezone.now()
    if locked.until is not None and locked.until <= now:
        raise ApplicationError("not_in_force", _("This block has already ended."), http_status=409)
    locked.until = now
    locked._history_user = actor
    locked.save(update_fields=["until"])
    screen_config_forget()
    return locked


@dataclass(frozen=True)
class BulkResult:
    added: int
    already_blocked: int


@transaction.atomic
def blocks_add_many(*, kind: str, text: str, reason: str, until: datetime | None = None, actor: Any = None) -> BulkResult:
    """Block every value of a pasted list (one per line; commas and blanks also separate) with one reason and end.

    A bad line refuses the whole list, naming the line; values already in force are counted and skipped.
    """
    now = timezone.now()
    reason = _check_reason(reason)
    _check_until(until, now)
    if kind not in BlockKind.values:
        raise ApplicationError("invalid_kind", _("Choose what to block: a member, a device or an address."), fields={"kind": kind})
    values: list[tuple[int, str]] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        values += [(number, token) for token in line.replace(",", " ").split() if token]
    if not values:
        raise ApplicationError("nothing_to_block", _("Paste at least one value, one per line."), fields={"values": ""})
    if len(values) > MAX_BULK_LINES:
        raise ApplicationError(
            "too_many_values", _("At most %(max)s values at once.") % {"max": MAX_BULK_LINES}, fields={"values": len(values)}
        )
    entries: dict[tuple[Any, ...], BlockEntry] = {}
    members: dict[str, int] = {}
    if kind == BlockKind.MEMBER:
        ids = [token for _number, token in values if token.isdigit()]
        members = {str(pk): pk for pk in Member.objects.filter(pk__in=ids).values_list("pk", flat=True)}
    for number, token in values:
        entry = BlockEntry(kind=kind, reason=reason, until=until, created_by=actor if getattr(actor, "pk", None) else None)
        try:
            if kind == BlockKind.MEMBER:
                if token not in members:
                    raise ApplicationError("unknown_member", _("no member has ID “%(value)s”") % {"value": token})
                entry.member_id = members[token]
            elif kind == BlockKind.DEVICE:
                entry.device_id = token
            else:
                entry.network = token
            _shape(entry)
        except ApplicationError as exc:
            raise ApplicationError(
                "invalid_line", _("Line %(line)s: %(error)s") % {"line": number, "error": exc.message}, fields={"values": number}
            ) from None
        entries.setdefault(tuple(_same_target(entry).values()), entry)
    in_force = {
        tuple(row)
        for row in BlockEntry.objects.filter(active_blocks_q(now), kind=kind).values_list(
            *{"member": ["kind", "member_id"], "device": ["kind", "device_id"], "address": ["kind", "range_start", "range_end"]}[kind]
        )
    }
    new = [entry for key, entry in entries.items() if key not in in_force]
    for entry in new:
        entry._history_user = actor
        entry.save()  # one by one: each gets its audit record (a list is at most a few thousand rows)
    screen_config_forget()
    return BulkResult(added=len(new), already_blocked=len(entries) - len(new))
