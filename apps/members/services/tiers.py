"""Tiers: the rolling growth value, promotion, the nightly evaluation under the grace rule, assignments by staff,
tier history, tier setup. How a member qualifies is in ``apps.members.tier_rules``.

Tier history (``TierChange``) is written only here: a member's first tier (enrolment, import), promotions,
demotions and assignments by staff.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from apps.core.bulk_insert import insert_rows
from apps.core.errors import ApplicationError
from apps.core.models import User
from apps.core.outbox import EventType, outbox_emit_many
from apps.core.reasons import Reason, reason_fields, translated_param
from apps.members.locks import lock_active_members_after, lock_member, lock_tiers
from apps.members.models import GrowthValue, Member, MemberStatus, Tier, TierAssignment, TierChange, TierChangeKind
from apps.members.outbox_events import tier_events
from apps.members.tier_rules import (
    PURCHASES,
    RFM_SEGMENT,
    SPEND,
    TIER_METRICS,
    Decision,
    Standing,
    TierRule,
    decide,
    metric_choices,
    standings,
    tier_rules,
    unmet,
)


def lowest_tier() -> Tier:
    tier = Tier.objects.order_by("rank").first()
    if tier is None:
        raise ApplicationError("no_tiers", _("No tiers are configured."))
    return tier


@dataclass(frozen=True)
class TierStart:
    """A member's first tier and why (enrolment, an import)."""

    member_id: int
    tier_id: int
    reason: Reason


def tier_history_start(*, starts: Sequence[TierStart], now: datetime, actor: User | None = None) -> None:
    """The first tier-history row of new members, set-based (one for an enrolment, a chunk for an import)."""
    # A chunk shares a few Reason objects; rendering each once keeps an import's chunk cheap.
    columns_by_reason: dict[int, dict] = {}
    rows = []
    for start in starts:
        if id(start.reason) not in columns_by_reason:
            columns_by_reason[id(start.reason)] = reason_fields(start.reason)
        rows.append(
            {
                "member_id": start.member_id,
                "kind": TierChangeKind.INITIAL,
                "from_tier_id": None,
                "to_tier_id": start.tier_id,
                "growth_value": 0,
                "actor_id": actor.pk if actor else None,
                **columns_by_reason[id(start.reason)],
                "created_at": now,
            }
        )
    if len(rows) == 1:
        TierChange.objects.create(**rows[0])
    else:
        insert_rows(TierChange, rows)


def tier_promote_on_growth(*, member: Member, now: datetime, actor: User | None = None) -> TierChange | None:
    """Refresh the locked member's rolling growth value and promote at once when they now qualify for a higher tier
    (its threshold and every further condition it sets: docs/rules.md)."""
    rules = tier_rules()
    current_rank = next(rule.rank for rule in rules if rule.tier_id == member.tier_id)
    above = [rule for rule in rules if rule.rank > current_rank and not rule.invitation_only]
    standing = standings([member.pk], above, now)[member.pk]
    # The growth value alone leaves the member's record (and its updated_at) unchanged, as a points balance does.
    _store_growth_values([member], {member.pk: standing.growth})
    earned = [rule for rule in above if not unmet(rule, standing)]
    if not earned:
        return None
    target = max(earned, key=lambda rule: rule.rank)
    change = _tier_change(member, Decision(target=target, kind=PROMOTION, qualified=target), standing, now, actor)
    change.save()
    fields = ["tier", "tier_achieved_at", "updated_at"]
    if member.tier_assigned_until is not None:
        member.tier_assigned_until = None
        fields.append("tier_assigned_until")
    member.save(update_fields=fields)
    outbox_emit_many(events=tier_events([change]), types=[EventType.TIER_CHANGED])
    return change


PROMOTION, DEMOTION, ASSIGNMENT_ENDED = "promotion", "demotion", "assignment_ended"


def tiers_promote_on_growth_many(*, members: Sequence[Member], now: datetime) -> list[TierChange]:
    """``tier_promote_on_growth`` for many locked members at once (the set-based growth path): their standings with one
    query per metric a tier's conditions use, the promotions inserted together, the growth values stored in one
    statement.

    Only a promotion rewrites the member's row (their record changed: the tier) and moves its ``updated_at``. A growth
    value moves with its ledger, as a points balance does, in its own narrow table (``GrowthValue``), so an award adds
    no version of the member's row and no entry to any of the member table's twenty indexes."""
    if not members:
        return []
    rules = [rule for rule in tier_rules() if not rule.invitation_only]
    tiers = _tiers_by_pk()
    rank_of = {tier.pk: tier.rank for tier in tiers.values()}
    lowest_current = min(rank_of[member.tier_id] for member in members)
    above = [rule for rule in rules if rule.rank > lowest_current]
    member_standings = standings([member.pk for member in members], above, now)
    changes, promoted = [], []
    for member in members:
        standing = member_standings[member.pk]
        earned = [rule for rule in above if rule.rank > rank_of[member.tier_id] and not unmet(rule, standing)]
        if not earned:
            continue
        target = max(earned, key=lambda rule: rule.rank)
        changes.append(_tier_change(member, Decision(target=target, kind=PROMOTION, qualified=target), standing, now, None, tiers))
        member.tier_assigned_until, member.updated_at = None, now
        promoted.append(member)
    _store_growth_values(members, {member.pk: member_standings[member.pk].growth for member in members})
    TierChange.objects.bulk_create(changes)
    outbox_emit_many(events=tier_events(changes), types=[EventType.TIER_CHANGED])
    Member.objects.bulk_update(promoted, ["tier", "tier_achieved_at", "tier_assigned_until", "updated_at"])
    return changes


def growth_value_clear(*, member: Member) -> None:
    """The locked member's growth value back to 0 (a merged duplicate, whose growth entries the survivor took over)."""
    _store_growth_values([member], {member.pk: 0})


def _store_growth_values(members: Sequence[Member], values: dict[int, int]) -> None:
    """Store the locked members' rolling growth values (``values`` by member id) in one statement, in key order, and
    keep the instances' ``growth_value`` in step. A member without a row yet gets one."""
    member_ids = sorted(values)
    if not member_ids:
        return
    if connection.vendor != "postgresql":
        GrowthValue.objects.bulk_create(
            [GrowthValue(member_id=member_id, value=values[member_id]) for member_id in member_ids],
            update_conflicts=True,
            unique_fields=["member"],
            update_fields=["value"],
        )
    else:
        with connection.cursor() as cursor:
            cursor.execute(_STORE_GROWTH_SQL, [member_ids, [values[member_id] for member_id in member_ids]])
    for member in members:
        if member.pk in values:
            member.growth = GrowthValue(member_id=member.pk, value=values[member.pk])


# Built from our own model metadata only (no input): the ids and values are the parameters. A row that holds the value
# already is left alone (no new row version).
_STORE_GROWTH_SQL = (
    f"INSERT INTO {GrowthValue._meta.db_table} AS g (member_id, value)"  # noqa: S608
    " SELECT * FROM unnest(%s::bigint[], %s::integer[])"
    " ON CONFLICT (member_id) DO UPDATE SET value = EXCLUDED.value WHERE g.value IS DISTINCT FROM EXCLUDED.value"
)


def _conditions_text(rule: TierRule, standing: Standing, names: Sequence[str]) -> dict[str, str]:
    """The member's figures for the named conditions of ``rule``, in every language ({language: text})."""
    labels = dict(metric_choices(RFM_SEGMENT))
    texts = {}
    for code, _label in settings.LANGUAGES:
        with translation.override(code):
            parts = []
            for name in names:
                if name == "growth":
                    parts.append(_("growth value %(value)d (needed %(needed)d)") % {"value": standing.growth, "needed": rule.threshold})
                elif name == PURCHASES:
                    parts.append(_("purchases %(value)d (needed %(needed)d)") % {"value": standing.purchases, "needed": rule.min_purchases})
                elif name == SPEND:
                    parts.append(_("spend ¥%(value)s (needed ¥%(needed)s)") % {"value": standing.spend, "needed": rule.min_spend})
                elif name == RFM_SEGMENT:
                    segment = str(labels.get(standing.rfm_segment, standing.rfm_segment or "—"))
                    needed = " / ".join(str(labels.get(segment_code, segment_code)) for segment_code in rule.rfm_segments)
                    parts.append(_("RFM segment %(value)s (needed %(needed)s)") % {"value": segment, "needed": needed})
            texts[code] = "; ".join(parts)
    return texts


def _reason_for(current: TierRule, decision: Decision, standing: Standing, tier_name: Any) -> Reason:
    if decision.kind == PROMOTION:
        target = decision.target
        params = {"value": standing.growth, "tier": tier_name, "threshold": target.threshold}
        extra = sorted(target.metrics)
        if not extra:
            return Reason("tier_promoted", params)
        return Reason("tier_promoted_conditions", {**params, "met": _conditions_text(target, standing, extra)})
    if decision.kind == ASSIGNMENT_ENDED:
        return Reason("tier_assignment_ended", {"tier": tier_name})
    params = {"value": standing.growth, "tier": tier_name, "threshold": current.threshold}
    if list(decision.unmet) in ([], ["growth"]):
        return Reason("tier_demoted", params)
    return Reason("tier_demoted_conditions", {"tier": tier_name, "unmet": _conditions_text(current, standing, decision.unmet)})


def _tier_change(
    member: Member, decision: Decision, standing: Standing, now: datetime, actor: User | None, tiers: dict[int, Tier] | None = None
) -> TierChange:
    """Move the member to the decision's tier in memory and return the (unsaved) record of why."""
    tiers = tiers or _tiers_by_pk()
    current = TierRule.of(tiers[member.tier_id])
    measured = tiers[decision.target.tier_id] if decision.kind == PROMOTION else tiers[member.tier_id]
    reason = _reason_for(current, decision, standing, translated_param(measured, "name"))
    change = TierChange(
        member=member,
        kind=TierChangeKind.PROMOTION if decision.kind == PROMOTION else TierChangeKind.DEMOTION,
        from_tier_id=member.tier_id,
        to_tier_id=decision.target.tier_id,
        growth_value=standing.growth,
        actor=actor,
        created_at=now,
        **reason_fields(reason),
    )
    member.tier = tiers[decision.target.tier_id]
    member.tier_achieved_at = now
    return change


def _tiers_by_pk() -> dict[int, Tier]:
    # A handful of rows; read once per call of a service (a chunk of the evaluation reads them once).
    return {tier.pk: tier for tier in Tier.objects.all()}


@dataclass
class TierEvaluation:
    evaluated: int = 0
    promoted: int = 0
    demoted: int = 0
    assignments_ended: int = 0


def tiers_evaluate(*, now: datetime | None = None, chunk_size: int = 2000) -> TierEvaluation:
    """Refresh every active member's rolling growth value and apply the tier rules (``apps.members.tier_rules.decide``).

    Promotion: to the highest tier the member qualifies for (its growth threshold and every further condition it
    sets); normally already done by ``growth_add``, this catches figures that changed otherwise (spend, RFM segment,
    growth leaving the window). Demotion — the grace rule: a tier is guaranteed for ``TIER_GUARANTEE_DAYS`` from when
    it was reached; at the first evaluation after that, a member who no longer qualifies for it moves down one tier,
    and the guarantee starts again. A member staff assigned is never demoted before the assignment's end date.
    Runs a chunk of members per transaction, in primary-key order, with one query per metric per chunk; safe to
    re-run and to interrupt.
    """
    now = now or timezone.now()
    rules = tier_rules()
    tiers = _tiers_by_pk()
    result = TierEvaluation()
    last_pk = 0
    while True:
        with transaction.atomic():
            members = lock_active_members_after(member_id=last_pk, limit=chunk_size)
            if not members:
                return result
            figures = standings([member.pk for member in members], rules, now)
            stored = dict(GrowthValue.objects.filter(member__in=members).values_list("member_id", "value"))
            changes, dirty, grown = [], [], {}
            for member in members:
                member.tier = tiers[member.tier_id]
                standing = figures[member.pk]
                decision = decide(member, rules, standing, now)
                if standing.growth != stored.get(member.pk, 0):
                    grown[member.pk] = standing.growth
                if decision.kind:
                    changes.append(_tier_change(member, decision, standing, now, None, tiers))
                    if decision.kind == PROMOTION:
                        result.promoted += 1
                    elif decision.kind == ASSIGNMENT_ENDED:
                        result.assignments_ended += 1
                    else:
                        result.demoted += 1
                if decision.ends_assignment:
                    member.tier_assigned_until = None
                # Only a change of the member's record (tier, assignment) rewrites it and moves updated_at; a growth value
                # alone is stored beside it.
                if decision.kind or decision.ends_assignment:
                    member.updated_at = now
                    dirty.append(member)
            _store_growth_values(members, grown)
            TierChange.objects.bulk_create(changes)
            outbox_emit_many(events=tier_events(changes), types=[EventType.TIER_CHANGED])
            Member.objects.bulk_update(dirty, ["tier", "tier_achieved_at", "tier_assigned_until", "updated_at"])
            result.evaluated += len(members)
            last_pk = members[-1].pk


def _check_tiers(tiers: Sequence[Tier]) -> None:
    """The rules a set of tiers must keep together; ``tiers`` is every tier as it would be saved."""
    ordered = sorted(tiers, key=lambda tier: tier.rank)
    ranks = [tier.rank for tier in ordered]
    for tier in ordered:
        if ranks.count(tier.rank) > 1:
            raise ApplicationError("duplicate_rank", _("Another tier already has this rank."), fields={"rank": tier.rank})
    lowest = ordered[0]
    if lowest.threshold != 0:
        raise ApplicationError(
            "invalid_threshold", _("The lowest tier must have a threshold of 0."), fields={"threshold": lowest.threshold}
        )
    if lowest.invitation_only or TierRule.of(lowest).metrics:
        raise ApplicationError(
            "lowest_tier_conditions",
            _("The lowest tier is where every member starts: it cannot be invitation-only or have further conditions."),
            fields={"invitation_only" if lowest.invitation_only else "min_purchases": lowest.code},
        )
    earned = [tier for tier in ordered if not tier.invitation_only]
    for lower, higher in pairwise(earned):
        if higher.threshold <= lower.threshold:
            raise ApplicationError(
                "invalid_threshold",
                _("Thresholds must rise with rank: %(higher)s needs more growth value than %(lower)s.")
                % {"higher": higher, "lower": lower},
                fields={"threshold": higher.threshold, "tier": higher.code},
            )
    for tier in ordered:
        if tier.min_spend is not None and tier.min_spend < 0:
            raise ApplicationError(
                "invalid_spend", _("The spend condition cannot be negative."), fields={"min_spend": str(tier.min_spend), "tier": tier.code}
            )
        segments = tier.rfm_segments or []
        if not isinstance(segments, list) or not all(isinstance(code, str) for code in segments):
            raise ApplicationError(
                "invalid_rfm_segments", _("RFM segments must be a list of segment codes."), fields={"rfm_segments": segments}
            )
        known = {code for code, _label in metric_choices(RFM_SEGMENT)}
        if unknown := sorted(set(segments) - known):
            raise ApplicationError(
                "invalid_rfm_segments",
                _("Unknown RFM segment: %(codes)s.") % {"codes": ", ".join(unknown)},
                fields={"rfm_segments": unknown},
            )
        if missing := sorted(TierRule.of(tier).metrics - set(TIER_METRICS)):
            raise ApplicationError(
                "condition_unavailable",
                _("No figures are available for this condition: %(names)s.") % {"names": ", ".join(missing)},
                fields={missing[0]: tier.code},
            )


@transaction.atomic
def tier_save(*, tier: Tier, actor: User | None = None, alongside: Sequence[Tier] = ()) -> Tier:
    """Create or edit a tier: its growth threshold, further conditions (purchases, spend, RFM segments) and whether it
    is invitation-only. ``alongside``: other tiers as they are about to be saved too (the what-if page saves every
    tier's thresholds together), checked instead of their stored rows.

    The lowest tier stays at threshold 0 with no further condition so every member has a tier; thresholds rise with
    rank among the tiers members earn (invitation-only tiers are given, not earned, so their threshold is not compared).
    """
    if tier.min_spend is not None and tier.min_spend < 0:
        raise ApplicationError("invalid_spend", _("The spend condition cannot be negative."), fields={"min_spend": str(tier.min_spend)})
    replaced = {other.pk: other for other in alongside if other.pk and other.pk != tier.pk}
    others = [replaced.get(other.pk, other) for other in Tier.objects.exclude(pk=tier.pk)] if tier.pk else list(Tier.objects.all())
    if any(other.rank == tier.rank for other in others):
        raise ApplicationError("duplicate_rank", _("Another tier already has this rank."), fields={"rank": tier.rank})
    everything = [*others, tier]
    lowest = min(everything, key=lambda other: other.rank)
    if lowest is tier and tier.threshold != 0:
        raise ApplicationError("invalid_threshold", _("The lowest tier must have a threshold of 0."), fields={"threshold": tier.threshold})
    if not tier.invitation_only and any(
        not other.invitation_only
        and (
            (other.rank < tier.rank and other.threshold >= tier.threshold) or (other.rank > tier.rank and other.threshold <= tier.threshold)
        )
        for other in others
    ):
        raise ApplicationError("invalid_threshold", _("Thresholds must rise with rank."), fields={"threshold": tier.threshold})
    _check_tiers(everything)
    tier._history_user = actor
    tier.save()
    return tier


@dataclass(frozen=True)
class TierThresholds:
    """New thresholds and conditions for one tier, as the what-if page proposes them."""

    tier_id: int
    threshold: int
    min_purchases: int | None = None
    min_spend: Any = None
    rfm_segments: tuple[str, ...] = ()


@transaction.atomic
def tiers_save_thresholds(*, thresholds: Sequence[TierThresholds], actor: User) -> list[Tier]:
    """Save the thresholds and conditions of several tiers at once (the what-if page), each through ``tier_save``,
    checked together: a set that is valid as a whole is saved even when a tier taken alone would clash with another's
    old threshold. Returns the tiers whose values changed."""
    tiers = {tier.pk: tier for tier in lock_tiers()}
    changed = []
    for proposal in thresholds:
        tier = tiers.get(proposal.tier_id)
        if tier is None:
            raise ApplicationError("unknown_tier", _("No such tier."), fields={"tier_id": proposal.tier_id}, http_status=404)
        new = {
            "threshold": proposal.threshold,
            "min_purchases": proposal.min_purchases,
            "min_spend": proposal.min_spend,
            "rfm_segments": list(proposal.rfm_segments),
        }
        if any(getattr(tier, name) != value for name, value in new.items()):
            for name, value in new.items():
                setattr(tier, name, value)
            changed.append(tier)
    for tier in changed:
        tier_save(tier=tier, actor=actor, alongside=list(tiers.values()))
    return changed


@transaction.atomic
def tier_assign(*, member: Member, tier: Tier, reason: str, ends_at: datetime, actor: User) -> TierAssignment:
    """Staff put a member on a tier (an invitation-only one such as brand ambassador, or any other) until ``ends_at``.

    The member moves to the tier at once; the nightly evaluation does not demote them before ``ends_at`` (a higher tier
    they qualify for still promotes them, which ends the assignment); afterwards the normal rules apply. The tier
    history and the assignment record who did it, why and until when.
    """
    if not actor.has_perm("members.assign_tier"):
        raise ApplicationError("permission_denied", _("You may not assign members to tiers."), http_status=403)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("reason_required", _("A reason is required."), fields={"reason": ""})
    now = timezone.now()
    if ends_at is None or ends_at <= now:
        raise ApplicationError("invalid_end_date", _("The end date must be in the future."), fields={"ends_at": str(ends_at)})
    member = lock_member(member_id=member.pk)
    if member.status != MemberStatus.ACTIVE:
        raise ApplicationError(
            "member_not_active", _("The member's account is %(status)s.") % {"status": member.get_status_display()}, http_status=409
        )
    tier = Tier.objects.get(pk=tier.pk)
    from_tier_id = member.tier_id
    until = formats.date_format(timezone.localtime(ends_at), "Y-m-d")
    change_reason = Reason("tier_assigned", {"tier": translated_param(tier, "name"), "until": until, "reason": reason[:150]})
    TierChange.objects.create(
        member=member,
        kind=TierChangeKind.ASSIGNMENT,
        from_tier_id=from_tier_id,
        to_tier=tier,
        growth_value=member.growth_value,
        actor=actor,
        created_at=now,
        **reason_fields(change_reason),
    )
    member.tier = tier
    member.tier_achieved_at = now
    member.tier_assigned_until = ends_at
    member._history_user = actor
    member.save(update_fields=["tier", "tier_achieved_at", "tier_assigned_until", "updated_at"])
    assignment = TierAssignment(
        member=member, tier=tier, from_tier_id=from_tier_id, reason=reason[:255], ends_at=ends_at, assigned_by=actor, created_at=now
    )
    assignment._history_user = actor
    assignment.save()
    return assignment


def tier_keep_on_merge(*, survivor: Member, merged: Member, actor: User, now: datetime) -> TierChange | None:
    """The agent chose the merged member's tier for the survivor (both locked by the merge): the survivor takes it with
    the date it was reached and any staff assignment's end, so the guarantee and the evaluation go on as for the merged
    member; the tier history says why."""
    if survivor.tier_id == merged.tier_id:
        return None
    tier = Tier.objects.get(pk=merged.tier_id)
    change = TierChange.objects.create(
        member=survivor,
        kind=TierChangeKind.ASSIGNMENT,
        from_tier_id=survivor.tier_id,
        to_tier=tier,
        growth_value=survivor.growth_value,
        actor=actor,
        created_at=now,
        **reason_fields(Reason("tier_kept_on_merge", {"tier": translated_param(tier, "name"), "member": merged.pk})),
    )
    survivor.tier = tier
    survivor.tier_achieved_at = merged.tier_achieved_at
    survivor.tier_assigned_until = merged.tier_assigned_until
    survivor.save(update_fields=["tier", "tier_achieved_at", "tier_assigned_until", "updated_at"])
    outbox_emit_many(events=tier_events([change]), types=[EventType.TIER_CHANGED])
    return change
