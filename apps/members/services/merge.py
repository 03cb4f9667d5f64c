"""Merging two members who are one person: the survivor keeps its record and takes over the other's.

One transaction, both members locked in key order with their points accounts (``apps/members/locks.py``). Identity
data both hold and that differ, and whatever a mover reports (``apps/members/merging.py``), must be decided by the
agent before anything moves. Then every registered mover moves its rows, the balances move through the ledger, the
merged member is closed with a pointer to the survivor, and one ``MemberMerge`` records who, when, the choices, the
rows moved and the merged identity as it was.
"""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.errors import ApplicationError
from apps.core.models import User
from apps.members.locks import lock_members, lock_points_accounts
from apps.members.merging import MEMBER_MERGERS, MERGED, SURVIVOR, MergeConflict, conflict_key, merge_choices, reassign
from apps.members.models import (
    AdjustmentState,
    Consent,
    DuplicateCandidate,
    DuplicateState,
    Gender,
    GrowthAdjustment,
    Member,
    MemberMerge,
    MemberStatus,
    MemberToken,
    PointsAdjustment,
    Tag,
    TagChangeSource,
    TierAssignment,
)
from apps.members.services.ledger import growth_move_on_merge, points_move_on_merge
from apps.members.services.privacy import member_anonymise
from apps.members.services.tags import tags_add, tags_remove
from apps.members.services.tiers import growth_value_clear, tier_keep_on_merge

IDENTITY = "identity"
# Identity fields the agent chooses between when both members hold a different value (label, how to read it).
IDENTITY_FIELDS: dict[str, Any] = {
    "name": gettext_lazy("Name"),
    "phone": gettext_lazy("Mobile phone"),
    "email": gettext_lazy("Email"),
    "external_id": gettext_lazy("External ID"),
    "birthday": gettext_lazy("Birthday"),
    "city": gettext_lazy("City"),
    "gender": gettext_lazy("Gender"),
    "tier": gettext_lazy("Tier"),
}
# Identity fields that are personal data: masked on the merge page for staff without the right.
PERSONAL_FIELDS = {"phone", "email", "birthday"}
SNAPSHOT_FIELDS = (
    "name",
    "phone",
    "email",
    "external_id",
    "birthday",
    "city",
    "gender",
    "tier_id",
    "status",
    "joined_at",
    "source_channel",
)


def _value(member: Member, field: str) -> Any:
    if field == "tier":
        return member.tier_id
    value = getattr(member, field)
    if field == "gender" and value == Gender.UNKNOWN:
        return None
    return value or None


def identity_conflicts(*, survivor: Member, merged: Member) -> list[MergeConflict]:
    """Identity fields both members fill with different values (a value only one holds is simply kept)."""
    conflicts = []
    for field, label in IDENTITY_FIELDS.items():
        mine, theirs = _value(survivor, field), _value(merged, field)
        if mine is not None and theirs is not None and mine != theirs:
            if field == "tier":
                mine, theirs = str(survivor.tier), str(merged.tier)
            conflicts.append(MergeConflict(IDENTITY, field, label, mine, theirs))
    return conflicts


def member_merge_conflicts(*, survivor: Member, merged: Member) -> list[MergeConflict]:
    """Everything the agent must decide before these two may merge: identity fields, then each mover's conflicts."""
    conflicts = identity_conflicts(survivor=survivor, merged=merged)
    for merger in MEMBER_MERGERS:
        if merger.conflicts is not None:
            conflicts += merger.conflicts(survivor, merged)
    return conflicts


def _refuse(code: str, message: str, **fields: Any) -> ApplicationError:
    return ApplicationError(code, message, fields=fields or {}, http_status=409)


def _check_mergeable(survivor: Member, merged: Member) -> None:
    for member in (survivor, merged):
        if member.merged_into_id is not None:
            raise _refuse(
                "member_already_merged",
                _("Member #%(member)s was already merged into member #%(into)s.") % {"member": member.pk, "into": member.merged_into_id},
            )
        if member.anonymised_at is not None:
            raise _refuse("member_anonymised", _("Member #%(member)s was anonymised and cannot be merged.") % {"member": member.pk})
    if survivor.status == MemberStatus.CLOSED:
        raise _refuse(
            "survivor_closed", _("The survivor's account is closed: choose the other member as the survivor."), survivor=survivor.pk
        )
    if survivor.status == MemberStatus.PROSPECT and merged.status != MemberStatus.PROSPECT:
        raise _refuse(
            "survivor_prospect", _("The survivor is a prospect: choose the enrolled member as the survivor."), survivor=survivor.pk
        )
    pending = Q(member__in=[survivor, merged], state=AdjustmentState.PENDING)
    if PointsAdjustment.objects.filter(pending).exists() or GrowthAdjustment.objects.filter(pending).exists():
        raise _refuse("pending_adjustments", _("A points or growth value adjustment of these members awaits approval: decide it first."))


def _checked_choices(conflicts: list[MergeConflict], choices: dict[str, str]) -> dict[str, str]:
    wanted = {conflict_key(conflict): conflict for conflict in conflicts}
    invalid = {key: value for key, value in choices.items() if key in wanted and value not in (SURVIVOR, MERGED)}
    if invalid:
        raise ApplicationError(
            "invalid_choice", _("Choose the survivor's or the merged member's value."), fields=dict.fromkeys(invalid, "")
        )
    undecided = [key for key in wanted if key not in choices]
    if undecided:
        labels = ", ".join(str(wanted[key].label) for key in undecided)
        raise ApplicationError(
            "merge_conflicts_undecided",
            _("Choose a value for each conflict before merging: %(fields)s.") % {"fields": labels},
            fields=dict.fromkeys(undecided, ""),
            http_status=409,
            extra={"conflicts": undecided},
        )
    return {key: choices[key] for key in wanted}


def _take_identity(survivor: Member, merged: Member, choices: dict[str, str]) -> list[str]:
    """The survivor's identity after the merge: chosen values, and the merged member's where the survivor has none.
    The merged member gives up its unique identifiers (phone, external ID) so lookups by them find only the survivor."""
    changed = []
    for field in IDENTITY_FIELDS:
        if field == "tier":
            continue
        mine, theirs = _value(survivor, field), _value(merged, field)
        take = theirs is not None and (mine is None or choices.get(f"{IDENTITY}.{field}") == MERGED)
        if take and mine != theirs:
            setattr(survivor, field, getattr(merged, field))
            changed.append(field)
    merged.phone, merged.external_id = None, None
    merged.save(update_fields=["phone", "external_id", "updated_at"])
    return changed


def _snapshot(member: Member) -> dict[str, Any]:
    snapshot = {field: getattr(member, field) for field in SNAPSHOT_FIELDS}
    for field in ("birthday", "joined_at"):
        snapshot[field] = snapshot[field].isoformat() if snapshot[field] else None
    return snapshot


def _close_merged(merged: Member, survivor: Member, actor: User, now: datetime) -> None:
    merged.status = MemberStatus.CLOSED
    merged.status_reason = (_("Merged into member #%(member)s") % {"member": survivor.pk})[:255]
    merged.merged_into = survivor
    growth_value_clear(member=merged)
    merged._history_user = actor
    merged.save(update_fields=["status", "status_reason", "merged_into", "updated_at"])
    MemberToken.objects.filter(member=merged, revoked_at__isnull=True).update(revoked_at=now)
    # Members merged into this one earlier now point at the survivor: one hop always finds the record that lives.
    Member.objects.filter(merged_into=merged).update(merged_into=survivor)


def _settle_candidates(survivor: Member, merged: Member, actor: User, now: datetime) -> None:
    pair = Q(member_a=min(survivor.pk, merged.pk), member_b=max(survivor.pk, merged.pk))
    DuplicateCandidate.objects.filter(pair).update(state=DuplicateState.MERGED, decided_at=now, decided_by=actor)
    # The merged member's other open pairs would name a closed record; the next run finds them again with the survivor.
    DuplicateCandidate.objects.filter(Q(member_a=merged) | Q(member_b=merged), state=DuplicateState.OPEN).delete()


@transaction.atomic
def member_merge(*, survivor_id: int, merged_id: int, actor: User, choices: dict[str, str] | None = None) -> MemberMerge:
    """Merge member ``merged_id`` into ``survivor_id``; ``choices`` maps each conflict ("section.field") to the side
    whose value wins. Refused, with nothing changed, while a conflict is undecided."""
    if not actor.has_perm("members.merge_member"):
        raise ApplicationError("permission_denied", _("You may not merge members."), http_status=403)
    if survivor_id == merged_id:
        raise ApplicationError("same_member", _("A member cannot be merged with itself."), fields={"merged": merged_id})
    members = {member.pk: member for member in lock_members(member_ids=[survivor_id, merged_id])}
    if survivor_id not in members or merged_id not in members:
        raise ApplicationError("not_found", _("No such member."), http_status=404)
    accounts = {account.member_id: account for account in lock_points_accounts(member_ids=list(members))}
    survivor, merged = members[survivor_id], members[merged_id]
    _check_mergeable(survivor, merged)
    choices = _checked_choices(member_merge_conflicts(survivor=survivor, merged=merged), choices or {})
    now = timezone.now()
    snapshot = _snapshot(merged)
    changed = _take_identity(survivor, merged, choices)
    if changed:
        survivor._history_user = actor
        survivor.save(update_fields=[*changed, "updated_at"])
    for account in accounts.values():
        account.member = members[account.member_id]
    moved: dict[str, dict[str, int]] = {}
    with merge_choices(choices):
        for merger in MEMBER_MERGERS:
            moved[merger.name] = merger.move(survivor, merged)
    if choices.get(f"{IDENTITY}.tier") == MERGED:
        tier_keep_on_merge(survivor=survivor, merged=merged, actor=actor, now=now)
    ledger: dict[str, int] = {}
    if merged.pk in accounts and survivor.pk in accounts:
        ledger["points"] = points_move_on_merge(
            survivor_account=accounts[survivor.pk], merged_account=accounts[merged.pk], actor=actor, now=now
        )
    ledger["growth_entries"], _promotion = growth_move_on_merge(survivor=survivor, merged=merged, actor=actor, now=now)
    moved["ledger"] = ledger
    _close_merged(merged, survivor, actor, now)
    _settle_candidates(survivor, merged, actor, now)
    return MemberMerge.objects.create(
        survivor=survivor, merged=merged, actor=actor, merged_at=now, choices=choices, moved=moved, merged_snapshot=snapshot
    )


def move_member_rows(survivor: Member, merged: Member) -> dict[str, int]:
    """Members' own mover: consents (per channel the later decision wins, as the member's latest word), tags (both
    sets, each change in the tag history), tier assignments (their history); the ledgers move through ``member_merge`` itself."""
    theirs = {consent.channel: consent for consent in Consent.objects.filter(member=merged)}
    mine = {consent.channel: consent for consent in Consent.objects.filter(member=survivor, channel__in=list(theirs))}
    updated = 0
    for channel, consent in mine.items():
        other = theirs[channel]
        if other.changed_at > consent.changed_at:
            consent.granted, consent.changed_at, consent.source = other.granted, other.changed_at, other.source
            consent.save(update_fields=["granted", "changed_at", "source"])
            updated += 1
    consents = reassign(Consent, survivor=survivor, merged=merged, unique_with=["channel"])
    tags_moved = 0
    for tag in Tag.objects.filter(members=merged).order_by("pk"):
        tags_moved += len(tags_add(tag=tag, member_ids=[survivor.pk], source=TagChangeSource.MERGE, reference=f"merged {merged.pk}"))
        tags_remove(tag=tag, member_ids=[merged.pk], source=TagChangeSource.MERGE, reference=f"into {survivor.pk}")
    return {
        "consents": consents + updated,
        "tags": tags_moved,
        "tier_assignments": TierAssignment.objects.filter(member=merged).update(member=survivor),
    }


def merge_records_anonymise(member: Member) -> None:
    """Anonymising a member erases the person in its merges too: the snapshots of the merge audit, and the records
    merged into it (closed, but still holding the name and email the person gave them)."""
    MemberMerge.objects.filter(Q(survivor=member) | Q(merged=member)).update(merged_snapshot={})
    for duplicate in Member.objects.filter(merged_into=member, anonymised_at__isnull=True).order_by("pk"):
        member_anonymise(member=duplicate, reason=(_("Anonymised with member #%(member)s") % {"member": member.pk})[:255])
